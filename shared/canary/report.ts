import type { CheckResult } from "./judge.js";
import type { MonitorSettings } from "./settings.js";
import type { Verdict } from "./types.js";

/** What happened after an interval's look. */
export type IntervalAction = "next-step" | "extend" | "promote" | "rollback" | "hold" | "retry";

export interface IntervalReport {
  index: number;
  step: number;
  weight: number;
  window: { start: string; end: string; seconds: number };
  /** measured, or source-unavailable (nothing measured; the analysis holds and retries). */
  status: "measured" | "source-unavailable";
  checks: CheckResult[];
  action: IntervalAction;
  message: string;
}

export interface StepReport {
  index: number;
  /** Canary weight in percent. */
  weight: number;
  /** completed (moved on), extended, failed, held, promoted (the 100 % step), not-reached. */
  outcome: "completed" | "failed" | "held" | "promoted" | "not-reached" | "undecided";
  intervals: IntervalReport[];
}

export interface MonitorReport {
  schema: 1;
  tool: "recship monitor-canary";
  recshipVersion: string;
  verdict: Verdict;
  /** false in observe mode (nothing was changed) or when an action was not carried out. */
  applied: boolean;
  mode: MonitorSettings["mode"];
  /** One sentence: why this verdict. */
  reason: string;
  startedAt: string;
  endedAt: string;
  seconds: number;
  target: string | null;
  source: { kind: "prometheus" | "scrape"; description: string };
  stable: { version: string };
  canary: { version: string };
  /** Canary weight when the analysis ended (0 after a rollback, 100 after a promotion). */
  finalWeight: number;
  settings: MonitorSettings;
  steps: StepReport[];
  /** Each check's result at the last look. */
  checks: CheckResult[];
  warnings: string[];
}
