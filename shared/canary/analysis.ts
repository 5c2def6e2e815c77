import type { DeployTarget } from "../rollout/target.js";
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
  const clock = o.clock ?? realClock;
  const s = o.settings;
  const { log } = o;
  const started = clock.now();
  const status = o.target ? await o.target.status() : undefined;
  if (s.mode === "auto" && !o.target)
    throw new RecshipError("mode auto needs a deploy target to move traffic", { fix: "pass the deploy target, or use mode observe" });
  if (s.mode === "auto" && !status?.canary) {
    throw new RecshipError(`no canary is running on the ${o.target!.name} target`, {
      fix: "deploy one first (deploy-k8s / recship deploy with mode canary)",
    });
  }
  const versions: Record<Variant, string | undefined> = {
    stable: o.versions?.stable ?? status?.stable?.version,
    canary: o.versions?.canary ?? status?.canary?.version,
  };
  if (!versions.stable || !versions.canary) {
    throw new RecshipError("the stable and canary model versions are unknown", {
      fix: "pass the deploy target (its state tells them) or both versions explicitly",
    });
  }
  const intervalMs = s.intervalSeconds * 1000;
  // a check judged only from some weight on is judged at the highest step below 100 % at the latest
  const top = Math.max(...s.steps.filter((w) => w < 100));
  const checks = o.checks.map((c) => (c.fromWeight !== undefined && c.fromWeight > top ? { ...c, fromWeight: top } : c));
  const vars = (variant: Variant): TemplateVars => ({
    variant,
    version: versions[variant]!,
    namespace: s.namespace,
    interval: promDuration(intervalMs),
  });
  let weight = status?.canaryWeight ?? 0;
  const warnings: string[] = [];
  const steps: StepReport[] = s.steps.map((w, index) => ({ index, weight: w, outcome: "not-reached", intervals: [] }));
  let last: CheckResult[] = [];
  if (!o.checks.some((c) => c.critical)) warnings.push("no check is critical: nothing can roll the canary back or hold its promotion");

  const finish = async (verdict: Verdict, reason: string): Promise<MonitorReport> => {
    let applied = false;
    if (s.mode === "auto" && verdict === "promoted") {
      await o.target!.deploy({ mode: "promote" });
      weight = 100;
      applied = true;
      const full = steps.find((st) => st.weight >= 100);
      if (full) full.outcome = "promoted";
    } else if (s.mode === "auto" && verdict === "rolled_back") {
      await o.target!.deploy({ mode: "rollback" });
      weight = 0;
      applied = true;
    }
    const what =
      s.mode === "observe"
        ? `observe mode, nothing changed: would have ${verdict === "promoted" ? "promoted" : verdict === "rolled_back" ? "rolled back" : "held"}`
        : verdict;
    log.info(`verdict: ${what}: ${reason}`);
    const ended = clock.now();
    return {
      schema: 1,
      tool: "recship monitor-canary",
      recshipVersion: RECSHIP_VERSION,
      verdict,
      applied,
      mode: s.mode,
      reason,
      startedAt: new Date(started).toISOString(),
      endedAt: new Date(ended).toISOString(),
      seconds: (ended - started) / 1000,
      target: o.target?.name ?? null,
      source: { kind: o.source.kind, description: o.source.description },
      stable: { version: versions.stable! },
      canary: { version: versions.canary! },
      finalWeight: weight,
      settings: s,
      steps,
      checks: last,
      warnings,
    };
  };

  log.info(
    `monitoring canary ${versions.canary} against stable ${versions.stable} with ${o.source.description}: steps ${s.steps.join(", ")} %, ` +
      `${s.intervalSeconds}s per interval, confidence ${s.confidence}, checks ${o.checks.map((c) => `${c.name}${c.critical ? "*" : ""}`).join(", ")}${s.mode === "observe" ? " (observe only)" : ""}`,
  );

  // warm-up: both variants' series must be there before the first window starts
  let windowStart = 0;
  try {
    const deadline = clock.now() + s.warmupSeconds * 1000;
    for (;;) {
      const r = await o.source.ready([vars("stable"), vars("canary")], clock.now());
      if (r.ready) break;
      if (clock.now() >= deadline) {
        warnings.push(`after ${s.warmupSeconds}s of warm-up: ${r.message}; measuring anyway`);
        log.warn(warnings[warnings.length - 1]);
        break;
      }
      await clock.sleepUntil(clock.now() + Math.min(1000, intervalMs / 4));
    }
    await o.source.validate(checks, vars("canary"), clock.now());
    windowStart = clock.now();
    await o.source.mark(windowStart);
  } catch (error) {
    if (!(error instanceof SourceUnavailable)) throw error;
    return finish(
      "inconclusive",
      `the metrics source is unreachable before the first interval (${error.message}); nothing was changed, the canary stays at ${weight}%`,
    );
  }

  const judge = new Judge(checks, { confidence: s.confidence, plannedLooks: s.maxIntervals });
  const comparable = s.steps.map((w, i) => ({ w, i })).filter((x) => x.w < 100);
  let looks = 0;
  let failures = 0;
  let sourceFailures = 0;
  let nextEnd = windowStart + intervalMs;
  let undecided = false;
  outer: for (const [k, { w, i }] of comparable.entries()) {
    const step = steps[i];
    const lastStep = k === comparable.length - 1;
    if (s.mode === "auto" && weight !== w) {
      try {
        await o.target!.deploy({ mode: "set-weight", weight: w });
      } catch (error) {
        if (!(error instanceof RecshipError)) throw error;
        step.outcome = "held";
        return finish(
          "inconclusive",
          `the ${o.target!.name} target could not move the canary to ${w}% (${error.message}); it is held at ${weight}%`,
        );
      }
      // the first window at this weight starts once the weight is in place (a rollout can take minutes)
      const at = clock.now();
      try {
        await o.source.mark(at);
        windowStart = at;
        nextEnd = at + intervalMs;
      } catch (error) {
        if (!(error instanceof SourceUnavailable)) throw error; // the next look finds it unreachable again and holds
      }
    }
    if (s.mode === "auto") weight = w;
    for (;;) {
      if (looks >= s.maxIntervals) {
        step.outcome = "undecided";
        undecided = true;
        break outer;
      }
      await clock.sleepUntil(nextEnd);
      const end = clock.now();
      const window: Window = { start: windowStart, end };
      let measured: Map<string, Record<Variant, MeasuredVariant>>;
      try {
        await o.source.mark(end);
        measured = await measureAll(o.source, checks, vars, window, log);
      } catch (error) {
        if (!(error instanceof SourceUnavailable)) throw error;
        sourceFailures++;
        const giveUp = sourceFailures > s.sourceFailureLimit;
        const interval: IntervalReport = {
          index: steps.reduce((n, st) => n + st.intervals.length, 0),
          step: i,
          weight,
          window: windowJson(window),
          status: "source-unavailable",
          checks: [],
          action: giveUp ? "hold" : "retry",
          message: `${error.message}; ${giveUp ? `unreachable ${sourceFailures} times in a row: holding the canary at ${weight}%` : `holding at ${weight}% and retrying after another interval`}`,
        };
        step.intervals.push(interval);
        log.warn(`interval ${interval.index + 1} (${weight}%): ${interval.message}`);
        await o.onInterval?.(interval);
        if (giveUp) {
          step.outcome = "held";
          return finish(
            "inconclusive",
            `the metrics source was unreachable for ${sourceFailures} intervals in a row (${error.message}); never promoting blind, the canary is held at ${weight}%`,
          );
        }
        nextEnd = end + intervalMs; // the next window still starts at windowStart: it covers the gap
        continue;
      }
      sourceFailures = 0;
      looks++;
      const results = judge.look(measured, window, { weight });
      last = results;
      windowStart = end;
      nextEnd = end + intervalMs;
      const critical = results.filter((r) => r.critical);
      const failed = critical.filter((r) => r.decision === "fail");
      const open = critical.filter((r) => !isPassing(r) && r.decision !== "fail");
      let action: IntervalAction;
      let message: string;
      if (failed.length) failures++;
      if (failed.length && failures > s.failureLimit) {
        action = "rollback";
        message = `critical check(s) failed: ${failed.map((r) => r.name).join(", ")}`;
      } else if (!lastStep) {
        action = "next-step";
        message = `${failed.length ? `failure ${failures} tolerated (failure limit ${s.failureLimit}); ` : ""}${open.length ? `undecided so far: ${open.map((r) => r.name).join(", ")}; ` : "every critical check passes; "}on to ${comparable[k + 1].w}%`;
      } else if (!open.length && !failed.length) {
        action = "promote";
        message = "every critical check passes";
      } else if (looks >= s.maxIntervals) {
        action = "hold";
        message = `still undecided after ${looks} intervals: ${[...failed, ...open].map((r) => r.name).join(", ")}`;
      } else {
        action = "extend";
        message = `undecided: ${[...failed, ...open].map((r) => r.name).join(", ")}; one more interval at ${w}%`;
      }
      const interval: IntervalReport = {
        index: steps.reduce((n, st) => n + st.intervals.length, 0),
        step: i,
        weight,
        window: windowJson(window),
        status: "measured",
        checks: results,
        action,
        message,
      };
      step.intervals.push(interval);
      log.info(
        `interval ${interval.index + 1} (${weight}%): ${results.map((r) => `${r.name} ${r.decision}`).join(", ")} → ${action}: ${message}`,
      );
      await o.onInterval?.(interval);
      if (action === "rollback") {
        step.outcome = "failed";
        return finish("rolled_back", `${failed.map((r) => `${r.name}: ${r.message}`).join(" ")}`);
      }
      if (action === "next-step") {
        step.outcome = "completed";
        break;
      }
      if (action === "promote") {
        step.outcome = "completed";
        break outer;
      }
      if (action === "hold") {
        step.outcome = "undecided";
        undecided = true;
        break outer;
      }
    }
  }

  const critical = last.filter((r) => r.critical);
  const noData = critical.filter((r) => r.noData && r.decision !== "fail");
  const failed = critical.filter((r) => r.decision === "fail");
  if (failed.length)
    return finish("rolled_back", `critical check(s) failed at the last look: ${failed.map((r) => `${r.name}: ${r.message}`).join(" ")}`);
  if (noData.length) {
    return finish(
      "rolled_back",
      `critical check(s) ${noData.map((r) => r.name).join(", ")} had no data by the end (${noData[0].message}): the canary cannot be shown healthy`,
    );
  }
  if (!undecided && critical.every(isPassing)) {
    return finish("promoted", `every critical check passed: ${critical.map((r) => r.name).join(", ") || "(none)"}`);
  }
  const open = critical.filter((r) => !isPassing(r));
  return finish(
    "inconclusive",
    `after ${looks} intervals critical check(s) ${open.map((r) => r.name).join(", ")} are still undecided (${open[0]?.message ?? ""}); the canary is held at ${weight}% for a human to promote or roll back`,
  );
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
