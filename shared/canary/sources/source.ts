import type { CheckSpec, MeasuredVariant, TemplateVars, Window } from "../types.js";

/**
 * The metrics source could not be asked (down, timing out, answering 5xx) even after its
 * retries. Not the canary's fault and not the user's: the analysis holds and tries again,
 * and never promotes on it.
 */
export class SourceUnavailable extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = "SourceUnavailable";
  }
}

export interface Readiness {
  ready: boolean;
  /** What is missing, or what was found. */
  message: string;
}

/**
 * Where a canary analysis gets its numbers: the Prometheus HTTP API (PromQL) or, with no
 * Prometheus, the servers' own /metrics scraped directly.
 */
export interface MetricSource {
  readonly kind: "prometheus" | "scrape";
  /** For reports: "Prometheus at http://…" or "scraping …". */
  readonly description: string;
  /** Throws a RecshipError for a check this source cannot run or a query it rejects (before anything changes). */
  validate(checks: readonly CheckSpec[], vars: TemplateVars, at: number): Promise<void>;
  /** Whether both variants' series are there yet (at `at`, ms since the epoch). */
  ready(vars: readonly TemplateVars[], at: number): Promise<Readiness>;
  /** Called at the analysis' start and at the end of every window, before measure (the scrape source snapshots here). */
  mark(at: number): Promise<void>;
  /** The check's numbers for one variant over the window; throws SourceUnavailable when the source cannot be reached. */
  measure(check: CheckSpec, vars: TemplateVars, window: Window): Promise<MeasuredVariant>;
  close?(): Promise<void>;
}
