import { RecshipError } from "../errors.js";
import type { ConfigOverrides, TrainConfig } from "../model/config.js";
import { unitPoints, valuesAt, type Sampler } from "./sampler.js";
import { trialConfig, trialOverrides, type ParamValues, type SearchSpace } from "./space.js";

export interface PlannedTrial {
  id: string;
  /** The default configuration (the space's shared settings alone): carried to every rung as the reference. */
  isDefault: boolean;
  values: ParamValues;
  /** train-model's config for the trial (its epochs are the rung's). */
  config: ConfigOverrides;
}

export interface Rung {
  rung: number;
  /** Epochs trained by the end of the rung (a promoted trial continues from its previous rung's checkpoint). */
  epochs: number;
  /** How many of the rung's trials go on to the next (0 on the last rung). */
  promote: number;
}

/** Which validation NDCG@10 ranks trials: the one train-model selects its epochs by (train.selectBy). */
export type Objective = "masked" | "full";

export interface TunePlan {
  version: 1;
  name: string;
  seed: number;
  sampler: Sampler;
  eta: number;
  objective: Objective;
  space: string;
  rungs: Rung[];
  trials: PlannedTrial[];
  /** Set when the local search lowered the later rungs to fit its budget (fitRungs): what was asked, at what pace. */
  budgetFit?: { maxEpochs: number; pace: Pace; fits: boolean };
}

export interface PlanOptions {
  name: string;
  space: SearchSpace;
  /** Trials on the first rung, the default configuration included. */
  trials: number;
  /** Successive halving's reduction factor: 1/eta of a rung's trials go on, with eta times the epochs. */
  eta: number;
  /** Epochs of the last rung. */
  maxEpochs: number;
  /** Rungs (default: as many as halving `trials` by `eta` allows, down to one trial). */
  rungs?: number;
  sampler: Sampler;
  seed: number;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function checkPlanOptions(o: PlanOptions): void {
  const bad = (what: string, fix: string) => new RecshipError(what, { fix });
  if (!NAME.test(o.name)) throw bad(`the search name "${o.name}" is not usable in artifact names`, "use letters, digits, - _ . (up to 64)");
  if (!(Number.isInteger(o.trials) && o.trials >= 2 && o.trials <= 256))
    throw bad(`trials must be a whole number from 2 to 256 (a GitHub matrix holds 256 jobs), got ${o.trials}`, "give --trials 2..256");
  if (!(Number.isInteger(o.eta) && o.eta >= 2)) throw bad(`eta must be a whole number of 2 or more, got ${o.eta}`, "3 is the usual choice");
  if (!(Number.isInteger(o.maxEpochs) && o.maxEpochs >= 1))
    throw bad(`max-epochs must be a whole number ≥ 1, got ${o.maxEpochs}`, "give it");
  if (o.rungs !== undefined && !(Number.isInteger(o.rungs) && o.rungs >= 1))
    throw bad(`rungs must be a whole number ≥ 1, got ${o.rungs}`, "leave it out to derive it from trials and eta");
}

/** Rung r trains to maxEpochs / eta^(last - r) epochs; each rung keeps 1/eta of its trials. */
export function rungSchedule(trials: number, eta: number, maxEpochs: number, rungs?: number): Rung[] {
  let count = rungs ?? 1;
  if (rungs === undefined) while (Math.floor(trials / eta ** count) >= 1) count++;
  const schedule: Rung[] = [];
  let size = trials;
  for (let r = 0; r < count; r++) {
    const epochs = Math.max(1, Math.round(maxEpochs / eta ** (count - 1 - r)));
    const next = r === count - 1 ? 0 : Math.max(1, Math.floor(size / eta));
    schedule.push({ rung: r, epochs, promote: next });
    size = next;
  }
  return increasing(schedule);
}

/** Rounding may make two rungs train to the same epoch: each rung must train more than the last (in place). */
function increasing(schedule: Rung[]): Rung[] {
  for (let r = 1; r < schedule.length; r++) schedule[r].epochs = Math.max(schedule[r].epochs, schedule[r - 1].epochs + 1);
  return schedule;
}

/** How long trial jobs take: each epoch (training and validation; on average and the slowest trial's), and each job besides its epochs (start, data, test, store). */
export interface Pace {
  secondsPerEpoch: number;
  slowestSecondsPerEpoch: number;
  secondsPerJob: number;
}

/**
 * Minutes the rungs after the first need at `pace`, `slots` trials at a time: each rung's
 * promoted trials and the default, each a job training from the rung before's epochs to its own;
 * a rung takes its jobs' mean time per slot, and at least its slowest job (the last rung's two
 * trials side by side take the slower one's time).
 */
export function laterRungsMinutes(rungs: Rung[], pace: Pace, slots: number): number {
  let seconds = 0;
  for (let r = 1; r < rungs.length; r++) {
    const trials = rungs[r - 1].promote + 1;
    const epochs = rungs[r].epochs - rungs[r - 1].epochs;
    const shared = Math.ceil(trials / slots) * (epochs * pace.secondsPerEpoch + pace.secondsPerJob);
    seconds += Math.max(shared, epochs * pace.slowestSecondsPerEpoch + pace.secondsPerJob);
  }
  return seconds / 60;
}

/** The rungs with the last ending at epoch `top`, those between spaced geometrically from the first (as rungSchedule spaces them), each above the last. */
function rungsEndingAt(rungs: Rung[], top: number): Rung[] {
  const first = rungs[0].epochs;
  const last = rungs.length - 1;
  return increasing(rungs.map((r, i) => ({ ...r, epochs: i === 0 ? first : Math.round(first * (top / first) ** (i / last)) })));
}

/**
 * The later rungs fitted to `minutes` at the first rung's pace: the last rung's epochs lowered
 * (the rungs between respaced) to the most that fits, so every trial of the search stops at its
 * rung's epochs and the winner and the default are judged at the same budget, rather than the
 * budget cutting the last rung short. The rungs unchanged when they fit; the shortest schedule
 * (one epoch more a rung) with fits false when nothing does.
 */
export function fitRungs(rungs: Rung[], pace: Pace, slots: number, minutes: number): { rungs: Rung[]; fits: boolean } {
  const need = (candidate: Rung[]) => laterRungsMinutes(candidate, pace, slots);
  if (rungs.length < 2 || need(rungs) <= minutes) return { rungs, fits: true };
  const shortest = rungs[0].epochs + rungs.length - 1;
  for (let top = rungs[rungs.length - 1].epochs - 1; top >= shortest; top--) {
    const candidate = rungsEndingAt(rungs, top);
    if (need(candidate) <= minutes) return { rungs: candidate, fits: true };
  }
  return { rungs: rungsEndingAt(rungs, shortest), fits: false };
}

/**
 * A cosine schedule anneals over the whole search's epochs, not each rung's: rung r stops a
 * trial part way down the curve and the next rung continues it, and the winner's config (for
 * train-model) keeps the length it was judged at. A length the space gives stays.
 */
function withCosineLength(config: ConfigOverrides, checked: TrainConfig, maxEpochs: number): ConfigOverrides {
  if (checked.lrSchedule !== "cosine" || config.train?.lrEpochs !== undefined) return config;
  return { ...config, train: { ...config.train, lrEpochs: maxEpochs } };
}

/**
 * The search: the default configuration as trial t00 and `trials - 1` configurations drawn by
 * the sampler from the seed (the same options give the same plan), each checked as train-model
 * would check it, and the rungs of successive halving.
 */
export function makePlan(o: PlanOptions): TunePlan {
  checkPlanOptions(o);
  const width = String(o.trials - 1).length < 2 ? 2 : String(o.trials - 1).length;
  const id = (i: number) => `t${String(i).padStart(width, "0")}`;
  const points = unitPoints(o.sampler, o.trials - 1, o.space.params.length, o.seed);
  const drawn = points.map((u) => valuesAt(o.space.params, u));
  // each trial's config checked once, as train-model checks it (a cosine length added after cannot fail)
  const checked = [{}, ...drawn].map((values) => {
    const overrides = trialOverrides(o.space, values);
    return { values, overrides, train: trialConfig(overrides, o.space.where).train };
  });
  const trials: PlannedTrial[] = checked.map(({ values, overrides, train }, i) => ({
    id: id(i),
    isDefault: i === 0,
    values,
    config: withCosineLength(overrides, train, o.maxEpochs),
  }));
  const selectBy = checked[0].train.selectBy;
  return {
    version: 1,
    name: o.name,
    seed: o.seed,
    sampler: o.sampler,
    eta: o.eta,
    objective: selectBy === "full" ? "full" : "masked",
    space: o.space.where,
    rungs: rungSchedule(o.trials, o.eta, o.maxEpochs, o.rungs),
    trials,
  };
}
