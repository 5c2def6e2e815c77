import type { Command } from "commander";
import { convertBundle, DEFAULT_TOP_K, ParityFailure } from "../convert/convert-bundle.js";
import { DEFAULT_TOLERANCE } from "../convert/parity-check.js";
import { DATA_FORMATS, type DataFormat } from "../data/readers.js";
import { BACKEND_PREFERENCES, type BackendPreference } from "../model/backend.js";
import { DEFAULT_OPSET } from "../onnx/writer.js";
import { type CommandContext } from "./common.js";
import { int, list, number, oneOf, paritySequences } from "../util/parse.js";

export function registerConvert(program: Command, ctx: CommandContext): void {
  program
    .command("convert")
    .description("export a bundle's model to ONNX (model.onnx) and prove it scores like the trained model in onnxruntime")
    .requiredOption("--bundle <dir>", "bundle folder written by train")
    .option("--opset <n>", "ONNX opset, 17 to 21", String(DEFAULT_OPSET))
    .option("--top-k <k>", `length of the top_items / top_scores outputs (default ${DEFAULT_TOP_K}, at most the number of items)`)
    .option("--max-abs-diff <x>", "parity: largest allowed |tfjs − onnxruntime|", String(DEFAULT_TOLERANCE.maxAbsDiff))
    .option(
      "--min-top10-agreement <f>",
      "parity: smallest fraction of sequences with the same top 10",
      String(DEFAULT_TOLERANCE.minTop10Agreement),
    )
    .option("--external-data-threshold <bytes>", "put initializers of at least this many bytes in model.onnx.data (default: inline)")
    .option("--data <file>", "interaction log to take real validation histories from for the parity check (normally the training data)")
    .option("--format <format>", `format of --data: ${DATA_FORMATS.join(", ")}`, "auto")
    .option("--user-col <name>", "user column/field of --data", "user")
    .option("--item-col <name>", "item column/field of --data", "item")
    .option("--time-col <name>", "timestamp column/field of --data")
    .option("--event-col <name>", "event-type column/field of --data")
    .option("--event-filter <list>", "comma-separated event types to keep from --data")
    .option("--parity-sequences <n|all>", "real validation histories in the parity check, spread over their lengths", "1000")
    .option("--backend <name>", `tfjs backend for the reference model: ${BACKEND_PREFERENCES.join(", ")}`, "auto")
    .option("--report <file>", "write the step's report as JSON (also when the parity check fails)")
    .action(async (o: Record<string, string | undefined>) => {
      try {
        const report = await convertBundle({
          maxRealSequences: paritySequences(o.paritySequences as string | undefined, "--parity-sequences"),
          bundle: String(o.bundle),
          opset: int(o.opset, "--opset"),
          topK: int(o.topK, "--top-k"),
          maxAbsDiff: number(o.maxAbsDiff, "--max-abs-diff"),
          minTop10Agreement: number(o.minTop10Agreement, "--min-top10-agreement"),
          externalDataThresholdBytes: int(o.externalDataThreshold, "--external-data-threshold"),
          ...(o.data
            ? {
                data: {
                  path: o.data,
                  format: oneOf(o.format, DATA_FORMATS, "--format") as DataFormat,
                  userColumn: o.userCol,
                  itemColumn: o.itemCol,
                  timeColumn: o.timeCol,
                  eventColumn: o.eventCol,
                  eventFilter: list(o.eventFilter),
                },
              }
            : {}),
          backend: oneOf(o.backend, BACKEND_PREFERENCES, "--backend") as BackendPreference,
          log: ctx.log,
        });
        await ctx.writeReport(o.report, report);
      } catch (error) {
        if (error instanceof ParityFailure) await ctx.writeReport(o.report, error.report);
        throw error;
      }
    });
}
