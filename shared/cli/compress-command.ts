import { writeFile } from "node:fs/promises";
import type { Command } from "commander";
import { compressBundle, CompressFailure } from "../compress/compress-bundle.js";
import { COMPRESS_OPTIONS, compressOptionsFrom } from "../compress/options.js";
import type { CompressReport } from "../compress/report.js";
import { compressSummaryMarkdown } from "../report/compress-summary.js";
import { OptionReader } from "../util/option-spec.js";
import { type CommandContext } from "./common.js";
import { cliSource, registerOptions } from "./options.js";

export function registerCompress(program: Command, ctx: CommandContext): void {
  const command = program
    .command("compress")
    .description(
      "build compressed ONNX variants of a bundle's model, measure size/latency/accuracy, and pick the best within an accuracy budget",
    );
  registerOptions(command, COMPRESS_OPTIONS).action(async (values: Record<string, unknown>) => {
    const o = new OptionReader(COMPRESS_OPTIONS, cliSource(COMPRESS_OPTIONS, values));
    const publish = async (report: CompressReport) => {
      await ctx.writeReport(o.text("report"), report);
      const markdown = compressSummaryMarkdown(report);
      const summary = o.text("summary");
      if (summary) await writeFile(summary, markdown);
      ctx.log.info(markdown);
    };
    try {
      await publish(await compressBundle({ ...compressOptionsFrom(o), log: ctx.log }));
    } catch (error) {
      if (error instanceof CompressFailure) await publish(error.report);
      throw error;
    }
  });
}
