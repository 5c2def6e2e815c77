/** Which baseline: one per model name and branch (the newest saved wins). */
export interface BaselineRef {
  model: string;
  branch: string;
}

export interface RestoredBaseline {
  /** Folder holding the baseline (gate-baseline.json, bundle.json, the model). */
  dir: string;
  /** Where it came from, for the report (e.g. the cache key). */
  origin: string;
}

export interface SaveResult {
  saved: boolean;
  key?: string;
  /** Why it was not saved. */
  reason?: string;
}

/**
 * Where blessed baselines live between runs. The action uses the GitHub Actions cache
 * (actions/common/baseline-cache.ts); tests and self-hosted runners use a local folder.
 */
export interface BaselineStore {
  readonly description: string;
  /** The newest baseline saved for `ref`, or undefined when there is none yet. */
  restore(ref: BaselineRef): Promise<RestoredBaseline | undefined>;
  /** Stores the baseline folder `dir` as the newest for `ref`. */
  save(ref: BaselineRef, dir: string): Promise<SaveResult>;
}

const BASELINE_KEY_VERSION = "v1";

/**
 * Cache keys are `recship-baseline-v1/<model>/<branch>/<unique>`, names URI-encoded so no
 * branch can be a prefix of another's key ("main" never matches "main-old").
 */
export function baselineKeyPrefix(ref: BaselineRef): string {
  return `recship-baseline-${BASELINE_KEY_VERSION}/${encodeURIComponent(ref.model)}/${encodeURIComponent(ref.branch)}/`;
}
