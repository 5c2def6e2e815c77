import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { LocalBaselineStore } from "../cache/local-baseline-store.js";
import { DATA_FORMATS, type DataFormat } from "../data/readers.js";
import { RecshipError } from "../errors.js";
import { gateWithBaseline } from "../gate/pipeline.js";
import { loadRules } from "../gate/rules.js";
import { gateMarkdown } from "../report/gate-markdown.js";
import { gitInfo, type CommandContext } from "./common.js";
import { int, list, oneOf } from "../util/parse.js";

/** The gate's verdict as an exit status: a regression is not a crash, but it must fail the command. */
export class GateFailed extends RecshipError {}

export function registerGate(program: Command, ctx: CommandContext): void {
  program
    .command("gate")
    .description("benchmark-gate: compare a candidate model with a baseline on the test split; fail on a real regression, pass on noise")
    .requiredOption("--candidate <dir>", "candidate bundle folder (with model.onnx from convert)")
    .option("--candidate-model <file>", "candidate ONNX file (default: a compressed variant marked chosen, else model.onnx)")
    .option("--baseline <dir>", "baseline bundle or stored-baseline folder (default: the newest in --baseline-store, else none: first run)")
    .option("--baseline-model <file>", "baseline ONNX file (default: as for the candidate)")
    .requiredOption("--data <file>", "evaluation data: the interaction log (its leave-one-out test split is used)")
    .option("--format <format>", `one of ${DATA_FORMATS.join(", ")} (default: from the file name, else as the candidate was trained)`)
    .option("--user-col <name>", "user column/field (default: as the candidate was trained)")
    .option("--item-col <name>", "item column/field (default: as the candidate was trained)")
    .option("--time-col <name>", "timestamp column/field")
    .option("--event-col <name>", "event-type column/field")
    .option("--event-filter <list>", "comma-separated event types to keep")
    .option("--k-core <k>", "k-core filter before the split (default: as the candidate was trained)")
    .option(
      "--rules <yaml-or-file>",
      "gate rules: inline YAML or a YAML/JSON file (defaults: NDCG@10 and HR@10 critical with a 1% margin, ...)",
    )
    .option("--exclude-seen", "full ranking: mask the user's history items (default: only padding, the datasets' protocol)")
    .option("--seed <n>", "seed of the sampled negatives and the bootstrap (overrides the rules)")
    .option("--resamples <n>", "bootstrap resamples (overrides the rules)")
    .option("--no-latency", "skip the latency comparison")
    .option("--threads <n>", "onnxruntime intra-op threads (default: one per core)")
    .option("--batch-size <n>", "histories per onnxruntime run during evaluation", "256")
    .option("--baseline-store <dir>", "local folder of stored baselines (per model name and branch)")
    .option("--model-name <name>", "model name the baseline is stored under", "default")
    .option("--branch <name>", "branch to restore (and save) the baseline for (default: the current git branch)")
    .option("--save-baseline", "store the candidate in --baseline-store as the new baseline when the gate passes")
    .option("--require-baseline", "fail when there is no baseline instead of passing as a first run")
    .option("--skip-bundle-checksums", "run bundles edited on purpose, whose files differ from the sha256s bundle.json records")
    .option("--report <file>", "write the report as JSON")
    .option("--markdown <file>", "write the report as Markdown (default: printed to stdout)")
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const rules = loadRules(o.rules as string | undefined);
      if (o.excludeSeen) rules.protocol.excludeSeen = true;
      if (o.seed !== undefined) rules.seed = int(o.seed, "--seed")!;
      if (o.resamples !== undefined) {
        const r = int(o.resamples, "--resamples")!;
        if (r < 1000) throw new RecshipError(`--resamples must be at least 1000, got ${r}`);
        rules.resamples = r;
      }
      if (o.latency === false) rules.latency.enabled = false;
      if (o.saveBaseline && !o.baselineStore) throw new RecshipError("--save-baseline needs --baseline-store <dir>");
      const branch = (o.branch as string | undefined) ?? gitInfo()?.ref ?? "main";
      const work = await mkdtemp(join(tmpdir(), "recship-gate-"));
      try {
        const outcome = await gateWithBaseline({
          candidate: String(o.candidate),
          candidateModel: o.candidateModel as string | undefined,
          baseline: o.baseline as string | undefined,
          baselineModel: o.baselineModel as string | undefined,
          data: String(o.data),
          read: {
            format: o.format ? (oneOf(o.format, DATA_FORMATS, "--format") as DataFormat) : undefined,
            userColumn: o.userCol as string | undefined,
            itemColumn: o.itemCol as string | undefined,
            timeColumn: o.timeCol as string | undefined,
            eventColumn: o.eventCol as string | undefined,
            eventFilter: list(o.eventFilter),
          },
          kCore: int(o.kCore, "--k-core"),
          rules,
          modelName: String(o.modelName),
          threads: int(o.threads, "--threads"),
          batchSize: int(o.batchSize, "--batch-size"),
          verifyChecksums: !o.skipBundleChecksums,
          store: o.baselineStore ? new LocalBaselineStore(String(o.baselineStore)) : undefined,
          compareBranches: [branch],
          save: o.saveBaseline ? { branch } : undefined,
          requireBaseline: Boolean(o.requireBaseline),
          commit: gitInfo()?.sha,
          workDir: work,
          log: ctx.log,
        });
        const markdown = gateMarkdown(outcome.report, { maxChars: 1_000_000 });
        if (o.markdown) await writeFile(String(o.markdown), markdown);
        else process.stdout.write(markdown);
        await ctx.writeReport(o.report as string | undefined, outcome.report);
        if (!outcome.report.passed) {
          throw new GateFailed(`the candidate regresses: ${outcome.report.failures.join("; ")}`, {
            fix: "see the report; if the change is intended, widen the margin in the gate rules or bless the candidate as the new baseline",
          });
        }
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
}
