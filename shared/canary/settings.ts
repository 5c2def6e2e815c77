import { RecshipError } from "../errors.js";

export const MONITOR_MODES = ["auto", "observe", "watch"] as const;
export type MonitorMode = (typeof MONITOR_MODES)[number];

export interface MonitorSettings {
  /** Canary weights in percent, one analysis interval each; a final 100 is the promotion itself. */
  steps: number[];
  /** Seconds per interval (one look per interval). */
  intervalSeconds: number;
  /** Confidence of every decision (0.98: each check's false alarm and false pass at most 2 %). */
  confidence: number;
  /** Intervals with a failing critical check tolerated before rolling back (Argo's failureLimit). */
  failureLimit: number;
  /** Most intervals in all; the last step is extended while critical checks are undecided, up to this. */
  maxIntervals: number;
  /** Intervals in a row the metrics source may be unreachable before the analysis gives up and holds. */
  sourceFailureLimit: number;
  /** Longest wait for the source to see both variants before the first interval. */
  warmupSeconds: number;
  /** auto: move traffic, promote or roll back; observe: measure and report only; watch: the drift watch (watch.ts). */
  mode: MonitorMode;
  /** $namespace (a regular expression; default any). */
  namespace: string;
}

export const DEFAULT_STEPS = [10, 25, 50, 100];

export function defaultSettings(given: Partial<MonitorSettings> = {}): MonitorSettings {
  const overrides = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<MonitorSettings>;
  const steps = overrides.steps ?? DEFAULT_STEPS;
  const settings: MonitorSettings = {
    steps,
    intervalSeconds: 120,
    confidence: 0.98,
    failureLimit: 0,
    maxIntervals: steps.filter((w) => w < 100).length + 4,
    sourceFailureLimit: 2,
    warmupSeconds: 120,
    mode: "auto",
    namespace: ".*",
    ...overrides,
  };
  checkSettings(settings);
  return settings;
}

/** "10,25,50,100" (or "10 25 50 100") as weights. */
export function parseSteps(text: string, where = "steps"): number[] {
  const parts = text
    .split(/[\s,]+/)
    .map((s) => s.trim().replace(/%$/, ""))
    .filter(Boolean);
  const steps = parts.map(Number);
  if (!steps.length || steps.some((w) => !Number.isFinite(w))) {
    throw new RecshipError(`"${text}" is not a list of weights`, { where, fix: "e.g. 10,25,50,100" });
  }
  return steps;
}

function checkSettings(s: MonitorSettings): void {
  const where = "monitor settings";
  if (!s.steps.length) throw new RecshipError("steps is empty", { where, fix: "e.g. 10,25,50,100" });
  for (const [i, w] of s.steps.entries()) {
    if (!(w > 0 && w <= 100)) throw new RecshipError(`step weight ${w} is not a percentage above 0 and at most 100`, { where: "steps" });
    if (i > 0 && w <= s.steps[i - 1]) throw new RecshipError(`the step weights must rise: ${s.steps.join(", ")}`, { where: "steps" });
  }
  if (!s.steps.some((w) => w < 100)) {
    throw new RecshipError("every step is at 100 %: stable would get no traffic to compare with", {
      where: "steps",
      fix: "start below 100, e.g. 10,25,50,100",
    });
  }
  if (!(s.intervalSeconds >= 1))
    throw new RecshipError(`interval must be at least 1 second, got ${s.intervalSeconds}`, { where: "interval" });
  if (!(s.confidence >= 0.5 && s.confidence < 1)) {
    throw new RecshipError(`confidence must be from 0.5 to below 1 (e.g. 0.98), got ${s.confidence}`, { where: "confidence" });
  }
  if (!Number.isInteger(s.failureLimit) || s.failureLimit < 0)
    throw new RecshipError(`failure limit must be 0 or more, got ${s.failureLimit}`);
  const comparable = s.steps.filter((w) => w < 100).length;
  if (!Number.isInteger(s.maxIntervals) || s.maxIntervals < comparable) {
    throw new RecshipError(`max intervals (${s.maxIntervals}) must be at least the number of steps below 100 % (${comparable})`, {
      where: "max-intervals",
    });
  }
  if (!Number.isInteger(s.sourceFailureLimit) || s.sourceFailureLimit < 0) throw new RecshipError("source failure limit must be 0 or more");
  if (!(s.warmupSeconds >= 0)) throw new RecshipError("warm-up must be 0 or more seconds");
}

/** The drift watch's settings (mode watch): one window judged per run. */
export interface WatchSettings {
  /** The window judged, in seconds; windows end at multiples of it (UTC). */
  windowSeconds: number;
  /** Confidence of every decision (each window's false alarm at most 1 − confidence per check family). */
  confidence: number;
  /** $namespace (a regular expression; default any). */
  namespace: string;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
/** The shortest window: a few scrapes at least. */
const MIN_WINDOW_SECONDS = 5;
/** The longest: the window and the one before it must fit in Prometheus' default retention (15 days). */
const MAX_WINDOW_SECONDS = 7 * 86400;

/** "1h", "30m", "1h30m", "90s", "1d" (Prometheus durations without ms and y) or plain seconds, checked. */
export function parseWindow(text: string, where = "window"): number {
  const t = text.trim();
  let seconds = NaN;
  if (/^\d+(\.\d+)?$/.test(t)) seconds = Number(t);
  else if (/^(\d+[smhdw])+$/.test(t)) {
    seconds = 0;
    for (const [, n, unit] of t.matchAll(/(\d+)([smhdw])/g)) seconds += Number(n) * UNIT_SECONDS[unit];
  }
  if (!Number.isFinite(seconds))
    throw new RecshipError(`"${text}" is not a duration`, { where, fix: "e.g. 1h, 30m, 1h30m or 600 (seconds)" });
  if (seconds < MIN_WINDOW_SECONDS || seconds > MAX_WINDOW_SECONDS) {
    throw new RecshipError(`the window must be from ${MIN_WINDOW_SECONDS} s to 7 days, got ${text}`, {
      where,
      fix: "e.g. 1h; the watch compares it with the window before it, so Prometheus must keep twice as much history",
    });
  }
  return seconds;
}

export function watchSettings(given: WatchSettings): WatchSettings {
  if (!(given.confidence >= 0.5 && given.confidence < 1)) {
    throw new RecshipError(`confidence must be from 0.5 to below 1 (e.g. 0.98), got ${given.confidence}`, { where: "confidence" });
  }
  return { ...given, windowSeconds: parseWindow(String(given.windowSeconds)) };
}
