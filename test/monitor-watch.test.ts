import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { builtinChecks, watchBuiltinChecks } from "../shared/canary/builtin-checks.js";
import { loadChecks } from "../shared/canary/checks-file.js";
import { Judge, type CheckResult } from "../shared/canary/judge.js";
import { parseInputs } from "../shared/canary/options.js";
import { parseWindow } from "../shared/canary/settings.js";
import type { Bucket, CheckSpec, MeasuredVariant } from "../shared/canary/types.js";
import { watchWindows } from "../shared/canary/watch.js";
import { asWatchResult, watchDecision, watchSides, type WatchReport } from "../shared/canary/watch-decision.js";
import { nextIssueState, publishWatch, readIssueState, watchIssueMarker } from "../shared/canary/watch-issue.js";
import { isRecshipError } from "../shared/errors.js";
import { githubClient } from "../shared/github/client.js";
import { memoryLogger } from "../shared/log.js";
import { watchMarkdown } from "../shared/report/watch-summary.js";
import { ACTIONS_BOT_LOGIN, startFakeGitHub, type FakeGitHub } from "./helpers/github-server.js";

// The drift watch apart from Prometheus and the servers (monitor-watch-e2e.test.ts has those):
// its decision from the judge's results, the judge worded for windows, the window arithmetic,
// and its issue and retraining against the GitHub REST emulator.

/** mulberry32, so the drawn samples are the same every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BOUNDS = [1, 2, 3, 4, 5, 6, 7, 8, Infinity];

/** `n` draws from normal(mean, 1) as cumulative buckets over BOUNDS. */
function drawBuckets(n: number, mean: number, seed: number): MeasuredVariant {
  const rand = random(seed);
  const counts = BOUNDS.map(() => 0);
  for (let i = 0; i < n; i++) {
    const z = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
    counts[BOUNDS.findIndex((b) => mean + z <= b)]++;
  }
  let total = 0;
  const buckets: Bucket[] = BOUNDS.map((le, i) => ({ le, count: (total += counts[i]) }));
  return { queries: [], measurement: { kind: "buckets", buckets } };
}

const counts = (successes: number, trials: number): MeasuredVariant => ({
  queries: [],
  measurement: { kind: "counts", successes, trials },
});
const check = (name: string) => watchBuiltinChecks().find((c) => c.name === name)!;

/** One window judged as the watch judges it (one look, the watch's sides). */
function judge(checks: CheckSpec[], measured: Record<string, { last: MeasuredVariant; baseline: MeasuredVariant }>): CheckResult[] {
  const j = new Judge(checks, { confidence: 0.98, plannedLooks: 1, sides: (spec) => watchSides(spec, 3600) });
  const map = new Map(Object.entries(measured).map(([k, v]) => [k, { canary: v.last, stable: v.baseline }]));
  return j.look(map, { start: 0, end: 3_600_000 }, { weight: 100 });
}

describe("the drift watch's checks and decision", () => {
  it("starts from the canary's built-ins with latency not critical, adds two checks against validation; a checks file sets either set", () => {
    const watch = loadChecks(undefined, { for: "watch" });
    expect(watch.map((c) => c.name)).toEqual([
      "error-rate",
      "latency-p99",
      "click-through",
      "add-to-cart",
      "score-drift",
      "top-score-vs-validation",
      "popularity-vs-validation",
    ]);
    expect(watch.find((c) => c.name === "latency-p99")).toMatchObject({ critical: false });
    expect(watch.find((c) => c.name === "latency-p99")?.fromWeight).toBeUndefined();
    expect(watch.filter((c) => c.against === "reference").map((c) => c.critical)).toEqual([true, true]);
    const file = "builtins:\n  top-score-vs-validation:\n    margin: 0.3\n  latency-p99:\n    critical: true\n";
    const tuned = loadChecks(file, { for: "watch" });
    expect(tuned.find((c) => c.name === "top-score-vs-validation")?.margin).toBe(0.3);
    expect(tuned.find((c) => c.name === "latency-p99")?.critical).toBe(true);
    // the same file in a canary workflow: the watch-only built-in is ignored, the shared one applies
    const canary = loadChecks(file);
    expect(canary.map((c) => c.name)).toEqual(builtinChecks().map((c) => c.name));
    expect(canary.find((c) => c.name === "latency-p99")?.critical).toBe(true);
  });

  it("a shifted score distribution breaches against validation, worded for a reader; the same distribution holds", () => {
    const top = check("top-score-vs-validation");
    const drifted = judge([top], { [top.name]: { last: drawBuckets(3000, 5.2, 1), baseline: drawBuckets(2000, 4.5, 2) } })[0];
    expect(drifted.decision).toBe("fail");
    expect(drifted.statistic!).toBeGreaterThan(0.2);
    expect(drifted.message).toMatch(/^Drifted beyond the threshold \(last hour against validation\): PSI 0\.\d+ over 8 buckets/);
    expect(drifted.message).not.toMatch(/Bonferroni|canary|stable/);
    const same = judge([top], { [top.name]: { last: drawBuckets(3000, 4.5, 3), baseline: drawBuckets(2000, 4.5, 4) } })[0];
    expect(same.decision).toBe("pass");
    expect(same.message).toMatch(/^No drift beyond the threshold/);
  });

  it("compares a rate with the previous window in the window's words", () => {
    const r = judge([check("error-rate")], { "error-rate": { last: counts(400, 5000), baseline: counts(5, 5000) } })[0];
    expect(r.decision).toBe("fail");
    expect(r.message).toMatch(
      /^Last hour worse beyond the margin: last hour 8\.00% \(400 of 5000\) vs previous hour 0\.10% \(5 of 5000\); last hour − previous hour \+7\.90 pp/,
    );
    expect(r.message).toMatch(/evidence last hour is worse: strong/);
  });

  it("raises drift for a breached critical check only; healthy needs every critical check judged", () => {
    const checks = [check("error-rate"), check("latency-p99"), check("top-score-vs-validation")];
    const base = {
      "error-rate": { last: counts(3, 5000), baseline: counts(4, 5000) },
      "latency-p99": { last: drawBuckets(3000, 6, 5), baseline: drawBuckets(3000, 3, 6) },
      "top-score-vs-validation": { last: drawBuckets(3000, 4.5, 7), baseline: drawBuckets(2000, 4.5, 8) },
    };
    // latency far worse, but not critical in the watch: shown, never raised
    const healthy = judge(checks, base);
    expect(healthy.find((r) => r.name === "latency-p99")?.decision).toBe("fail");
    expect(watchDecision(healthy, checks)).toMatchObject({ status: "healthy", breached: [], unjudged: [] });

    const drift = judge(checks, {
      ...base,
      "top-score-vs-validation": { last: drawBuckets(3000, 5.5, 9), baseline: drawBuckets(2000, 4.5, 8) },
    });
    const d = watchDecision(drift, checks);
    expect(d).toMatchObject({ status: "drift", breached: ["top-score-vs-validation"] });
    expect(d.reason).toMatch(/^top-score-vs-validation: Drifted beyond the threshold/);

    // too little traffic for the scores, no data for the errors: nothing breached, nothing shown healthy
    const none: MeasuredVariant = { queries: [], measurement: { kind: "none", reason: "the denominator query returned no series" } };
    const thin = judge(checks, {
      ...base,
      "error-rate": { last: counts(0, 4000), baseline: none },
      "top-score-vs-validation": { last: drawBuckets(40, 4.5, 10), baseline: drawBuckets(2000, 4.5, 8) },
    });
    const t = watchDecision(thin, checks);
    expect(t).toMatchObject({ status: "inconclusive", unjudged: ["error-rate", "top-score-vs-validation"] });
    expect(t.reason).toMatch(/could not be judged: No data for previous hour yet \(the denominator query returned no series\)/);
    expect(asWatchResult(thin[0], checks[0])).toMatchObject({ against: "previous-window", judged: false, last: { samples: 4000 } });

    const nothingCritical = checks.map((c) => ({ ...c, critical: false }));
    expect(watchDecision(judge(nothingCritical, base), nothingCritical).status).toBe("inconclusive");
  });

  it("windows end at multiples of their length (UTC); durations parse as Prometheus writes them", () => {
    const at = Date.parse("2025-03-04T17:12:30Z");
    const w = watchWindows(at, 3600);
    expect(new Date(w.last.start).toISOString()).toBe("2025-03-04T16:00:00.000Z");
    expect(new Date(w.last.end).toISOString()).toBe("2025-03-04T17:00:00.000Z");
    expect(new Date(w.previous.start).toISOString()).toBe("2025-03-04T15:00:00.000Z");
    // a run delayed by the scheduler judges the same window
    expect(watchWindows(at + 40 * 60_000, 3600)).toEqual(w);
    expect([parseWindow("1h"), parseWindow("30m"), parseWindow("1h30m"), parseWindow("600"), parseWindow("1d")]).toEqual([
      3600, 1800, 5400, 600, 86400,
    ]);
    for (const bad of ["1x", "", "-5", "2s", "8d"]) expect(() => parseWindow(bad), bad).toThrow(/duration|window must be/);
    expect(parseInputs(["reason=drift watch", "epochs = 3"], "input")).toEqual({ reason: "drift watch", epochs: "3" });
    expect(() => parseInputs(["no value"], "input retrain-inputs")).toThrow(/is not name=value/);
  });

  it("the issue remembers since when and how many windows breached; a window judged twice counts once", () => {
    const s1 = nextIssueState(undefined, "2025-03-04T17:00:00.000Z");
    expect(s1).toEqual({ since: "2025-03-04T17:00:00.000Z", windows: 1, last: "2025-03-04T17:00:00.000Z" });
    const s2 = nextIssueState(s1, "2025-03-04T18:00:00.000Z");
    expect(s2).toEqual({ since: "2025-03-04T17:00:00.000Z", windows: 2, last: "2025-03-04T18:00:00.000Z" });
    expect(nextIssueState(s2, "2025-03-04T18:00:00.000Z")).toBe(s2);
    expect(readIssueState(`x\n<!-- recship:watch-state ${JSON.stringify(s2)} -->\nbody`)).toEqual(s2);
    expect(readIssueState("<!-- recship:watch-state {broken -->")).toBeUndefined();
  });
});

/** A report as watchProduction writes it, from results judged here. */
function report(status: WatchReport["status"], end: string, results: CheckResult[], checks: CheckSpec[]): WatchReport {
  const d = watchDecision(results, checks);
  const endMs = Date.parse(end);
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    schema: 1,
    tool: "recship monitor-canary",
    recshipVersion: "test",
    mode: "watch",
    status,
    reason: d.reason,
    breached: d.breached,
    unjudged: d.unjudged,
    window: { start: iso(endMs - 3_600_000), end, seconds: 3600 },
    previousWindow: { start: iso(endMs - 7_200_000), end: iso(endMs - 3_600_000), seconds: 3600 },
    stable: { version: "v1", from: "prometheus" },
    source: { kind: "prometheus", description: "Prometheus at http://127.0.0.1:9" },
    target: null,
    settings: { windowSeconds: 3600, confidence: 0.98, namespace: ".*" },
    checks: results.map((r) =>
      asWatchResult(
        r,
        checks.find((c) => c.name === r.name),
      ),
    ),
    follow: [{ name: "error-rate", what: "share of model requests answered 5xx", query: "sum(rate(x[1h]))" }],
    warnings: [],
    startedAt: end,
    endedAt: end,
    seconds: 1,
  };
}

describe("the drift watch's issue and retraining (GitHub REST emulator)", () => {
  let gh: FakeGitHub;
  const log = memoryLogger();
  const top = check("top-score-vs-validation");
  const drifted = () => judge([top], { [top.name]: { last: drawBuckets(3000, 5.5, 11), baseline: drawBuckets(2000, 4.5, 12) } });
  const fine = () => judge([top], { [top.name]: { last: drawBuckets(3000, 4.5, 13), baseline: drawBuckets(2000, 4.5, 12) } });
  const options = (retrain = true) => ({
    repo: { owner: "shop", repo: "recs" },
    model: "shop-recs",
    body: (history: string | undefined) => `body${history ? `\n${history}` : ""}`,
    ...(retrain ? { retrain: { workflow: "retrain.yml", ref: "main", inputs: { reason: "drift watch" } } } : {}),
    log,
  });

  beforeAll(async () => {
    gh = await startFakeGitHub();
  });
  afterAll(async () => {
    await gh?.close();
  });
  beforeEach(() => {
    gh.issues.length = 0;
    gh.comments.length = 0;
    gh.dispatches.length = 0;
    gh.forbiddenRoutes = [];
    gh.issuesEnabled = true;
    gh.workflows = { "retrain.yml": { id: 77, path: ".github/workflows/retrain.yml", dispatchInputs: ["reason"] } };
  });

  it("opens one issue on drift and dispatches retraining once; updates it while the drift lasts; closes it when healthy", async () => {
    const client = githubClient("t", gh.url);
    const first = await publishWatch(client, report("drift", "2025-03-04T17:00:00.000Z", drifted(), [top]), options());
    expect(first).toMatchObject({ action: "created", number: 1, retrain: "dispatched", url: "https://github.com/shop/recs/issues/1" });
    expect(gh.issues).toHaveLength(1);
    expect(gh.issues[0]).toMatchObject({ state: "open", user: { login: ACTIONS_BOT_LOGIN } });
    expect(gh.issues[0].title).toBe("recship drift watch: shop-recs (v1) drifted: top-score-vs-validation");
    expect(gh.issues[0].body.startsWith(`${watchIssueMarker("shop-recs")}\n<!-- recship:watch-state `)).toBe(true);
    expect(gh.issues[0].body).toContain("**First breach** in the window ending 2025-03-04 17:00:00 UTC");
    expect(gh.dispatches).toEqual([{ workflow: "retrain.yml", ref: "main", inputs: { reason: "drift watch" } }]);
    expect(gh.comments.filter((c) => c.issue === 1).map((c) => c.body)).toEqual([
      expect.stringMatching(/Retraining dispatched: workflow `retrain.yml` on `main`/),
    ]);

    const again = await publishWatch(client, report("drift", "2025-03-04T18:00:00.000Z", drifted(), [top]), options());
    expect(again).toMatchObject({ action: "updated", number: 1, retrain: "already" });
    expect(gh.issues).toHaveLength(1);
    expect(readIssueState(gh.issues[0].body)).toMatchObject({ windows: 2, since: "2025-03-04T17:00:00.000Z" });
    expect(gh.issues[0].body).toContain("2 windows with a breach so far");
    expect(gh.dispatches).toHaveLength(1);
    // the same window judged again (a re-run) changes nothing
    expect((await publishWatch(client, report("drift", "2025-03-04T18:00:00.000Z", drifted(), [top]), options())).action).toBe("unchanged");

    expect((await publishWatch(client, report("inconclusive", "2025-03-04T19:00:00.000Z", drifted(), [top]), options())).action).toBe(
      "none",
    );
    expect(gh.issues[0].state).toBe("open");

    const closed = await publishWatch(client, report("healthy", "2025-03-04T20:00:00.000Z", fine(), [top]), options());
    expect(closed).toMatchObject({ action: "closed", number: 1 });
    expect(gh.issues[0]).toMatchObject({ state: "closed", state_reason: "completed" });
    expect(gh.comments.at(-1)?.body).toMatch(
      /^✅ \*\*Healthy again\*\*: the window ending 2025-03-04 20:00:00 UTC held every critical check/,
    );
    expect((await publishWatch(client, report("healthy", "2025-03-04T21:00:00.000Z", fine(), [top]), options())).action).toBe("none");

    // the next drift is a new incident: a new issue, retraining dispatched again
    const next = await publishWatch(client, report("drift", "2025-03-05T09:00:00.000Z", drifted(), [top]), options());
    expect(next).toMatchObject({ action: "created", number: 2, retrain: "dispatched" });
    expect(gh.dispatches).toHaveLength(2);
  });

  it("only its own issue counts: a person's issue carrying the marker is left alone; copies from concurrent runs are closed", async () => {
    const marker = watchIssueMarker("shop-recs");
    gh.users.person = "alice";
    const client = githubClient("t", gh.url);
    const theirs = await githubClient("person", gh.url).rest.issues.create({
      owner: "shop",
      repo: "recs",
      title: "copied",
      body: `${marker}\nquoted`,
    });
    const a = await client.rest.issues.create({ owner: "shop", repo: "recs", title: "a", body: `${marker}\nfirst` });
    const b = await client.rest.issues.create({ owner: "shop", repo: "recs", title: "b", body: `${marker}\nsecond` });
    const r = await publishWatch(client, report("drift", "2025-03-04T17:00:00.000Z", drifted(), [top]), options(false));
    expect(r).toMatchObject({ action: "updated", number: a.data.number });
    const state = (n: number) => gh.issues.find((i) => i.number === n)!;
    expect(state(theirs.data.number)).toMatchObject({ state: "open", body: `${marker}\nquoted` });
    expect(state(b.data.number)).toMatchObject({ state: "closed", state_reason: "not_planned" });
    expect(gh.comments.find((c) => c.issue === b.data.number)?.body).toBe(`Duplicate of #${a.data.number}, which is kept up to date.`);
  });

  it("says which permission is missing: issues (403), issues switched off (410), actions (403), no workflow_dispatch trigger (422)", async () => {
    const client = githubClient("t", gh.url);
    const drift = report("drift", "2025-03-04T17:00:00.000Z", drifted(), [top]);
    const failure = async (retrain = true) => (await publishWatch(client, drift, options(retrain)).catch((e: unknown) => e)) as Error;

    gh.forbiddenRoutes = [{ method: "POST", path: /\/issues$/ }];
    let e = await failure();
    expect(isRecshipError(e)).toBe(true);
    expect(e.message).toMatch(/the token may not open or update the issue in shop\/recs \(HTTP 403/);
    expect((e as { fix?: string }).fix).toMatch(/permissions: issues: write/);

    gh.forbiddenRoutes = [];
    gh.issuesEnabled = false;
    expect((await failure()).message).toMatch(/issues are switched off in shop\/recs \(HTTP 410\)/);

    gh.issuesEnabled = true;
    gh.forbiddenRoutes = [{ method: "POST", path: /\/dispatches$/ }];
    e = await failure();
    expect(e.message).toMatch(/the token may not start workflow retrain.yml in shop\/recs \(HTTP 403/);
    expect((e as { fix?: string }).fix).toMatch(/permissions: actions: write/);
    expect(gh.issues).toHaveLength(1); // the issue is there; the next run dispatches again
    gh.forbiddenRoutes = [];
    expect(await publishWatch(client, drift, options())).toMatchObject({ action: "unchanged", retrain: "dispatched" });

    gh.issues.length = 0;
    gh.comments.length = 0;
    gh.workflows["retrain.yml"].dispatchInputs = null;
    e = await failure();
    expect(e.message).toMatch(/GitHub refused to start workflow retrain.yml on main: Workflow does not have 'workflow_dispatch' trigger/);
  });

  it("the report reads right: statuses, the two baselines named, the evidence legend and the PromQL to follow it", () => {
    const md = watchMarkdown(report("drift", "2025-03-04T17:00:00.000Z", drifted(), [top]), { runUrl: "https://example.test/run" });
    expect(md).toMatch(/^## recship drift watch: ⚠️ drift in production\n/);
    expect(md).toContain("last hour 2025-03-04 16:00:00 UTC → 2025-03-04 17:00:00 UTC, compared with the hour before and with validation");
    expect(md).toMatch(/\| check \| critical \| compared with \| last hour \| baseline \|/);
    expect(md).toMatch(
      /\| top-score-vs-validation \| yes \| validation \| median [\d.]+ \(3000\) \| median [\d.]+ \(2000\) \| PSI [\d.]+ \| PSI ≤ 0.2 \|/,
    );
    expect(md).toContain("| ⚠️ breached |");
    expect(md).toMatch(/PSI \(population stability index\) says how far two distributions lie apart/);
    expect(md).toContain("```promql\n  sum(rate(x[1h]))\n  ```");
  });
});
