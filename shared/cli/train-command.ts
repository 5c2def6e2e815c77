import type { Command } from "commander";
import { DATA_FORMATS, type DataFormat } from "../data/readers.js";
import { BACKEND_PREFERENCES, type BackendPreference } from "../model/backend.js";
import { LOSSES, type Loss } from "../model/config.js";
import { trainModel } from "../train/train-model.js";
import { gitInfo, type CommandContext } from "./common.js";
import { int, list, number, oneOf } from "../util/parse.js";

export function registerTrain(program: Command, ctx: CommandContext): void {
  program
    .command("train")
    .description("train a SASRec recommender on an interaction log and write a model bundle")
    .requiredOption("--data <file>", "interaction log (CSV/TSV with header, JSON Lines, pairs, seq; .gz ok)")
    .option("--format <format>", `one of ${DATA_FORMATS.join(", ")}`, "auto")
    .option("--user-col <name>", "user column/field (CSV, TSV, JSON Lines)", "user")
    .option("--item-col <name>", "item column/field", "item")
    .option("--time-col <name>", "timestamp column/field (default: file order is time order)")
    .option("--event-col <name>", "event-type column/field")
    .option("--event-filter <list>", "comma-separated event types to keep, e.g. purchase,add_to_cart")
    .option("--k-core <k>", "drop users and items with fewer than k interactions, repeatedly")
    .option("--config <yaml-or-file>", "model/train config: inline YAML or a YAML/JSON file")
    .option("--epochs <n>", "maximum epochs")
    .option("--max-minutes <m>", "wall-clock budget for the whole step")
    .option("--loss <loss>", `training loss: ${LOSSES.join(", ")}`)
    .option("--seed <n>", "random seed")
    .option("--backend <name>", `tfjs backend: ${BACKEND_PREFERENCES.join(", ")}`, "auto")
    .option("--workers <n>", "data-parallel training threads (default: one per usable core on wasm/cpu; 0 = the main thread)")
    .requiredOption("--out <dir>", "bundle folder to write")
    .option("--resume", "continue the interrupted run in <out>.partial exactly where it stopped")
    .option("--overwrite", "replace an existing bundle in --out (kept until the new one is complete)")
    .option("--report <file>", "write the step's report as JSON")
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const report = await trainModel({
        data: String(o.data),
        format: oneOf(o.format, DATA_FORMATS, "--format") as DataFormat,
        userColumn: o.userCol as string,
        itemColumn: o.itemCol as string,
        timeColumn: o.timeCol as string | undefined,
        eventColumn: o.eventCol as string | undefined,
        eventFilter: list(o.eventFilter),
        kCore: int(o.kCore, "--k-core"),
        config: o.config as string | undefined,
        overrides: {
          train: {
            ...(o.epochs !== undefined ? { epochs: int(o.epochs, "--epochs") } : {}),
            ...(o.seed !== undefined ? { seed: int(o.seed, "--seed") } : {}),
            ...(o.loss !== undefined ? { loss: oneOf(o.loss, LOSSES, "--loss") as Loss } : {}),
          },
        },
        maxMinutes: number(o.maxMinutes, "--max-minutes"),
        backend: oneOf(o.backend, BACKEND_PREFERENCES, "--backend") as BackendPreference,
        workers: int(o.workers, "--workers"),
        out: String(o.out),
        resume: Boolean(o.resume),
        overwrite: Boolean(o.overwrite),
        git: gitInfo(),
        log: ctx.log,
      });
      await ctx.writeReport(o.report as string | undefined, report);
    });
}
