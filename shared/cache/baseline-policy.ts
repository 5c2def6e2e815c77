import type { RunContext } from "../github/event.js";

export interface BaselinePlan {
  /** Branches whose newest baseline this run compares with, first found wins. */
  compareBranches: string[];
  /** Whether this run may store its candidate as the new baseline (if it passes). */
  save: boolean;
  /** The branch a saved baseline is stored under. */
  saveBranch: string;
  /** Why it will not save, for the log. */
  reason: string;
}

/**
 * Which baseline a run compares with and whether it may bless a new one. Pull requests
 * compare with their base branch's newest baseline and never save (their cache entries are
 * scoped to the pull request). Pushes and manual runs compare with their own branch's
 * baseline, else the baseline branch's, and save only on the baseline branch (the
 * repository's default branch unless given), when `saveBaseline` is on.
 */
export function baselinePlan(ctx: RunContext, options: { saveBaseline: boolean; baselineBranch?: string }): BaselinePlan {
  const baselineBranch = options.baselineBranch ?? ctx.defaultBranch ?? "main";
  if (ctx.pullRequest !== undefined) {
    return {
      compareBranches: [ctx.baseBranch ?? baselineBranch],
      save: false,
      saveBranch: baselineBranch,
      reason: "pull requests never store a baseline (only runs on the baseline branch do)",
    };
  }
  const branch = ctx.branch;
  const compareBranches = [...new Set([branch, baselineBranch].filter((b): b is string => Boolean(b)))];
  if (!options.saveBaseline) return { compareBranches, save: false, saveBranch: baselineBranch, reason: "save-baseline is off" };
  if (branch !== baselineBranch) {
    return {
      compareBranches,
      save: false,
      saveBranch: baselineBranch,
      reason: `this run is on ${branch ? `branch ${branch}` : "no branch"}; baselines are stored from ${baselineBranch} only`,
    };
  }
  return { compareBranches, save: true, saveBranch: baselineBranch, reason: "" };
}
