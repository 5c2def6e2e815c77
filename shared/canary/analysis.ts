import type { DeployStatus, DeployTarget } from "../rollout/target.js";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import { RECSHIP_VERSION } from "../version.js";
import { realClock, type Clock } from "./clock.js";
import { Judge, type CheckResult } from "./judge.js";
import type { IntervalAction, IntervalReport, MonitorReport, StepReport } from "./report.js";
import type { MonitorSettings } from "./settings.js";
import { SourceUnavailable, type MetricSource } from "./sources/source.js";
import { promDuration } from "./template.js";
import type { CheckSpec, MeasuredVariant, TemplateVars, Variant, Verdict, Window } from "./types.js";

export interface MonitorOptions {
  source: MetricSource;
  checks: CheckSpec[];
  settings: MonitorSettings;
  /** Moves traffic, promotes and rolls back (auto mode); tells the versions and the weight. */
  target?: DeployTarget;
  /** Model versions, when the target does not tell them (or to override). */
  versions?: { stable?: string; canary?: string };
  clock?: Clock;
  log: Logger;
  /** Called after every interval (progress output; tests use it to break things mid-analysis). */
  onInterval?: (interval: IntervalReport) => void | Promise<void>;
}

const isPassing = (r: CheckResult) => r.decision === "pass" || r.decision === "skipped";

/**
 * monitor-canary: walks the canary through the step weights, one interval per step, judging
 * every check after every interval (canary against stable over the same window, sequential
 * always-valid tests), and ends in exactly one verdict:
 * - rolled_back: a critical check failed (more often than failureLimit allows), or a critical
 *   check had no data at all by the end;
 * - promoted: every critical check passed (the last step below 100 % is extended, up to
 *   maxIntervals, while some are undecided);
 * - inconclusive: still undecided at maxIntervals, or the metrics source unreachable: the
 *   canary is held at its weight for a human. An unreachable source never promotes.
 */
export async function monitorCanary(o: MonitorOptions): Promise<MonitorReport> {
  const status = o.target ? await o.target.status() : undefined;
  const run = new CanaryAnalysis(o, checkedVersions(o, status), status?.canaryWeight ?? 0);
  run.logPlan();
  const early = await run.warmUp();
  if (early) return early;
  const comparable = o.settings.steps.map((w, i) => ({ w, i })).filter((x) => x.w < 100);
  for (const [k, { w, i }] of comparable.entries()) {
    const held = await run.moveTo(w, i);
    if (held) return held;
    const next = comparable[k + 1]?.w;
    const ended = await run.judgeStep(i, w, next);
    if (ended === "report") return run.report!;
    if (ended === "stop") break;
  }
  return run.finish(...finalVerdict(run.last, run.undecided, run.looks, run.weight));
}

/** The versions compared: given, else the target's; auto mode needs a target with a canary. */
function checkedVersions(o: MonitorOptions, status: DeployStatus | undefined): Record<Variant, string> {
  if (o.settings.mode === "watch") throw new Error("mode watch runs watchProduction (watch.ts), not the canary analysis");
  if (o.settings.mode === "auto" && !o.target)
    throw new RecshipError("mode auto needs a deploy target to move traffic", { fix: "pass the deploy target, or use mode observe" });
  if (o.settings.mode === "auto" && !status?.canary) {
    throw new RecshipError(`no canary is running on the ${o.target!.name} target`, {
      fix: "deploy one first (deploy-k8s / recship deploy with mode canary)",
    });
  }
  const stable = o.versions?.stable ?? status?.stable?.version;
  const canary = o.versions?.canary ?? status?.canary?.version;
  if (!stable || !canary) {
    throw new RecshipError("the stable and canary model versions are unknown", {
      fix: "pass the deploy target (its state tells them) or both versions explicitly",
    });
  }
  return { stable, canary };
}

/**
 * What an interval's results lead to, given the failures so far: roll back past the failure
 * limit; otherwise on to the next step (when there is one), promote when every critical check
 * passes, hold at the last look, else one more interval at this weight.
 */
export function intervalDecision(
  results: readonly CheckResult[],
  at: { failures: number; failureLimit: number; nextWeight?: number; weight: number; looks: number; maxIntervals: number },
): { action: IntervalAction; message: string } {
  const critical = results.filter((r) => r.critical);
  const failed = critical.filter((r) => r.decision === "fail");
  const open = critical.filter((r) => !isPassing(r) && r.decision !== "fail");
  const names = (rs: CheckResult[]) => rs.map((r) => r.name).join(", ");
  if (failed.length && at.failures > at.failureLimit) return { action: "rollback", message: `critical check(s) failed: ${names(failed)}` };
  if (at.nextWeight !== undefined) {
    const tolerated = failed.length ? `failure ${at.failures} tolerated (failure limit ${at.failureLimit}); ` : "";
    const state = open.length ? `undecided so far: ${names(open)}; ` : "every critical check passes; ";
    return { action: "next-step", message: `${tolerated}${state}on to ${at.nextWeight}%` };
  }
  if (!open.length && !failed.length) return { action: "promote", message: "every critical check passes" };
  if (at.looks >= at.maxIntervals)
    return { action: "hold", message: `still undecided after ${at.looks} intervals: ${names([...failed, ...open])}` };
  return { action: "extend", message: `undecided: ${names([...failed, ...open])}; one more interval at ${at.weight}%` };
}

/** The verdict once the steps are done: a failed or data-less critical check rolls back, all passing promotes, else hold. */
export function finalVerdict(last: readonly CheckResult[], undecided: boolean, looks: number, weight: number): [Verdict, string] {
  const critical = last.filter((r) => r.critical);
  const noData = critical.filter((r) => r.noData && r.decision !== "fail");
  const failed = critical.filter((r) => r.decision === "fail");
  if (failed.length)
    return ["rolled_back", `critical check(s) failed at the last look: ${failed.map((r) => `${r.name}: ${r.message}`).join(" ")}`];
  if (noData.length) {
    return [
      "rolled_back",
      `critical check(s) ${noData.map((r) => r.name).join(", ")} had no data by the end (${noData[0].message}): the canary cannot be shown healthy`,
    ];
  }
  if (!undecided && critical.every(isPassing))
    return ["promoted", `every critical check passed: ${critical.map((r) => r.name).join(", ") || "(none)"}`];
  const open = critical.filter((r) => !isPassing(r));
  return [
    "inconclusive",
    `after ${looks} intervals critical check(s) ${open.map((r) => r.name).join(", ")} are still undecided (${open[0]?.message ?? ""}); the canary is held at ${weight}% for a human to promote or roll back`,
  ];
}

/** One analysis in progress: the clock, the windows, the counters and the report being built. */
class CanaryAnalysis {
  readonly clock: Clock;
  readonly started: number;
  readonly checks: CheckSpec[];
  readonly judge: Judge;
  readonly steps: StepReport[];
  readonly warnings: string[] = [];
  readonly intervalMs: number;
  last: CheckResult[] = [];
  looks = 0;
  failures = 0;
  sourceFailures = 0;
  windowStart = 0;
  nextEnd = 0;
  undecided = false;
  /** Set when the analysis ended early (a hold or a rollback). */
  report?: MonitorReport;

  constructor(
    private readonly o: MonitorOptions,
    private readonly versions: Record<Variant, string>,
    public weight: number,
  ) {
    const s = o.settings;
    this.clock = o.clock ?? realClock;
    this.started = this.clock.now();
    this.intervalMs = s.intervalSeconds * 1000;
    // a check judged only from some weight on is judged at the highest step below 100 % at the latest
    const top = Math.max(...s.steps.filter((w) => w < 100));
    this.checks = o.checks.map((c) => (c.fromWeight !== undefined && c.fromWeight > top ? { ...c, fromWeight: top } : c));
    this.judge = new Judge(this.checks, { confidence: s.confidence, plannedLooks: s.maxIntervals });
    this.steps = s.steps.map((w, index) => ({ index, weight: w, outcome: "not-reached", intervals: [] }));
    if (!o.checks.some((c) => c.critical))
      this.warnings.push("no check is critical: nothing can roll the canary back or hold its promotion");
  }

  vars(variant: Variant): TemplateVars {
    return { variant, version: this.versions[variant], namespace: this.o.settings.namespace, interval: promDuration(this.intervalMs) };
  }

  logPlan(): void {
    const s = this.o.settings;
    this.o.log.info(
      `monitoring canary ${this.versions.canary} against stable ${this.versions.stable} with ${this.o.source.description}: steps ${s.steps.join(", ")} %, ` +
        `${s.intervalSeconds}s per interval, confidence ${s.confidence}, checks ${this.o.checks.map((c) => `${c.name}${c.critical ? "*" : ""}`).join(", ")}${s.mode === "observe" ? " (observe only)" : ""}`,
    );
  }

  /** Waits (up to warmupSeconds) for both variants' series, checks the queries, starts the first window. */
  async warmUp(): Promise<MonitorReport | undefined> {
    const { source, settings: s, log } = this.o;
    try {
      const deadline = this.clock.now() + s.warmupSeconds * 1000;
      for (;;) {
        const r = await source.ready([this.vars("stable"), this.vars("canary")], this.clock.now());
        if (r.ready) break;
        if (this.clock.now() >= deadline) {
          this.warnings.push(`after ${s.warmupSeconds}s of warm-up: ${r.message}; measuring anyway`);
          log.warn(this.warnings[this.warnings.length - 1]);
          break;
        }
        await this.clock.sleepUntil(this.clock.now() + Math.min(1000, this.intervalMs / 4));
      }
      await source.validate(this.checks, this.vars("canary"), this.clock.now());
      this.windowStart = this.clock.now();
      this.nextEnd = this.windowStart + this.intervalMs;
      await source.mark(this.windowStart);
      return undefined;
    } catch (error) {
      if (!(error instanceof SourceUnavailable)) throw error;
      return this.finish(
        "inconclusive",
        `the metrics source is unreachable before the first interval (${error.message}); nothing was changed, the canary stays at ${this.weight}%`,
      );
    }
  }

  /** auto mode: moves the canary to `w` and starts the step's first window once the weight is in place. */
  async moveTo(w: number, stepIndex: number): Promise<MonitorReport | undefined> {
    const { target, settings, source } = this.o;
    if (settings.mode !== "auto") return undefined;
    if (this.weight !== w) {
      try {
        await target!.deploy({ mode: "set-weight", weight: w });
      } catch (error) {
        if (!(error instanceof RecshipError)) throw error;
        this.steps[stepIndex].outcome = "held";
        return this.finish(
          "inconclusive",
          `the ${target!.name} target could not move the canary to ${w}% (${error.message}); it is held at ${this.weight}%`,
        );
      }
      // (a rollout can take minutes)
      const at = this.clock.now();
      try {
        await source.mark(at);
        this.windowStart = at;
        this.nextEnd = at + this.intervalMs;
      } catch (error) {
        if (!(error instanceof SourceUnavailable)) throw error; // the next look finds it unreachable again and holds
      }
    }
    this.weight = w;
    return undefined;
  }

  /**
   * The intervals at one step until it is decided: "next" goes on to the next step, "stop" ends
   * the steps (promote, hold, out of looks), "report" ended the analysis (rollback, source down).
   */
  async judgeStep(stepIndex: number, w: number, nextWeight: number | undefined): Promise<"next" | "stop" | "report"> {
    const step = this.steps[stepIndex];
    for (;;) {
      if (this.looks >= this.o.settings.maxIntervals) {
        step.outcome = "undecided";
        this.undecided = true;
        return "stop";
      }
      await this.clock.sleepUntil(this.nextEnd);
      const end = this.clock.now();
      const window: Window = { start: this.windowStart, end };
      const measured = await this.measure(window, stepIndex);
      if (this.report) return "report";
      if (!measured) continue;
      const action = await this.judgeInterval(measured, window, stepIndex, w, nextWeight);
      if (action === "rollback") return "report";
      if (action === "next-step") {
        step.outcome = "completed";
        return "next";
      }
      if (action === "promote") {
        step.outcome = "completed";
        return "stop";
      }
      if (action === "hold") {
        step.outcome = "undecided";
        this.undecided = true;
        return "stop";
      }
    }
  }

  /** Both variants of every check over the window; undefined when the source is down (retry, or hold: this.report). */
  private async measure(window: Window, stepIndex: number): Promise<Map<string, Record<Variant, MeasuredVariant>> | undefined> {
    try {
      await this.o.source.mark(window.end);
      const measured = await measureAll(this.o.source, this.checks, (v) => this.vars(v), window, this.o.log);
      this.sourceFailures = 0;
      return measured;
    } catch (error) {
      if (!(error instanceof SourceUnavailable)) throw error;
      await this.sourceDown(error, window, stepIndex);
      return undefined;
    }
  }

  /** An unreachable source: retry after another interval (the next window covers the gap), or hold past the limit. */
  private async sourceDown(error: SourceUnavailable, window: Window, stepIndex: number): Promise<void> {
    this.sourceFailures++;
    const giveUp = this.sourceFailures > this.o.settings.sourceFailureLimit;
    const weight = this.weight;
    const interval = this.record(stepIndex, window, {
      status: "source-unavailable",
      checks: [],
      action: giveUp ? "hold" : "retry",
      message: `${error.message}; ${giveUp ? `unreachable ${this.sourceFailures} times in a row: holding the canary at ${weight}%` : `holding at ${weight}% and retrying after another interval`}`,
    });
    this.o.log.warn(`interval ${interval.index + 1} (${weight}%): ${interval.message}`);
    await this.o.onInterval?.(interval);
    if (giveUp) {
      this.steps[stepIndex].outcome = "held";
      this.report = await this.finish(
        "inconclusive",
        `the metrics source was unreachable for ${this.sourceFailures} intervals in a row (${error.message}); never promoting blind, the canary is held at ${weight}%`,
      );
    }
    this.nextEnd = window.end + this.intervalMs;
  }

  /** Judges one measured interval, records it, and acts on a rollback. */
  private async judgeInterval(
    measured: Map<string, Record<Variant, MeasuredVariant>>,
    window: Window,
    stepIndex: number,
    w: number,
    nextWeight: number | undefined,
  ): Promise<IntervalAction> {
    const s = this.o.settings;
    this.looks++;
    const results = this.judge.look(measured, window, { weight: this.weight });
    this.last = results;
    this.windowStart = window.end;
    this.nextEnd = window.end + this.intervalMs;
    if (results.some((r) => r.critical && r.decision === "fail")) this.failures++;
    const { action, message } = intervalDecision(results, {
      failures: this.failures,
      failureLimit: s.failureLimit,
      nextWeight,
      weight: w,
      looks: this.looks,
      maxIntervals: s.maxIntervals,
    });
    const interval = this.record(stepIndex, window, { status: "measured", checks: results, action, message });
    this.o.log.info(
      `interval ${interval.index + 1} (${this.weight}%): ${results.map((r) => `${r.name} ${r.decision}`).join(", ")} → ${action}: ${message}`,
    );
    await this.o.onInterval?.(interval);
    if (action === "rollback") {
      this.steps[stepIndex].outcome = "failed";
      const failed = results.filter((r) => r.critical && r.decision === "fail");
      this.report = await this.finish("rolled_back", failed.map((r) => `${r.name}: ${r.message}`).join(" "));
    }
    return action;
  }

  private record(
    stepIndex: number,
    window: Window,
    what: Pick<IntervalReport, "status" | "checks" | "action" | "message">,
  ): IntervalReport {
    const interval: IntervalReport = {
      index: this.steps.reduce((n, st) => n + st.intervals.length, 0),
      step: stepIndex,
      weight: this.weight,
      window: windowJson(window),
      ...what,
    };
    this.steps[stepIndex].intervals.push(interval);
    return interval;
  }

  /** Applies the verdict (auto mode: promote or roll back) and builds the report. */
  async finish(verdict: Verdict, reason: string): Promise<MonitorReport> {
    const { settings: s, target, log } = this.o;
    let applied = false;
    if (s.mode === "auto" && verdict === "promoted") {
      await target!.deploy({ mode: "promote" });
      this.weight = 100;
      applied = true;
      const full = this.steps.find((st) => st.weight >= 100);
      if (full) full.outcome = "promoted";
    } else if (s.mode === "auto" && verdict === "rolled_back") {
      await target!.deploy({ mode: "rollback" });
      this.weight = 0;
      applied = true;
    }
    const would = verdict === "promoted" ? "promoted" : verdict === "rolled_back" ? "rolled back" : "held";
    log.info(`verdict: ${s.mode === "observe" ? `observe mode, nothing changed: would have ${would}` : verdict}: ${reason}`);
    const ended = this.clock.now();
    return {
      schema: 1,
      tool: "recship monitor-canary",
      recshipVersion: RECSHIP_VERSION,
      verdict,
      applied,
      mode: s.mode,
      reason,
      startedAt: new Date(this.started).toISOString(),
      endedAt: new Date(ended).toISOString(),
      seconds: (ended - this.started) / 1000,
      target: target?.name ?? null,
      source: { kind: this.o.source.kind, description: this.o.source.description },
      stable: { version: this.versions.stable },
      canary: { version: this.versions.canary },
      finalWeight: this.weight,
      settings: s,
      steps: this.steps,
      checks: this.last,
      warnings: this.warnings,
    };
  }
}

function windowJson(w: Window): IntervalReport["window"] {
  return { start: new Date(w.start).toISOString(), end: new Date(w.end).toISOString(), seconds: (w.end - w.start) / 1000 };
}

/** Both variants of every check; a check whose query fails to run gets no data (with the reason), the others go on. */
async function measureAll(
  source: MetricSource,
  checks: readonly CheckSpec[],
  vars: (v: Variant) => TemplateVars,
  window: Window,
  log: Logger,
): Promise<Map<string, Record<Variant, MeasuredVariant>>> {
  const out = new Map<string, Record<Variant, MeasuredVariant>>();
  for (const check of checks) {
    const one = async (variant: Variant): Promise<MeasuredVariant> => {
      try {
        return await source.measure(check, vars(variant), window);
      } catch (error) {
        if (!(error instanceof RecshipError)) throw error;
        log.warn(`check ${check.name} (${variant}): ${error.message}`);
        return { queries: [], measurement: { kind: "none", reason: error.message } };
      }
    };
    const [canary, stable] = await Promise.all([one("canary"), one("stable")]);
    out.set(check.name, { canary, stable });
  }
  return out;
}
