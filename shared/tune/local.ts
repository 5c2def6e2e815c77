import { spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { usableCores } from "../util/cpu-budget.js";
import { formatDuration } from "../util/format.js";
import { epochList, fitRungs, laterRungsMinutes, makePlan } from "./plan.js";
import type { BudgetFit, Pace, PlanOptions, Rung, TunePlan } from "./plan.js";
import { RecshipError } from "../errors.js";
import { ashaState, nextAshaJob, startAshaJob, type AshaJob, type Schedule } from "./asha.js";
import { finishedReport, firstMatrix, selectRung, type TuneReport } from "./select.js";
import { entryNames, getJson, putJson } from "./store.js";
import type { RungMembers, StoreContext, TrialResult } from "./trial.js";

/** plan: makes the search's plan, stores it for the trial and select jobs; the first rung's matrix. */
export async function planSearch(
  o: Omit<PlanOptions, "name"> & StoreContext,
): Promise<{ plan: TunePlan; matrix: ReturnType<typeof firstMatrix> }> {
  const plan = makePlan(o);
  await putJson(o.store, entryNames.plan(o.name), plan, o.work);
  const sizes = plan.rungs.map(
    (r, i) => `rung ${i}: ${i === 0 ? plan.trials.length : `${plan.rungs[i - 1].promote} (+ the default)`} to epoch ${r.epochs}`,
  );
  o.log.info(
    `search "${plan.name}": ${plan.trials.length} trials (${plan.sampler}, seed ${plan.seed}), eta ${plan.eta}; ${sizes.join("; ")}`,
  );
  return { plan, matrix: firstMatrix(plan) };
}

/** One trial job to run: the launcher starts it (a child process in the CLI) and resolves when it has ended, however. */
interface TrialJob {
  trial: string;
  rung: number;
  /** Training worker threads for the trial (0: its main thread). */
  workers: number;
  maxMinutes?: number;
  /** The trial's own folder. */
  work: string;
}
export type TrialLauncher = (job: TrialJob) => Promise<void>;

export interface LocalTuneOptions extends Omit<PlanOptions, "name">, StoreContext {
  /** Trials at a time (capped by the usable cores: a trial with W training workers counts W). */
  parallel: number;
  /** sha (default): rung by rung, as the matrix jobs run; asha: asynchronous promotions (asha.ts). */
  schedule?: Schedule;
  /** Training workers per trial (default: the cores shared among `parallel` trials; below 2 each, the trial's main thread). */
  workers?: number;
  /** Wall-clock budget of the whole search: a trial that would start after it is not run (select records it). */
  budgetMinutes?: number;
  launch: TrialLauncher;
  cores?: number;
  /** The clock the budget is kept by (default Date.now; tests give one that their trials move). */
  now?: () => number;
}

/** How many trials run at once, and with how many training workers each, within the cores. */
export function localSlots(parallel: number, workers: number | undefined, cores: number): { slots: number; workers: number } {
  const w = workers ?? (Math.floor(cores / parallel) >= 2 ? Math.floor(cores / parallel) : 0);
  return { slots: Math.max(1, Math.min(parallel, Math.floor(cores / Math.max(1, w)))), workers: w };
}

async function runPool<T>(items: T[], slots: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await run(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(slots, items.length) }, lane));
}

/**
 * The local mode: plan → trials of a rung, `slots` at a time → select → the next rung, on this
 * machine, with the same store entries as the jobs of a workflow. Trials run as separate
 * processes (the launcher's): a crash is recorded and the search goes on.
 */
export async function tuneLocal(o: LocalTuneOptions): Promise<TuneReport> {
  const now = o.now ?? Date.now;
  const started = now();
  const deadline = o.budgetMinutes ? started + o.budgetMinutes * 60_000 : undefined;
  const cores = o.cores ?? usableCores();
  const { slots, workers } = localSlots(o.parallel, o.workers, cores);
  if (slots < o.parallel)
    o.log.warn(`--parallel ${o.parallel} with ${workers} training workers a trial exceeds ${cores} cores: ${slots} at a time`);
  const planned = await planSearch(o);
  let plan = planned.plan;
  if (o.schedule === "asha") {
    const report = await finishedReport({ ...o, rung: await runAsha(o, plan, { slots, workers, deadline, now }) });
    o.log.info(`search "${plan.name}" (asynchronous) done in ${formatDuration((now() - started) / 1000)}`);
    return report;
  }
  let include = planned.matrix.include;
  for (let rung = 0; ; rung++) {
    const skipped: string[] = [];
    await runPool(include, slots, async ({ trial }) => {
      const left = minutesLeft(deadline, now);
      if (left === "over") return void skipped.push(trial);
      o.log.info(`trial ${trial}, rung ${rung} (up to epoch ${plan.rungs[rung].epochs}) started`);
      await o.launch({ trial, rung, workers, maxMinutes: left, work: resolve(o.work, "trials", trial) });
    });
    if (skipped.length > 0) o.log.warn(`the budget ran out: ${skipped.join(", ")} not run on rung ${rung}`);
    if (rung > 0 && skipped.length === include.length) return finishedReport({ ...o, rung: rung - 1 });
    const report = await selectRung({ ...o, rung });
    if (report.done || !report.matrix) {
      o.log.info(`search "${plan.name}" done in ${formatDuration((now() - started) / 1000)}`);
      return report;
    }
    include = report.matrix.include;
    if (deadline !== undefined) plan = await fitToBudget(o, plan, include, { rung, slots, minutes: (deadline - now()) / 60_000 });
  }
}

/**
 * The pace of trials from their results of one rung whose jobs started at epoch `from`: the
 * trainer's seconds an epoch (training and validation; on average and the slowest) and the rest
 * of a job's seconds, averaged (a result without epoch timing counts its whole time as epochs);
 * undefined when none finished.
 */
export function rungPace(results: (TrialResult | undefined)[], from: number): Pace | undefined {
  const jobs = results
    .filter((r): r is TrialResult => r?.status === "ok")
    .map((r) => ({ seconds: r.seconds, trained: (r.epochsTrained ?? r.epochs) - from, epochSeconds: r.epochSeconds }))
    .filter((j) => j.trained > 0);
  if (jobs.length === 0) return undefined;
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const perEpoch = jobs.map((j) => j.epochSeconds ?? j.seconds / j.trained);
  return {
    secondsPerEpoch: mean(perEpoch),
    slowestSecondsPerEpoch: Math.max(...perEpoch),
    secondsPerJob: mean(jobs.map((j, i) => Math.max(0, j.seconds - perEpoch[i] * j.trained))),
  };
}

/**
 * The share of the minutes left that the later rungs are fitted to: a machine's speed drifts by
 * several percent within minutes (a rung's pace is the rung before's), and a rung that overruns
 * the budget is cut short (in a Beauty search the last rung, fitted to the whole 24 minutes left
 * at the pace of the rung before, ran 10 % slower and was cut within its last epoch).
 */
const FIT_SHARE = 0.9;

/**
 * After each rung but the last: refits the later rungs to the minutes left at the pace the
 * trials going on had on it (the best are often the larger, slower models): lowered when they
 * will not fit, raised back towards the plan's when an earlier fit took more than needed
 * (fitRungs), and stores the plan so (the trials and select read it), saying so. A cosine trial
 * keeps the curve it started on (its checkpoint is tied to it).
 */
async function fitToBudget(
  o: LocalTuneOptions,
  plan: TunePlan,
  goingOn: { trial: string }[],
  at: { rung: number; slots: number; minutes: number },
) {
  const results = await Promise.all(
    goingOn.map(({ trial }) => getJson<TrialResult>(o.store, entryNames.result(o.name, trial, at.rung), o.work)),
  );
  const pace = rungPace(results, at.rung > 0 ? plan.rungs[at.rung - 1].epochs : 0);
  if (pace === undefined) return plan;
  const asked = plan.budgetFit?.asked ?? plan.rungs.map((r) => r.epochs);
  const fit = fitRungs(plan.rungs, pace, at.slots, at.minutes * FIT_SHARE, { done: at.rung, asked: asked[asked.length - 1] });
  if (epochList(fit.rungs) === epochList(plan.rungs)) return plan;
  const budgetFit = { asked, afterRung: at.rung, pace, fits: fit.fits };
  const fitted: TunePlan = { ...plan, rungs: fit.rungs, budgetFit };
  if (fit.fits && epochList(fit.rungs) === asked.join(", ")) delete fitted.budgetFit; // back to the rungs asked
  await putJson(o.store, entryNames.plan(o.name), fitted, o.work);
  o.log.warn(budgetFitMessage(plan.rungs, fit.rungs, budgetFit, at));
  return fitted;
}

/** The log's line on a refit: at what pace, what the rungs needed and what they now train to. */
function budgetFitMessage(
  before: Rung[],
  after: Rung[],
  { pace, afterRung, fits }: BudgetFit,
  at: { slots: number; minutes: number },
): string {
  const later = (rungs: Rung[]) => epochList(rungs.slice(afterRung + 1));
  const needed = laterRungsMinutes(before, pace, at.slots, afterRung);
  return (
    `at rung ${afterRung}'s pace of the trials going on (${Math.round(pace.secondsPerEpoch)} s an epoch a trial, ${Math.round(pace.secondsPerJob)} s a job besides) the later rungs need about ${Math.round(needed)} min and the budget leaves ${Math.round(at.minutes)}: ` +
    (fits
      ? `they now train to epochs ${later(after)} (not ${later(before)}), the default too`
      : `even epochs ${later(after)} do not fit, and the last rung's trials will stop early at the budget (fewer --trials or a larger --budget-minutes fit it)`)
  );
}

/** The search budget's minutes left for a trial starting now (undefined: no budget), or "over" when under 3 s are left. */
function minutesLeft(deadline: number | undefined, now: () => number): number | undefined | "over" {
  if (deadline === undefined) return undefined;
  const left = (deadline - now()) / 60_000;
  return left <= 0.05 ? "over" : left;
}

/** Adds a trial ASHA sent on to its rung's stored members (a trial job checks it is one). */
async function joinRung(o: LocalTuneOptions, members: RungMembers, job: AshaJob): Promise<void> {
  members.trials = [...members.trials, job.trial].sort();
  if (job.as === "promoted") members.promoted = [...members.promoted, job.trial].sort();
  else members.reference = job.trial;
  await putJson(o.store, entryNames.rung(o.name, members.rung), members, o.work);
}

/**
 * The asynchronous local mode: whenever a slot is free, ASHA's next job (asha.ts) starts in it;
 * a trial's stored result feeds the next choice. Returns the highest rung with a result.
 */
async function runAsha(
  o: LocalTuneOptions,
  plan: TunePlan,
  at: { slots: number; workers: number; deadline?: number; now: () => number },
): Promise<number> {
  const state = ashaState(plan);
  const members: RungMembers[] = plan.rungs.map((r) => ({ rung: r.rung, trials: [], promoted: [] }));
  const running = new Map<string, Promise<void>>();
  const run = async (job: AshaJob, maxMinutes: number | undefined) => {
    o.log.info(`trial ${job.trial}, rung ${job.rung} (up to epoch ${plan.rungs[job.rung].epochs}, ${job.as}) started`);
    await o.launch({ trial: job.trial, rung: job.rung, workers: at.workers, maxMinutes, work: resolve(o.work, "trials", job.trial) });
    const result = await getJson<TrialResult>(o.store, entryNames.result(o.name, job.trial, job.rung), o.work);
    state.results[job.rung].set(job.trial, result?.status === "ok" ? result.metric : undefined);
  };
  for (;;) {
    const left = minutesLeft(at.deadline, at.now);
    const job = running.size < at.slots && left !== "over" ? nextAshaJob(plan, state) : undefined;
    if (job && left !== "over") {
      startAshaJob(state, job);
      if (job.rung > 0) await joinRung(o, members[job.rung], job);
      const key = `${job.trial}/${job.rung}`;
      running.set(
        key,
        run(job, left).finally(() => running.delete(key)),
      );
      continue;
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  const notRun = plan.trials.length - state.nextNew;
  if (notRun > 0) o.log.warn(`the budget ran out: ${notRun} of ${plan.trials.length} trials not run`);
  const reached = state.results.findLastIndex((r) => [...r.values()].some((m) => m !== undefined));
  if (reached < 0) throw new RecshipError(`every trial of the search "${plan.name}" failed`, { fix: "read the trials' logs" });
  return reached;
}

/**
 * A launcher that runs each trial as `<command...> tune --mode trial ...` (the CLI re-running
 * itself), its output in `<trial folder>/r<rung>.log`.
 */
export function childTrialLauncher(c: { command: string[]; forwarded: string[]; name: string; store: string }): TrialLauncher {
  return async (job) => {
    const logFile = join(job.work, `r${job.rung}.log`);
    await mkdir(dirname(logFile), { recursive: true });
    const args = [
      ...c.command.slice(1),
      "tune",
      "--mode",
      "trial",
      ...["--name", c.name, "--store", c.store, "--work", job.work, "--trial", job.trial, "--rung", String(job.rung)],
      ...["--workers", String(job.workers)],
      ...(job.maxMinutes !== undefined ? ["--max-minutes", job.maxMinutes.toFixed(3)] : []),
      ...c.forwarded,
    ];
    const out = createWriteStream(logFile);
    await new Promise<void>((done) => {
      const child = spawn(c.command[0], args, { stdio: ["ignore", "pipe", "pipe"] });
      child.stdout.pipe(out, { end: false });
      child.stderr.pipe(out, { end: false });
      child.on("error", (error) => {
        out.write(`could not start the trial: ${error.message}\n`);
        done();
      });
      child.on("close", () => done());
    });
    await new Promise<void>((done) => out.end(done));
  };
}
