import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { tuneHtml, tuneMarkdown } from "../report/tune-summary.js";
import { childTrialLauncher, planSearch, tuneLocal } from "../tune/local.js";
import { TUNE_OPTIONS, trialInputs, tuneOptionsFrom, type TuneOptions } from "../tune/options.js";
import { selectRung, type TuneReport } from "../tune/select.js";
import { LocalTuneStore } from "../tune/store.js";
import { runTrial } from "../tune/trial.js";
import { flagOf, OptionReader, type OptionSource } from "../util/option-spec.js";
import type { CommandContext } from "./common.js";
import { cliSource, registerOptions } from "./options.js";

/** The flags a local search hands on to each trial process: how to read the log and train. */
const FORWARDED = [
  "data",
  "format",
  "user-column",
  "item-column",
  "time-column",
  "event-column",
  "event-filter",
  "k-core",
  "eval-users",
  "backend",
];

function forwardedFlags(source: OptionSource): string[] {
  return FORWARDED.flatMap((name) => {
    const value = source.get(name);
    const spec = TUNE_OPTIONS.find((s) => s.name === name)!;
    return value === undefined ? [] : [`--${flagOf(spec)}`, value];
  });
}

async function writeReports(ctx: CommandContext, o: OptionReader, report: TuneReport): Promise<void> {
  await ctx.writeReport(o.text("report"), report);
  const html = o.text("html");
  if (html) await writeFile(html, tuneHtml(report));
  const markdown = o.text("markdown");
  if (markdown) await writeFile(markdown, tuneMarkdown(report));
  const best = report.best;
  ctx.log.info(
    report.done && best
      ? `winner ${best.trial}: ${report.objectiveLabel.split(",")[0]} ${best.metric.toFixed(4)}` +
          (report.default ? ` (default ${report.default.metric.toFixed(4)})` : "") +
          `\n${best.config.trimEnd() || "# train-model's defaults"}`
      : `rung ${report.selectedRung} selected; next: ${report.matrix?.include.map((m) => m.trial).join(", ")}`,
  );
}

async function runMode(options: TuneOptions, o: OptionReader, source: OptionSource, ctx: CommandContext): Promise<void> {
  const work = resolve(options.work);
  const storeDir = options.store ?? join(work, "store");
  const c = { name: options.name, store: new LocalTuneStore(storeDir), work, log: ctx.log };
  if (options.mode === "plan") {
    const { matrix } = await planSearch({ ...c, ...options.planSettings() });
    process.stdout.write(`${JSON.stringify(matrix)}\n`);
  } else if (options.mode === "trial") {
    const { data, trial } = trialInputs(options, o.where.bind(o));
    const result = await runTrial({ ...options, ...c, data, trial });
    await ctx.writeReport(o.text("report"), result);
  } else if (options.mode === "select") {
    await writeReports(ctx, o, await selectRung({ ...c, rung: options.rung }));
  } else {
    trialInputs(options, o.where.bind(o));
    const command = [process.execPath, ...process.execArgv, process.argv[1]];
    const launch = childTrialLauncher({ command, forwarded: forwardedFlags(source), name: options.name, store: storeDir });
    const report = await tuneLocal({ ...options, ...options.planSettings(), ...c, launch });
    await writeReports(ctx, o, report);
  }
}

export function registerTune(program: Command, ctx: CommandContext): void {
  const command = program
    .command("tune")
    .description(
      "search model/training settings: successive halving over quasi-random trials, on this machine or as plan/trial/select jobs",
    );
  registerOptions(command, TUNE_OPTIONS).action(async (values: Record<string, unknown>) => {
    const source = cliSource(TUNE_OPTIONS, values);
    const o = new OptionReader(TUNE_OPTIONS, source);
    await runMode(tuneOptionsFrom(o), o, source, ctx);
  });
}
