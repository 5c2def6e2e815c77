/**
 * monitor-canary's fault and A/A experiments on the local target with a real Prometheus:
 *
 *   npm run bench:canary -- --runs 10 --report bench/canary.json
 *
 * Each run deploys a canary of the same model beside stable (weight 0), starts simulated
 * shoppers (recommendations, clicks, add-to-cart through the router), and runs the analysis
 * (steps 10, 25, 50, 100 %) with Prometheus scraping both servers every second. Faults go into
 * the canary only: errors (+5 percentage points of 500s), latency (every model request 1.5×
 * as long: p99 +50 %), ctr (shoppers click the canary's recommendations 20 % less). A/A runs
 * have no fault. Then three single scenarios: Prometheus stopped mid-analysis, an empty query
 * result, and low traffic. Writes faults.<name>.{runs, rolledBack, medianIntervals}, aa.{runs,
 * promoted} and every run's details. Each canary first gets 3000 requests pinned to it (a fresh
 * Node process is ~10 % slower for its first thousand: the JIT); --cold-canary skips that.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { monitorCanary } from "../shared/canary/analysis.js";
import { loadChecks } from "../shared/canary/checks-file.js";
import type { MonitorReport } from "../shared/canary/report.js";
import { defaultSettings } from "../shared/canary/settings.js";
import { PrometheusSource } from "../shared/canary/sources/prometheus-source.js";
import { ScrapeSource } from "../shared/canary/sources/scrape-source.js";
import type { MetricSource } from "../shared/canary/sources/source.js";
import { LocalTarget } from "../shared/deploy/local/local-target.js";
import { consoleLogger, silentLogger } from "../shared/log.js";
import { FAULT_INJECTION_ENV, type FaultInjection } from "../shared/serve/faults.js";
import { prometheusInstalled, startPrometheus, type PrometheusProcess } from "../test/helpers/prometheus.js";
import { buildServeBundle } from "../test/helpers/serve-bundle.js";
import { recshipCommand } from "../test/helpers/serve-process.js";
import { startShopper, warmUp } from "../test/helpers/shopper.js";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "10" },
    "aa-runs": { type: "string" },
    report: { type: "string", default: "bench/canary.json" },
    interval: { type: "string", default: "10" },
    rate: { type: "string", default: "200" },
    steps: { type: "string", default: "10,25,50,100" },
    only: { type: "string", default: "errors,latency,ctr,aa,scenarios" },
    scrape: { type: "boolean", default: false },
    "cold-canary": { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
  },
});
const runs = Number(args.runs);
const aaRuns = Number(args["aa-runs"] ?? 2 * runs);
const interval = Number(args.interval);
const rate = Number(args.rate);
const steps = args.steps.split(",").map(Number);
const only = new Set(args.only.split(","));
if (!args.scrape && !prometheusInstalled()) throw new Error("Prometheus is not installed (apt-get install prometheus), or pass --scrape");

interface Scenario {
  name: string;
  faults?: FaultInjection;
  canaryClickFactor?: number;
  rate?: number;
  checks?: string;
  stopPrometheusAfter?: number;
  maxIntervals?: number;
}
const FAULTS: Record<string, Scenario> = {
  errors: { name: "errors", faults: { errorRate: 0.05 } },
  latency: { name: "latency", faults: { latencyFactor: 1.5 } },
  ctr: { name: "ctr", canaryClickFactor: 0.8 },
};

const work = mkdtempSync(join(tmpdir(), "recship-bench-canary-"));
const statePath = join(work, "state", "deploy.json");
const serveArgs = ["--max-delay-ms", "0", "--threads", "1"];
const target = new LocalTarget({ state: statePath, command: recshipCommand(), port: 0, log: silentLogger, serveArgs });
const faultyTarget = new LocalTarget({
  state: statePath,
  command: recshipCommand(),
  port: 0,
  log: silentLogger,
  serveArgs: [...serveArgs, "--allow-fault-injection"],
});
const log = args.verbose ? consoleLogger() : silentLogger;
let prometheus: PrometheusProcess | undefined;

function note(message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

interface RunResult {
  scenario: string;
  verdict: MonitorReport["verdict"];
  intervals: number;
  seconds: number;
  reason: string;
  /** What the fault did, as measured: canary vs stable at the last look. */
  measured: Record<string, unknown>;
}

async function runOnce(s: Scenario, items: string[], bundleDir: string): Promise<{ result: RunResult; report: MonitorReport }> {
  if (s.faults) process.env[FAULT_INJECTION_ENV] = JSON.stringify(s.faults);
  try {
    await (s.faults ? faultyTarget : target).deploy({ mode: "canary", bundle: bundleDir, weight: 0 });
  } finally {
    delete process.env[FAULT_INJECTION_ENV];
  }
  const status = await target.status();
  // a fresh process answers ~10 % slower for its first thousand requests (the JIT): warm the canary
  // as a readiness warm-up would, unless --cold-canary (then the latency check may hold A/A canaries)
  if (!args["cold-canary"]) await warmUp(status.endpoint!, items, "canary");
  const endpoints = [status.stable!.endpoint, status.canary!.endpoint];
  let own: PrometheusProcess | undefined;
  let source: MetricSource;
  if (args.scrape) source = new ScrapeSource({ endpoints: { stable: endpoints[0], canary: endpoints[1] } });
  else if (s.stopPrometheusAfter !== undefined) {
    own = await startPrometheus({ dir: join(work, `prometheus-${s.name}`), targets: endpoints.map((e) => e.replace("http://", "")) });
    source = new PrometheusSource({ url: own.url });
  } else {
    prometheus!.setTargets(endpoints.map((e) => e.replace("http://", "")));
    source = new PrometheusSource({ url: prometheus!.url });
  }
  const shopper = startShopper({
    endpoint: status.endpoint!,
    items,
    rate: s.rate ?? rate,
    canaryClickFactor: s.canaryClickFactor ?? 1,
    seed: Math.floor(Math.random() * 1e9),
  });
  const started = performance.now();
  let report: MonitorReport;
  try {
    report = await monitorCanary({
      source,
      checks: loadChecks(s.checks),
      settings: defaultSettings({
        steps,
        intervalSeconds: interval,
        warmupSeconds: 60,
        ...(s.maxIntervals ? { maxIntervals: s.maxIntervals } : {}),
      }),
      target,
      log,
      onInterval: async (iv) => {
        if (own && s.stopPrometheusAfter === iv.index) await own.stop();
      },
    });
  } finally {
    await shopper.stop();
    await own?.stop();
    if (own) rmSync(own.dataDir, { recursive: true, force: true });
  }
  // a held canary is left for a human in production; here the next run needs a clean slate
  if ((await target.status()).canary) await target.deploy({ mode: "rollback" });
  const c = (name: string) => report.checks.find((x) => x.name === name);
  const measured: Record<string, unknown> = {
    errorRate: { canary: c("error-rate")?.canary.cumulativeValue, stable: c("error-rate")?.stable.cumulativeValue },
    p99Seconds: { canary: c("latency-p99")?.canary.cumulativeValue, stable: c("latency-p99")?.stable.cumulativeValue },
    latencyHodgesLehmann: c("latency-p99")?.hodgesLehmann ?? null,
    clickThrough: { canary: c("click-through")?.canary.cumulativeValue, stable: c("click-through")?.stable.cumulativeValue },
    decisions: Object.fromEntries(report.checks.map((x) => [x.name, x.decision])),
  };
  const result: RunResult = {
    scenario: s.name,
    verdict: report.verdict,
    intervals: report.steps.flatMap((st) => st.intervals).filter((i) => i.status === "measured").length,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    reason: report.reason,
    measured,
  };
  return { result, report };
}

function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function main(): Promise<void> {
  const benchStarted = performance.now();
  note(`building a small model bundle in ${work}`);
  const bundle = await buildServeBundle(work, 11);
  await target.deploy({ mode: "direct", bundle: bundle.dir });
  if (!args.scrape) prometheus = await startPrometheus({ dir: join(work, "prometheus"), scrapeIntervalSeconds: 1 });
  const out: Record<string, unknown> = {
    settings: {
      runs,
      aaRuns,
      intervalSeconds: interval,
      ratePerSecond: rate,
      steps,
      confidence: 0.98,
      source: args.scrape ? "scrape" : "prometheus",
      canaryWarmUp: args["cold-canary"] ? 0 : 3000,
      loadAverageAtStart: loadavg(),
    },
    faults: {},
  };
  const all: RunResult[] = [];
  for (const [name, scenario] of Object.entries(FAULTS)) {
    if (!only.has(name)) continue;
    const results: RunResult[] = [];
    for (let i = 0; i < runs; i++) {
      const { result } = await runOnce(scenario, bundle.items, bundle.dir);
      results.push(result);
      all.push(result);
      note(
        `[${name} ${i + 1}/${runs}] ${result.verdict} after ${result.intervals} interval(s), ${result.seconds}s: ${result.reason.slice(0, 160)}`,
      );
    }
    const rolled = results.filter((r) => r.verdict === "rolled_back");
    (out.faults as Record<string, unknown>)[name] = {
      runs: results.length,
      rolledBack: rolled.length,
      rolledBackWithin3: rolled.filter((r) => r.intervals <= 3).length,
      medianIntervals: median(rolled.map((r) => r.intervals)),
      maxIntervals: rolled.length ? Math.max(...rolled.map((r) => r.intervals)) : null,
      verdicts: results.map((r) => r.verdict),
      runsDetail: results,
    };
  }
  if (only.has("aa")) {
    const results: RunResult[] = [];
    for (let i = 0; i < aaRuns; i++) {
      const { result } = await runOnce({ name: "aa" }, bundle.items, bundle.dir);
      results.push(result);
      all.push(result);
      note(
        `[aa ${i + 1}/${aaRuns}] ${result.verdict} after ${result.intervals} interval(s), ${result.seconds}s: ${result.reason.slice(0, 160)}`,
      );
    }
    out.aa = {
      runs: results.length,
      promoted: results.filter((r) => r.verdict === "promoted").length,
      rolledBack: results.filter((r) => r.verdict === "rolled_back").length,
      inconclusive: results.filter((r) => r.verdict === "inconclusive").length,
      medianIntervals: median(results.map((r) => r.intervals)),
      runsDetail: results,
    };
  }
  if (only.has("scenarios")) {
    const scenarios: Record<string, unknown> = {};
    if (!args.scrape) {
      const { result, report } = await runOnce({ name: "prometheus-stopped", stopPrometheusAfter: 0 }, bundle.items, bundle.dir);
      scenarios.prometheusStopped = {
        verdict: result.verdict,
        promoted: result.verdict === "promoted",
        intervals: report.steps.flatMap((s) => s.intervals).map((i) => `${i.status}:${i.action}`),
        reason: result.reason,
      };
      note(`[prometheus stopped] ${result.verdict}: ${result.reason.slice(0, 160)}`);
      const empty = [
        "checks:",
        "  - name: purchases",
        "    kind: proportion",
        '    numerator: sum(increase(recship_purchases_total{variant="$variant",version="$version"}[$interval]))',
        '    denominator: sum(increase(recship_purchases_total{variant="$variant",version="$version"}[$interval]))',
        "    direction: higher",
        "    critical: false",
      ].join("\n");
      const e = await runOnce({ name: "empty-query", checks: empty }, bundle.items, bundle.dir);
      const check = e.report.checks.find((c) => c.name === "purchases")!;
      scenarios.emptyQuery = {
        verdict: e.result.verdict,
        decision: check.decision,
        noData: check.noData,
        message: check.message,
        query: check.query,
      };
      note(`[empty query] ${check.decision}: ${check.message}`);
    }
    const low = await runOnce({ name: "low-traffic", rate: 2, maxIntervals: 5 }, bundle.items, bundle.dir);
    scenarios.lowTraffic = {
      verdict: low.result.verdict,
      promoted: low.result.verdict === "promoted",
      intervals: low.result.intervals,
      reason: low.result.reason,
    };
    note(`[low traffic] ${low.result.verdict}: ${low.result.reason.slice(0, 160)}`);
    out.scenarios = scenarios;
  }
  out.seconds = Math.round((performance.now() - benchStarted) / 1000);
  out.loadAverageAtEnd = loadavg();
  const reportPath = resolve(args.report);
  mkdirSync(dirname(reportPath), { recursive: true });
  writeFileSync(reportPath, `${JSON.stringify(out, null, 2)}\n`);
  const summary = Object.entries(
    out.faults as Record<string, { runs: number; rolledBack: number; medianIntervals: number | null; rolledBackWithin3: number }>,
  ).map(([k, v]) => `${k}: rolled back ${v.rolledBack}/${v.runs} (within 3 intervals ${v.rolledBackWithin3}, median ${v.medianIntervals})`);
  if (out.aa) summary.push(`aa: promoted ${(out.aa as { promoted: number }).promoted}/${aaRuns}`);
  note(`${summary.join("; ")}; ${out.seconds}s; report ${reportPath}`);
}

try {
  await main();
} finally {
  await prometheus?.stop();
  await target.teardown().catch(() => {});
  rmSync(work, { recursive: true, force: true });
}
