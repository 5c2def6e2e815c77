import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { validateMarkdown } from "../report/validate-markdown.js";
import { OptionReader } from "../util/option-spec.js";
import { VALIDATE_OPTIONS, validateOptionsFrom } from "../validate/options.js";
import { invalidDataError } from "../data/quality/outcome.js";
import { validateData } from "../validate/validate-data.js";
import type { CommandContext } from "./common.js";
import { cliSource, registerOptions } from "./options.js";

export function registerValidate(program: Command, ctx: CommandContext): void {
  const command = program
    .command("validate")
    .description("validate-data: check an interaction log (schema, content, drift from the previous data) before it trains a model");
  registerOptions(command, VALIDATE_OPTIONS).action(async (values: Record<string, unknown>) => {
    const o = new OptionReader(VALIDATE_OPTIONS, cliSource(VALIDATE_OPTIONS, values));
    const report = await validateData({ ...validateOptionsFrom(o), log: ctx.log });
    const markdown = validateMarkdown(report);
    const markdownPath = o.text("markdown");
    if (markdownPath) await writeFile(markdownPath, markdown);
    else process.stdout.write(markdown);
    await ctx.writeReport(o.text("report"), report);
    if (!report.passed && o.boolean("fail-on-error")) throw invalidDataError(report);
  });
}
