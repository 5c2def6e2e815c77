import { existsSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join, resolve, sep } from "node:path";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import type { ReadOptions } from "../data/readers.js";
import type { BackendPreference } from "../model/backend.js";
import type { EpochRecord } from "../model/trainer.js";
import type { MetricsBlock } from "../bundle/manifest.js";
import { trainModel, type TrainReport } from "../train/train-model.js";
import type { PlannedTrial, TunePlan } from "./plan.js";
import { configYaml } from "./space.js";
import { entryNames, getJson, putJson, type TuneStore } from "./store.js";

/** What one trial on one rung came to: stored for select, whichever way it ended. */
export interface TrialResult {
  trial: string;
  rung: number;
  epochs: number;
  status: "ok" | "failed";
  /** The objective: the kept weights' validation NDCG@10 by the plan's objective (absent when failed). */
  metric?: number;
  valid?: NdcgFigures;
  /** Recorded for the report (the winner's and the default's); never used to choose. */
  test?: NdcgFigures;
  epochsTrained?: number;
  bestEpoch?: number;
  stoppedBy?: string;
  seconds: number;
  /** The trainer's seconds an epoch (training and validation) over the epochs this job trained; the local search's pace. */
  epochSeconds?: number;
  error?: string;
}

export interface NdcgFigures {
  ndcg10: number;
  hr10: number;
  maskedNdcg10: number;
  maskedHr10: number;
}

export interface StoreContext {
  /** The search's name: the prefix of its entries in the store. */
  name: string;
  store: TuneStore;
  /** A folder for this process's files. */
  work: string;
  log: Logger;
}

export interface TrialOptions extends ReadOptions, StoreContext {
  data: string;
  kCore?: number;
  /** A seeded sample of users for the final evaluations (0 or absent: every user). */
  evalUsers?: number;
  backend?: BackendPreference;
  workers?: number;
  /** Wall-clock budget of this trial, in minutes. */
  maxMinutes?: number;
  trial: string;
  rung: number;
}

/** The search's plan from the store (plan's job must have run). */
export async function fetchPlan(c: StoreContext): Promise<TunePlan> {
  const plan = await getJson<TunePlan>(c.store, entryNames.plan(c.name), c.work);
  if (!plan) {
    throw new RecshipError(`no plan for the search "${c.name}" in ${c.store.description}`, {
      fix: "run mode plan first (with the same name), and give trial and select jobs `needs:` on it",
    });
  }
  if (plan.version !== 1 || !Array.isArray(plan.trials) || !Array.isArray(plan.rungs)) {
    throw new RecshipError(`the plan of the search "${c.name}" was written by another recship version`, { fix: "plan again" });
  }
  return plan;
}

/** The trials of a rung: every trial on the first, then those select promoted (and the reference). */
export async function rungMembers(c: StoreContext, plan: TunePlan, rung: number): Promise<RungMembers> {
  if (rung === 0) return { rung, trials: plan.trials.map((t) => t.id), promoted: [], reference: undefined };
  const members = await getJson<RungMembers>(c.store, entryNames.rung(c.name, rung), c.work);
  if (!members) {
    throw new RecshipError(`rung ${rung} of the search "${c.name}" has not been selected yet`, {
      fix: `run mode select with rung ${rung - 1} first`,
    });
  }
  return members;
}

export interface RungMembers {
  rung: number;
  trials: string[];
  /** The trials select promoted from the rung before (by the objective). */
  promoted: string[];
  /** The default configuration, carried on without being promoted so that it trains with the winner's budget. */
  reference?: string;
}

function plannedTrial(plan: TunePlan, id: string, rung: number): PlannedTrial {
  const trial = plan.trials.find((t) => t.id === id);
  if (!trial) throw new RecshipError(`the search "${plan.name}" has no trial "${id}"`, { fix: "take trial and rung from the matrix" });
  if (!(Number.isInteger(rung) && rung >= 0 && rung < plan.rungs.length)) {
    throw new RecshipError(`rung ${rung} is not a rung of the search "${plan.name}" (0 to ${plan.rungs.length - 1})`, {
      fix: "take trial and rung from the matrix",
    });
  }
  return trial;
}

function figures(block: MetricsBlock): NdcgFigures {
  const masked = block.fullMasked ?? block.full;
  return { ndcg10: block.full.ndcg10, hr10: block.full.hr10, maskedNdcg10: masked.ndcg10, maskedHr10: masked.hr10 };
}

/** The training of one trial up to its rung's epochs, from the previous rung's checkpoint. */
async function trainTrial(o: TrialOptions, plan: TunePlan, trial: PlannedTrial, dir: string): Promise<TrainReport> {
  const epochs = plan.rungs[o.rung].epochs;
  const checkpoint = join(dir, "checkpoint");
  await rm(checkpoint, { recursive: true, force: true });
  if (o.rung > 0 && !(await o.store.get(entryNames.checkpoint(o.name, o.trial, o.rung - 1), checkpoint))) {
    throw new RecshipError(`trial ${o.trial} left no checkpoint on rung ${o.rung - 1}`, { fix: "run the trial's earlier rung first" });
  }
  const config = { ...trial.config, train: { ...trial.config.train, epochs } };
  return o.log.group(`trial ${o.trial}, rung ${o.rung}: up to epoch ${epochs}`, () =>
    trainModel({
      ...o,
      out: join(dir, "bundle"),
      config: configYaml(config),
      overwrite: true,
      validate: false,
      checkpoint,
      resume: o.rung > 0,
      log: o.log,
    }),
  );
}

/**
 * One trial on one rung: trains its configuration to the rung's epochs (continuing from its
 * checkpoint of the rung before) and stores the result, and the checkpoint when a rung follows.
 * A training that fails is stored as a failed result: the search goes on without it.
 */
export async function runTrial(o: TrialOptions): Promise<TrialResult> {
  const started = Date.now();
  const plan = await fetchPlan(o);
  const trial = plannedTrial(plan, o.trial, o.rung);
  const members = await rungMembers(o, plan, o.rung);
  if (!members.trials.includes(o.trial)) {
    throw new RecshipError(`trial ${o.trial} was not promoted to rung ${o.rung}`, { fix: "take trial and rung from select's matrix" });
  }
  // a plain string join: ncc reads resolve(dynamic, template) as a path into the bundle and ships that folder
  const dir = `${resolve(o.work)}${sep}${o.trial}-r${o.rung}`;
  await mkdir(dir, { recursive: true });
  const base = { trial: o.trial, rung: o.rung, epochs: plan.rungs[o.rung].epochs };
  let result: TrialResult;
  try {
    const report = await trainTrial(o, plan, trial, dir);
    const valid = figures(report.validation);
    result = {
      ...base,
      status: "ok",
      metric: plan.objective === "masked" ? valid.maskedNdcg10 : valid.ndcg10,
      valid,
      test: figures(report.test),
      epochsTrained: report.epochs,
      bestEpoch: report.bestEpoch,
      stoppedBy: report.stoppedBy,
      seconds: (Date.now() - started) / 1000,
      ...epochTiming(report.history, o.rung > 0 ? plan.rungs[o.rung - 1].epochs : 0),
    };
    o.log.info(`trial ${o.trial}, rung ${o.rung}: validation NDCG@10 (${plan.objective}) ${result.metric!.toFixed(4)}`);
  } catch (error) {
    const message = (error as Error)?.message ?? String(error);
    o.log.warn(`trial ${o.trial}, rung ${o.rung} failed: ${message}`);
    result = { ...base, status: "failed", seconds: (Date.now() - started) / 1000, error: message };
  }
  await storeTrial(o, plan, result, dir);
  return result;
}

/** The mean seconds of the epochs after `from` (this job's), when it trained any. */
function epochTiming(history: EpochRecord[], from: number): { epochSeconds?: number } {
  const own = history.filter((h) => h.epoch > from);
  return own.length === 0 ? {} : { epochSeconds: own.reduce((sum, h) => sum + h.trainSeconds + h.validSeconds, 0) / own.length };
}

async function storeTrial(o: TrialOptions, plan: TunePlan, result: TrialResult, dir: string): Promise<void> {
  const checkpoint = join(dir, "checkpoint");
  if (result.status === "ok" && o.rung < plan.rungs.length - 1 && existsSync(join(checkpoint, "state.json"))) {
    await o.store.put(entryNames.checkpoint(o.name, o.trial, o.rung), checkpoint);
  }
  await putJson(o.store, entryNames.result(o.name, o.trial, o.rung), result, o.work);
  await writeFile(join(dir, "result.json"), `${JSON.stringify(result, null, 2)}\n`);
}
