import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import {
  clickThrough,
  errorRate,
  latencyQuantile,
  MODEL_GROUP,
  MODEL_ROUTES,
  psi,
  RECORDED,
  series,
} from "../rollout/monitoring-promql.js";
import type { DeployTarget } from "../rollout/target.js";
import { RECSHIP_VERSION } from "../version.js";
import type { OptionReader } from "../util/option-spec.js";
import { loadChecks } from "./checks-file.js";
import { realClock, type Clock } from "./clock.js";
import { Judge } from "./judge.js";
import { sourceOptionsFrom, watchSettingsFrom } from "./options.js";
import { createWatchSource } from "./setup.js";
import type { WatchSettings } from "./settings.js";
import type { PrometheusSource } from "./sources/prometheus-source.js";
import { SourceUnavailable } from "./sources/source.js";
import { promDuration, renderTemplate } from "./template.js";
import type { Bucket, CheckSpec, MeasuredVariant, TemplateVars, Variant, Window } from "./types.js";
import {
  asWatchResult,
  watchDecision,
  watchSides,
  windowName,
  type WatchReport,
  type WatchStatus,
  type WindowJson,
} from "./watch-decision.js";

export interface WatchOptions {
  /** The drift watch reads history, which only Prometheus keeps. */
  source: PrometheusSource;
  checks: CheckSpec[];
  settings: WatchSettings;
  /** Tells the production (stable) model's version; without it and without `version`, Prometheus is asked. */
  target?: DeployTarget;
  /** The production model's version (wins over the target's). */
  version?: string;
  clock?: Clock;
  log: Logger;
}

/** The window a run at `now` judges, the last whole one (windows end at multiples of their length, UTC), and the one before it. */
export function watchWindows(now: number, seconds: number): { last: Window; previous: Window } {
  const ms = seconds * 1000;
  const end = Math.floor(now / ms) * ms;
  return { last: { start: end - ms, end }, previous: { start: end - 2 * ms, end: end - ms } };
}

function windowJson(w: Window): WindowJson {
  return { start: new Date(w.start).toISOString(), end: new Date(w.end).toISOString(), seconds: (w.end - w.start) / 1000 };
}

/** The stable version that answered most model requests in the window, as Prometheus saw it. */
async function busiestStableVersion(source: PrometheusSource, vars: TemplateVars, at: number): Promise<string | undefined> {
  const requests = series("recship_http_requests_total", 'variant="stable"', 'namespace=~"$namespace"', MODEL_ROUTES);
  const query = renderTemplate(`sum by (version) (increase(${requests}[$interval]))`, vars);
  const found = (await source.api.instant(query, at)).filter((s) => s.labels.version && s.value > 0);
  found.sort((a, b) => b.value - a.value);
  return found[0]?.labels.version;
}

/** Reference shares (one series per bucket_le) times the observations behind them, as cumulative buckets. */
function referenceBuckets(shares: { labels: Record<string, string>; value: number }[], observations: number): Bucket[] {
  const cells = shares
    .map((s) => ({ le: s.labels.bucket_le === "+Inf" ? Infinity : Number(s.labels.bucket_le), count: s.value * observations }))
    .filter((c) => !Number.isNaN(c.le) && Number.isFinite(c.count))
    .sort((a, b) => a.le - b.le);
  let total = 0;
  return cells.map((c) => ({ le: c.le, count: (total += c.count) }));
}

/** A drift check's baseline from the model's validation reference, which its servers export. */
async function measureReference(source: PrometheusSource, check: CheckSpec, vars: TemplateVars, at: number): Promise<MeasuredVariant> {
  const q = check.queries;
  if (q.kind !== "drift" || !q.reference) throw new Error(`check ${check.name} has no reference queries`);
  const queries = [renderTemplate(q.reference.shares, vars), renderTemplate(q.reference.observations, vars)];
  const [shares, observations] = await Promise.all(queries.map((query) => source.api.instant(query, at)));
  const none = (reason: string): MeasuredVariant => ({ queries, measurement: { kind: "none", reason } });
  if (!shares.length) {
    return none(
      `the servers of version ${vars.version} export no validation reference (a bundle trained before recship recorded one: retrain it)`,
    );
  }
  const n = observations[0]?.value;
  if (!(n !== undefined && n > 0))
    return none(`the servers of version ${vars.version} do not export recship_reference_observations (update recship)`);
  return { queries, measurement: { kind: "buckets", buckets: referenceBuckets(shares, n) } };
}

/** PromQL to follow the watched quantities in Prometheus or a dashboard (the drift PSIs read the alert rules' recorded shares). */
function followQueries(checks: readonly CheckSpec[], selector: string, window: string): WatchReport["follow"] {
  const G = MODEL_GROUP;
  const out: WatchReport["follow"] = [];
  const names = new Set(checks.map((c) => c.name));
  const rules = "needs the recording rules deploy-k8s ships: recship:*_share";
  if (names.has("top-score-vs-validation"))
    out.push({
      name: "top-score-vs-validation",
      what: `PSI of the first recommendation's score against validation (${rules})`,
      query: psi(RECORDED.topScoreShare, "recship_reference_top_score_share", { recordedSelector: selector, selector, group: G }),
    });
  if (names.has("popularity-vs-validation"))
    out.push({
      name: "popularity-vs-validation",
      what: `PSI of the recommended items' popularity against validation (${rules})`,
      query: psi(RECORDED.popularityShare, "recship_reference_popularity_share", { recordedSelector: selector, selector, group: G }),
    });
  if (names.has("error-rate"))
    out.push({ name: "error-rate", what: "share of model requests answered 5xx", query: errorRate(selector, window, G) });
  if (names.has("latency-p99"))
    out.push({ name: "latency-p99", what: "p99 latency of model requests", query: latencyQuantile(0.99, selector, window, G) });
  if (names.has("click-through")) {
    const now = clickThrough(selector, window, G);
    out.push({
      name: "click-through",
      what: "clicks per recommended item, this window ÷ the window before",
      query: `${now} / ${clickThrough(selector, window, G, window)}`,
    });
  }
  return out;
}

type Measured = Map<string, Record<Variant, MeasuredVariant>>;

/** One check's last window and its baseline (a failing query is that check's "no data", with the reason). */
async function measureCheck(
  source: PrometheusSource,
  check: CheckSpec,
  vars: TemplateVars,
  windows: { last: Window; previous: Window },
  log: Logger,
): Promise<Record<Variant, MeasuredVariant>> {
  const guarded = async (run: () => Promise<MeasuredVariant>, side: string): Promise<MeasuredVariant> => {
    try {
      return await run();
    } catch (error) {
      if (!(error instanceof RecshipError)) throw error;
      log.warn(`check ${check.name} (${side}): ${error.message}`);
      return { queries: [], measurement: { kind: "none", reason: error.message } };
    }
  };
  const [last, baseline] = await Promise.all([
    guarded(() => source.measure(check, vars, windows.last), "last window"),
    guarded(
      () =>
        check.against === "reference"
          ? measureReference(source, check, vars, windows.last.end)
          : source.measure(check, vars, windows.previous),
      check.against === "reference" ? "validation reference" : "previous window",
    ),
  ]);
  // the judge's sides: the judged one is called canary, its baseline stable
  return { canary: last, stable: baseline };
}

/** The report's frame; `extra` fills in what the run found. */
function watchReport(
  o: WatchOptions,
  at: { started: number; ended: number; windows: { last: Window; previous: Window } },
  status: WatchStatus,
  reason: string,
  extra: Partial<WatchReport> = {},
): WatchReport {
  return {
    schema: 1,
    tool: "recship monitor-canary",
    recshipVersion: RECSHIP_VERSION,
    mode: "watch",
    status,
    reason,
    breached: [],
    unjudged: [],
    window: windowJson(at.windows.last),
    previousWindow: windowJson(at.windows.previous),
    stable: { version: null, from: null },
    source: { kind: "prometheus", description: o.source.description },
    target: o.target?.name ?? null,
    settings: o.settings,
    checks: [],
    follow: [],
    warnings: [],
    startedAt: new Date(at.started).toISOString(),
    endedAt: new Date(at.ended).toISOString(),
    seconds: (at.ended - at.started) / 1000,
    ...extra,
  };
}

/** Every check measured and judged over the windows, for the version in `vars`. */
async function judgeWindow(
  o: WatchOptions,
  vars: TemplateVars,
  windows: { last: Window; previous: Window },
): Promise<Partial<WatchReport>> {
  const s = o.settings;
  await o.source.validate(o.checks, vars, windows.last.end);
  const measured: Measured = new Map();
  for (const check of o.checks) measured.set(check.name, await measureCheck(o.source, check, vars, windows, o.log));
  const judge = new Judge(o.checks, { confidence: s.confidence, plannedLooks: 1, sides: (spec) => watchSides(spec, s.windowSeconds) });
  const results = judge.look(measured, windows.last, { weight: 100 });
  const decision = watchDecision(results, o.checks);
  const specs = new Map(o.checks.map((c) => [c.name, c]));
  const selector = renderTemplate('variant="stable",version="$version",namespace=~"$namespace"', vars);
  return {
    status: decision.status,
    reason: decision.reason,
    breached: decision.breached,
    unjudged: decision.unjudged,
    checks: results.map((r) => {
      const m = measured.get(r.name);
      return asWatchResult(r, specs.get(r.name), { last: m?.canary.queries ?? [], baseline: m?.stable.queries ?? [] });
    }),
    follow: followQueries(o.checks, selector, vars.interval),
    warnings: o.checks.some((c) => c.critical) ? [] : ["no check is critical: the watch can never raise drift"],
  };
}

/**
 * The drift watch (monitor-canary mode watch): judges production's last window, the stable
 * variant only, against the window before it and against the model's validation reference, with
 * the canary's statistics (one look; Holm over the critical checks). Moves no traffic. Prometheus
 * unreachable, or no production model to be found, is an inconclusive report, never healthy.
 */
export async function watchProduction(o: WatchOptions): Promise<WatchReport> {
  const clock = o.clock ?? realClock;
  const started = clock.now();
  const s = o.settings;
  const windows = watchWindows(started, s.windowSeconds);
  const vars: TemplateVars = { variant: "stable", version: "", namespace: s.namespace, interval: promDuration(s.windowSeconds * 1000) };
  const done = (status: WatchStatus, reason: string, extra: Partial<WatchReport> = {}) =>
    watchReport(o, { started, ended: clock.now(), windows }, status, reason, extra);
  const span = `${windowJson(windows.last).start} → ${windowJson(windows.last).end}`;
  o.log.info(`watching production over ${span} (one ${windowName(s.windowSeconds)}) with ${o.source.description}`);
  try {
    const stable = await productionVersion(o, vars, windows.last.end);
    if (!stable) {
      return done(
        "inconclusive",
        `no production model answered requests in the window: Prometheus has no model requests of variant stable (namespace ${s.namespace})`,
      );
    }
    vars.version = stable.version!;
    const found = await judgeWindow(o, vars, windows);
    o.log.info(`${found.status}: ${found.reason}`);
    return done(found.status!, found.reason!, { ...found, stable });
  } catch (error) {
    if (!(error instanceof SourceUnavailable)) throw error;
    return done("inconclusive", `the metrics source is unreachable (${error.message}): nothing was judged`);
  }
}

/** The version watched: given, else the deploy target's stable, else the busiest stable version in Prometheus. */
async function productionVersion(
  o: WatchOptions,
  vars: TemplateVars,
  at: number,
): Promise<{ version: string; from: "given" | "target" | "prometheus" } | undefined> {
  if (o.version) return { version: o.version, from: "given" };
  const status = o.target ? await o.target.status() : undefined;
  if (status?.stable?.version) return { version: status.stable.version, from: "target" };
  if (o.target) {
    throw new RecshipError(`no stable model runs on the ${o.target.name} target`, {
      fix: "deploy one, pass stable-version, or use target none (the stable version Prometheus saw answer most in the window)",
    });
  }
  const version = await busiestStableVersion(o.source, vars, at);
  return version ? { version, from: "prometheus" } : undefined;
}

/**
 * What a watch run reads from monitor-canary's options, for both front ends: its settings, its
 * checks and the Prometheus source (the deploy target and the issue stay with the front end).
 */
export function watchOptionsFrom(
  o: OptionReader,
  authorization: string | undefined,
  rest: Pick<WatchOptions, "target" | "log">,
): WatchOptions {
  return {
    settings: watchSettingsFrom(o),
    checks: loadChecks(o.text("checks"), { for: "watch" }),
    source: createWatchSource(sourceOptionsFrom(o, authorization)),
    ...(rest.target ? { target: rest.target } : {}),
    version: o.text("stable-version"),
    log: rest.log,
  };
}
