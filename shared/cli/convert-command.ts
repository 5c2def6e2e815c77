import type { Command } from "commander";
import { convertBundle, ParityFailure } from "../convert/convert-bundle.js";
import { CONVERT_OPTIONS, convertOptionsFrom } from "../convert/options.js";
import { OptionReader } from "../util/option-spec.js";
import { type CommandContext } from "./common.js";
import { cliSource, registerOptions } from "./options.js";

export function registerConvert(program: Command, ctx: CommandContext): void {
  const command = program
    .command("convert")
    .description("export a bundle's model to ONNX (model.onnx) and prove it scores like the trained model in onnxruntime");
  registerOptions(command, CONVERT_OPTIONS).action(async (values: Record<string, unknown>) => {
    const o = new OptionReader(CONVERT_OPTIONS, cliSource(CONVERT_OPTIONS, values));
    const reportPath = o.text("report");
    try {
      await ctx.writeReport(reportPath, await convertBundle({ ...convertOptionsFrom(o), log: ctx.log }));
    } catch (error) {
      if (error instanceof ParityFailure) await ctx.writeReport(reportPath, error.report);
      throw error;
    }
  });
}
