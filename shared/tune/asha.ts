import type { TunePlan } from "./plan.js";

/** How the local mode runs the rungs: successive halving rung by rung, or asynchronously (ASHA). */
export const SCHEDULES = ["sha", "asha"] as const;
export type Schedule = (typeof SCHEDULES)[number];

/** What ASHA knows: each rung's results so far (undefined: the trial failed) and the trials it sent on from it. */
export interface AshaState {
  results: Map<string, number | undefined>[];
  sentOn: Set<string>[];
  /** The next of the plan's trials to start on the first rung. */
  nextNew: number;
}

export interface AshaJob {
  trial: string;
  rung: number;
  /** promoted: in the top 1/eta of its rung so far; reference: the default configuration, carried on; new: a first-rung trial. */
  as: "promoted" | "reference" | "new";
}

export function ashaState(plan: TunePlan): AshaState {
  return { results: plan.rungs.map(() => new Map()), sentOn: plan.rungs.map(() => new Set()), nextNew: 0 };
}

/** A rung's ok results, best first by the objective (ties: the lower trial id). */
function ranked(results: Map<string, number | undefined>): string[] {
  return [...results]
    .filter((e): e is [string, number] => e[1] !== undefined && Number.isFinite(e[1]))
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([id]) => id);
}

/**
 * ASHA's next job (Li et al., MLSys 2020, asynchronous successive halving): from the highest
 * rung down, a trial in the top 1/eta of the results its rung has so far that has not gone on
 * (the default configuration goes on from every rung it finished, as the reference); else the
 * plan's next trial on the first rung; undefined when there is neither (wait for a running
 * trial, or the search is over). No slot waits for a whole rung to end.
 */
export function nextAshaJob(plan: TunePlan, state: AshaState): AshaJob | undefined {
  const defaultId = plan.trials.find((t) => t.isDefault)?.id;
  for (let r = plan.rungs.length - 2; r >= 0; r--) {
    const best = ranked(state.results[r]);
    const up = best.slice(0, Math.floor(best.length / plan.eta)).find((id) => !state.sentOn[r].has(id));
    if (up) return { trial: up, rung: r + 1, as: "promoted" };
    if (defaultId && best.includes(defaultId) && !state.sentOn[r].has(defaultId)) return { trial: defaultId, rung: r + 1, as: "reference" };
  }
  if (state.nextNew < plan.trials.length) return { trial: plan.trials[state.nextNew].id, rung: 0, as: "new" };
  return undefined;
}

/** Records that `job` started (a trial sent on from its rung, or the next new trial taken). */
export function startAshaJob(state: AshaState, job: AshaJob): void {
  if (job.rung === 0) state.nextNew++;
  else state.sentOn[job.rung - 1].add(job.trial);
}
