import type { CheckResult, VariantResult } from "./judge.js";
import type { Sides } from "./judge-wording.js";
import type { WatchSettings } from "./settings.js";
import type { Baseline, CheckSpec } from "./types.js";

// What one window's results mean for the drift watch (monitor-canary mode watch), and the
// report it writes: numbers and words only, no I/O (watch.ts measures, watch-issue.ts publishes).

/**
 * drift: a critical check breached (failed, Holm over the critical checks); healthy: every
 * critical check was judged and none breached; inconclusive: none breached but some could not be
 * judged (no data, too little traffic, Prometheus unreachable): the issue is left as it is.
 */
export type WatchStatus = "healthy" | "drift" | "inconclusive";

/** A check's result in the watch: the judged side is the last window, the baseline the previous window or validation. */
export type WatchCheckResult = Omit<CheckResult, "canary" | "stable"> & {
  against: Baseline;
  last: VariantResult;
  baseline: VariantResult;
  /** Whether the window could judge it: data and enough of it on both sides (a drift check's PSI decided either way). */
  judged: boolean;
  /** The queries behind each side (a previous window's are the last window's, run one window earlier). */
  lastQueries: string[];
  baselineQueries: string[];
};

export interface WindowJson {
  start: string;
  end: string;
  seconds: number;
}

export interface WatchReport {
  schema: 1;
  tool: "recship monitor-canary";
  recshipVersion: string;
  mode: "watch";
  status: WatchStatus;
  /** One or two sentences: why this status. */
  reason: string;
  /** Critical checks that breached, and critical checks that could not be judged. */
  breached: string[];
  unjudged: string[];
  /** The window judged, and the one before it (the previous-window checks' baseline). */
  window: WindowJson;
  previousWindow: WindowJson;
  /** The production model watched: its version, and where the version came from (given, the deploy target, or the stable version Prometheus saw answer most). */
  stable: { version: string | null; from: "given" | "target" | "prometheus" | null };
  source: { kind: "prometheus"; description: string };
  target: string | null;
  settings: WatchSettings;
  checks: WatchCheckResult[];
  /** PromQL to follow the same quantities in Prometheus (the alert rules' recorded series where they need them). */
  follow: { name: string; what: string; query: string }[];
  warnings: string[];
  startedAt: string;
  endedAt: string;
  seconds: number;
}

/** A window's length as a reader says it: "hour", "day", "30 min", "10 s". */
export function windowName(seconds: number): string {
  if (seconds === 3600) return "hour";
  if (seconds === 86400) return "day";
  if (seconds === 604800) return "week";
  if (seconds % 86400 === 0) return `${seconds / 86400} days`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** What the two sides of a check are called in the watch's messages and tables. */
export function watchSides(spec: Pick<CheckSpec, "against">, windowSeconds: number): Sides {
  const name = windowName(windowSeconds);
  return {
    subject: `last ${name}`,
    baseline: spec.against === "reference" ? "validation" : `previous ${name}`,
    period: "window",
  };
}

const names = (rs: readonly { name: string }[]) => rs.map((r) => r.name).join(", ");

/**
 * Whether a critical check was judged in this window: with data and enough of it on both sides,
 * and a drift check's PSI decided either way (above the threshold but not significant is not
 * judged: too few observations to tell).
 */
function judged(r: CheckResult, spec: CheckSpec | undefined): boolean {
  if (r.decision === "fail" || r.decision === "skipped") return true;
  if (r.noData) return false;
  const min = spec?.minSamples ?? 0;
  if (r.canary.samples < min || r.stable.samples < min) return false;
  return r.kind !== "drift" || r.decision === "pass";
}

/**
 * The window's status from its results: drift when a critical check breached, healthy when every
 * critical check was judged and held, inconclusive otherwise. A check that is not critical is
 * shown and never decides.
 */
export function watchDecision(
  results: readonly CheckResult[],
  checks: readonly CheckSpec[],
): { status: WatchStatus; reason: string; breached: string[]; unjudged: string[] } {
  const specs = new Map(checks.map((c) => [c.name, c]));
  const critical = results.filter((r) => r.critical);
  const breached = critical.filter((r) => r.decision === "fail");
  const unjudged = critical.filter((r) => !judged(r, specs.get(r.name)));
  const lists = { breached: breached.map((r) => r.name), unjudged: unjudged.map((r) => r.name) };
  if (breached.length) {
    const also = breached.length > 1 ? ` (and ${names(breached.slice(1))})` : "";
    return { status: "drift", reason: `${breached[0].name}${also}: ${breached[0].message}`, ...lists };
  }
  if (!critical.length) {
    return { status: "inconclusive", reason: "no check is critical: nothing can raise drift", ...lists };
  }
  if (unjudged.length) {
    return {
      status: "inconclusive",
      reason: `nothing breached, but ${names(unjudged)} could not be judged: ${unjudged[0].message}`,
      ...lists,
    };
  }
  return { status: "healthy", reason: `every critical check holds: ${names(critical)}`, ...lists };
}

/** A check's result with the watch's names for its sides, and the queries behind each. */
export function asWatchResult(
  r: CheckResult,
  spec: CheckSpec | undefined,
  queries: { last: string[]; baseline: string[] } = { last: [], baseline: [] },
): WatchCheckResult {
  const { canary, stable, ...rest } = r;
  return {
    ...rest,
    against: spec?.against ?? "previous-window",
    last: canary,
    baseline: stable,
    judged: judged(r, spec),
    lastQueries: queries.last,
    baselineQueries: queries.baseline,
  };
}
