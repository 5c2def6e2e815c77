import type { Command } from "commander";
import { COMPRESS_DEFAULTS, compressBundle, CompressFailure } from "../compress/compress-bundle.js";
import { DISTILL_DEFAULTS } from "../compress/distill/distill-student.js";
import { OBJECTIVES } from "../compress/report.js";
import { DEFAULT_VARIANTS } from "../compress/variants.js";
import { DATA_FORMATS } from "../data/readers.js";
import { BACKEND_PREFERENCES } from "../model/backend.js";
import { compressSummaryMarkdown } from "../report/compress-summary.js";
import { compressOptionsFrom } from "../compress/options.js";
import { type CommandContext } from "./common.js";

/** Commander's camelCase option keys for the kebab-case names compressOptionsFrom asks for. */
const camel = (name: string) => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

export function registerCompress(program: Command, ctx: CommandContext): void {
  program
    .command("compress")
    .description(
      "build compressed ONNX variants of a bundle's model, measure size/latency/accuracy, and pick the best within an accuracy budget",
    )
    .requiredOption("--bundle <dir>", "bundle folder with model.onnx (after convert)")
    .option(
      "--methods <list>",
      `comma-separated variants; a variant is a method or methods joined by "+" (default: ${DEFAULT_VARIANTS.join(",")})`,
    )
    .option(
      "--max-ndcg-drop <x>",
      "accuracy budget: largest relative loss of validation NDCG@10 (0.01 = 1%)",
      String(COMPRESS_DEFAULTS.maxNdcgDrop),
    )
    .option("--objective <name>", `what to minimise within the budget: ${OBJECTIVES.join(" or ")}`, COMPRESS_DEFAULTS.objective)
    .option("--calibration <n>", "validation histories static quantization calibrates on", String(COMPRESS_DEFAULTS.calibration))
    .option("--percentile <p>", "central share (%) of activations int8-qdq-pct keeps", String(COMPRESS_DEFAULTS.percentile))
    .option("--threads <n>", "onnxruntime intra-op threads for every measurement", String(COMPRESS_DEFAULTS.threads))
    .option("--latency-repetitions <n>", "timed runs per model and batch size", String(COMPRESS_DEFAULTS.latencyRepetitions))
    .option("--sparsity <x>", "prune: share of each weight matrix set to zero", String(COMPRESS_DEFAULTS.sparsity))
    .option("--int4-block-size <n>", "emb-int4: values per 4-bit block", String(COMPRESS_DEFAULTS.int4BlockSize))
    .option(
      "--int4-accuracy-level <n>",
      "emb-int4: MatMulNBits accuracy level (0 float compute, 4 int8)",
      String(COMPRESS_DEFAULTS.int4AccuracyLevel),
    )
    .option(
      "--student-hidden <n>",
      "distill: train a dense student of this hidden size instead (default: the teacher's, with a product-quantized item table)",
    )
    .option("--student-blocks <n>", "distill: the student's blocks (default: the teacher's)")
    .option(
      "--student-subspaces <n>",
      "distill: subspaces of the student's product-quantized item table (it keeps the teacher's width and blocks; each item's row is one learned codeword per subspace; default hidden / 4)",
    )
    .option("--student-centroids <n>", "distill: codewords per subspace (default: as many as half the teacher's parameters allow)")
    .option("--distill-epochs <n>", "distill: most epochs", String(DISTILL_DEFAULTS.epochs))
    .option("--distill-minutes <n>", "distill: time budget for training", String(DISTILL_DEFAULTS.maxMinutes))
    .option(
      "--distill-alpha <x>",
      "distill: weight of the ground-truth loss (the rest matches the teacher's scores)",
      String(DISTILL_DEFAULTS.alpha),
    )
    .option(
      "--distill-learning-rate <x>",
      "distill: Adam learning rate (default 0.003 for a dense student; 0.001 for a quantized-table student, which starts from the teacher)",
    )
    .option("--keep <which>", "variants kept in the bundle: all or chosen", COMPRESS_DEFAULTS.keep)
    .option("--seed <n>", "seed of calibration, latency inputs and distillation (default: the bundle's training seed)")
    .option("--data <file>", "interaction log to evaluate on (default: the one bundle.json names)")
    .option("--format <format>", `format of --data: ${DATA_FORMATS.join(", ")}`, "auto")
    .option("--user-col <name>", "user column/field of --data")
    .option("--item-col <name>", "item column/field of --data")
    .option("--time-col <name>", "timestamp column/field of --data")
    .option("--event-col <name>", "event-type column/field of --data")
    .option("--event-filter <list>", "comma-separated event types to keep from --data")
    .option("--backend <name>", `tfjs backend for distillation: ${BACKEND_PREFERENCES.join(", ")}`, "auto")
    .option(
      "--workers <n>",
      "distillation's data-parallel training threads (default: one per usable core on wasm/cpu; 0 = the main thread)",
    )
    .option("--summary <file>", "also write the Markdown table to this file")
    .option("--report <file>", "write the step's report as JSON (also when no variant fits the budget)")
    .action(async (o: Record<string, string | undefined>) => {
      const alias: Record<string, string> = {
        "user-column": "userCol",
        "item-column": "itemCol",
        "time-column": "timeCol",
        "event-column": "eventCol",
      };
      const get = (name: string) => o[alias[name] ?? camel(name)];
      const writeSummary = async (markdown: string) => {
        if (o.summary) {
          const { writeFile } = await import("node:fs/promises");
          await writeFile(o.summary, markdown);
        }
      };
      try {
        const report = await compressBundle({ bundle: String(o.bundle), ...compressOptionsFrom(get, (n) => `--${n}`), log: ctx.log });
        await ctx.writeReport(o.report, report);
        const markdown = compressSummaryMarkdown(report);
        await writeSummary(markdown);
        ctx.log.info(markdown);
      } catch (error) {
        if (error instanceof CompressFailure) {
          await ctx.writeReport(o.report, error.report);
          const markdown = compressSummaryMarkdown(error.report);
          await writeSummary(markdown);
          ctx.log.info(markdown);
        }
        throw error;
      }
    });
}
