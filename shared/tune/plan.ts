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
  /** Set when the local search refitted the later rungs to its budget (fitRungs): the rungs' epochs asked, after which rung, at what pace. */
  budgetFit?: BudgetFit;
}

export interface BudgetFit {
  /** The rungs' epochs as planned. */
  asked: number[];
  /** The last rung finished when the rungs were last fitted (0: after the first). */
  afterRung: number;
  pace: Pace;
  fits: boolean;
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

/** The rungs' epochs as text ("3, 9, 27"), for logs and reports. */
export function epochList(rungs: Rung[]): string {
  return rungs.map((r) => r.epochs).join(", ");
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
 * Minutes the rungs after rung `done` need at `pace`, `slots` trials at a time: each rung's
 * promoted trials and the default, each a job training from the rung before's epochs to its own;
 * a rung takes its jobs' mean time per slot, and at least its slowest job (the last rung's two
 * trials side by side take the slower one's time).
 */
export function laterRungsMinutes(rungs: Rung[], pace: Pace, slots: number, done = 0): number {
  let seconds = 0;
  for (let r = done + 1; r < rungs.length; r++) {
    const trials = rungs[r - 1].promote + 1;
    const epochs = rungs[r].epochs - rungs[r - 1].epochs;
    const shared = Math.ceil(trials / slots) * (epochs * pace.secondsPerEpoch + pace.secondsPerJob);
    seconds += Math.max(shared, epochs * pace.slowestSecondsPerEpoch + pace.secondsPerJob);
  }
  return seconds / 60;
}

/** The rungs with the last ending at epoch `top`, those after rung `done` spaced geometrically from it (as rungSchedule spaces them), each above the last. */
function rungsEndingAt(rungs: Rung[], top: number, done: number): Rung[] {
  const from = rungs[done].epochs;
  const span = rungs.length - 1 - done;
  return increasing(rungs.map((r, i) => (i <= done ? r : { ...r, epochs: Math.round(from * (top / from) ** ((i - done) / span)) })));
}

/**
 * The rungs after rung `done` (already trained) fitted to `minutes` at `pace`: the last rung's
 * epochs the most that fits up to `asked` (the plan's; a fit after a slower rung lowers them, one
 * after a faster rung may give back what an earlier fit took), the rungs between respaced, so
 * every trial stops at its rung's epochs and the winner and the default are judged at the same
 * budget, rather than the budget cutting the last rung short. The rungs themselves when they
 * keep their last rung; the shortest schedule (one epoch more a rung) with fits false when
 * nothing fits.
 */
export function fitRungs(rungs: Rung[], pace: Pace, slots: number, minutes: number, at: { done?: number; asked?: number } = {}) {
  const done = at.done ?? 0;
  const last = rungs.length - 1;
  if (done >= last) return { rungs, fits: true };
  const top = rungs[last].epochs;
  const shortest = rungs[done].epochs + last - done;
  for (let t = Math.max(at.asked ?? top, top); t >= shortest; t--) {
    const candidate = t === top ? rungs : rungsEndingAt(rungs, t, done);
    if (laterRungsMinutes(candidate, pace, slots, done) <= minutes) return { rungs: candidate, fits: true };
  }
  return { rungs: rungsEndingAt(rungs, shortest, done), fits: false };
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
