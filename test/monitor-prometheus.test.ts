import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { monitorCanary, type MonitorOptions } from "../shared/canary/analysis.js";
import { loadChecks } from "../shared/canary/checks-file.js";
import { jumpingClock } from "../shared/canary/clock.js";
import { defaultSettings } from "../shared/canary/settings.js";
import { bucketQuantile } from "../shared/stats/histogram.js";
import { PrometheusSource } from "../shared/canary/sources/prometheus-source.js";
import type { DeployRequest, DeployResult, DeployStatus, DeployTarget } from "../shared/rollout/target.js";
import { isRecshipError } from "../shared/errors.js";
import { memoryLogger } from "../shared/log.js";
import { monitorMarkdown } from "../shared/report/monitor-summary.js";
import {
  backfillOpenMetrics,
  recordServerSeries,
  startPrometheus,
  type PrometheusProcess,
  type RecordedVariant,
} from "./helpers/prometheus.js";
import { tempDir } from "./helpers/tmp.js";

/**
 * The judge over real PromQL: deterministic traffic of one stable and several canaries
 * (each its own model version) is written as TSDB blocks with promtool, a real Prometheus
 * serves them, and the analysis runs on a clock that jumps through the recorded half hour.
 */
const dir = tempDir("recship-monitor-prom-");
const T0 = 1_700_000_000; // seconds
const START = (T0 + 120) * 1000; // the analysis starts two minutes into the recording
let prometheus: PrometheusProcess;
let dataText: string;

/** Deterministic log-normal latencies around 1 ms: the i-th of n quantiles. */
function latency(i: number, n: number, factor = 1): number {
  const u = (i + 0.5) / n;
  return factor * 0.001 * Math.exp(0.6 * (Math.log(u / (1 - u)) / 1.702));
}

function variant(
  name: string,
  version: string,
  o: { rps: number; errorRate?: number; latencyFactor?: number; clickRate?: number; scoreShift?: number },
): RecordedVariant {
  let errorsSoFar = 0;
  let requestsSoFar = 0;
  return {
    labels: { model: "recommender", version, variant: name },
    second(t) {
      // fractional rates spread evenly over the seconds
      const requests = Math.floor(o.rps * t) - Math.floor(o.rps * (t - 1));
      requestsSoFar += requests;
      const errors = Math.floor(requestsSoFar * (o.errorRate ?? 0.002)) - errorsSoFar;
      errorsSoFar += errors;
      const ok = requests - errors;
      return {
        requests,
        errors,
        latencies: Array.from({ length: requests }, (_, i) => latency((i * 37 + t) % requests, requests, o.latencyFactor)),
        served: ok * 4,
        clicks: Math.round(ok * 4 * (o.clickRate ?? 0.4)),
        scores: Array.from({ length: ok * 4 }, (_, i) => 1 + ((i * 7 + t) % 9) + (o.scoreShift ?? 0)),
      };
    },
  };
}

const CANARIES: Record<string, Parameters<typeof variant>[2]> = {
  aa: { rps: 50 },
  errors: { rps: 50, errorRate: 0.06 },
  slow: { rps: 50, latencyFactor: 1.5 },
  clicks: { rps: 50, clickRate: 0.32 },
  low: { rps: 0.05 },
};

beforeAll(async () => {
  dataText = recordServerSeries(
    [variant("stable", "s1", { rps: 100 }), ...Object.entries(CANARIES).map(([v, o]) => variant("canary", v, o))],
    T0,
    900,
    5,
  );
  prometheus = await startPrometheus({ dir: join(dir, "main"), dataDir: backfillOpenMetrics(dataText, join(dir, "blocks-main")) });
});

afterAll(async () => {
  await prometheus?.stop();
});

/** A deploy target that only records what it is asked to do. */
class RecordingTarget implements DeployTarget {
  readonly name = "recording";
  readonly calls: DeployRequest[] = [];
  weight = 0;
  constructor(private readonly canary: string) {}
  async status(): Promise<DeployStatus> {
    return {
      target: this.name,
      stable: { variant: "stable", version: "s1", bundle: "-", endpoint: "-", ready: true },
      canary: { variant: "canary", version: this.canary, bundle: "-", endpoint: "-", ready: true },
      canaryWeight: this.weight,
    };
  }
  async deploy(request: DeployRequest): Promise<DeployResult> {
    this.calls.push(request);
    const before = await this.status();
    if (request.mode === "set-weight") this.weight = request.weight!;
    if (request.mode === "promote") this.weight = 100;
    if (request.mode === "rollback") this.weight = 0;
    return { mode: request.mode, before, after: await this.status(), seconds: 0 };
  }
  async teardown(): Promise<void> {}
}

async function analyse(canary: string, extra: Pick<Partial<MonitorOptions>, "onInterval"> & { checks?: string; url?: string } = {}) {
  const target = new RecordingTarget(canary);
  const log = memoryLogger();
  const report = await monitorCanary({
    source: new PrometheusSource({ url: extra.url ?? prometheus.url, retries: 1, retryDelayMs: 20, timeoutMs: 5_000 }),
    checks: loadChecks(extra.checks),
    settings: defaultSettings({ intervalSeconds: 60, warmupSeconds: 30 }),
    target,
    clock: jumpingClock(START),
    log,
    ...(extra.onInterval ? { onInterval: extra.onInterval } : {}),
  });
  return { report, target, log };
}

const intervals = (r: Awaited<ReturnType<typeof analyse>>["report"]) => r.steps.flatMap((s) => s.intervals);

describe("monitor-canary over recorded traffic in a real Prometheus", () => {
  it("promotes a canary that behaves like stable, moving traffic step by step through the target", async () => {
    const { report, target } = await analyse("aa");
    expect(report.verdict).toBe("promoted");
    expect(target.calls).toEqual([
      { mode: "set-weight", weight: 10 },
      { mode: "set-weight", weight: 25 },
      { mode: "set-weight", weight: 50 },
      { mode: "promote" },
    ]);
    expect(intervals(report).map((i) => [i.weight, i.action])).toEqual([
      [10, "next-step"],
      [25, "next-step"],
      [50, "promote"],
    ]);
    expect(report.steps.map((s) => s.outcome)).toEqual(["completed", "completed", "completed", "promoted"]);
    for (const name of ["error-rate", "latency-p99", "click-through"])
      expect(report.checks.find((c) => c.name === name)?.decision).toBe("pass");
    expect(report.finalWeight).toBe(100);
  });

  it("stops a canary with 6 % errors at the first interval and rolls it back, explaining why", async () => {
    const { report, target } = await analyse("errors");
    expect(report.verdict).toBe("rolled_back");
    expect(target.calls).toEqual([{ mode: "set-weight", weight: 10 }, { mode: "rollback" }]);
    expect(intervals(report)).toHaveLength(1);
    const check = report.checks.find((c) => c.name === "error-rate")!;
    expect(check).toMatchObject({ decision: "fail", critical: true });
    expect(check.query).toBe(
      'sum(increase(recship_http_requests_total{route=~"/v1/recommend|/v2/models/:name/infer",status=~"5..",variant="canary",version="errors",namespace=~".*"}[60s]))',
    );
    expect(check.canary.value).toBeCloseTo(0.06, 2);
    expect(check.stable.value).toBeCloseTo(0.002, 2);
    expect(check.pValue).toBeLessThan(0.02);
    expect(check.statistic).toBeGreaterThan(3);
    expect(report.reason).toMatch(/^error-rate: Canary worse beyond the margin: canary 6\.\d\d% \(\d+ of \d+\) vs stable 0\.\d\d%/);
    const md = monitorMarkdown(report);
    expect(md.split("\n")[0]).toBe("## recship monitor-canary: ⛔ rolled back");
    expect(md).toContain(check.query);
  });

  it("compares latency distributions where both carry the same load, and rolls back a 1.5× slower canary there", async () => {
    const { report } = await analyse("slow");
    expect(report.verdict).toBe("rolled_back");
    const all = intervals(report);
    expect(all.map((i) => i.weight)).toEqual([10, 25, 50]);
    expect(all[0].checks.find((c) => c.name === "latency-p99")!.message).toMatch(/Judged from 50% canary weight/);
    const latency = report.checks.find((c) => c.name === "latency-p99")!;
    expect(latency.decision).toBe("fail");
    expect(latency.hodgesLehmann).toBeGreaterThan(1.35);
    expect(latency.hodgesLehmann).toBeLessThan(1.7);
    // the p99 shown is Prometheus' histogram_quantile, and the judge's own bucket arithmetic agrees with it
    const data = latency.canary.data as { buckets: { le: string; count: number }[] };
    const mine = bucketQuantile(
      0.99,
      data.buckets.map((b) => ({ le: b.le === "+Inf" ? Infinity : Number(b.le), count: b.count })),
    );
    expect(latency.canary.value).toBeCloseTo(mine, 6);
    expect(latency.queries[0]).toMatch(/^histogram_quantile\(0\.99, sum by \(le\) \(rate\(recship_http_request_duration_seconds_bucket\{/);
  });

  it("rolls back 20 % fewer clicks on the canary's recommendations", async () => {
    const { report } = await analyse("clicks");
    expect(report.verdict).toBe("rolled_back");
    const ctr = report.checks.find((c) => c.name === "click-through")!;
    expect(ctr.decision).toBe("fail");
    expect(ctr.effect.estimate).toBeCloseTo(0.8, 2);
  });

  it("holds a canary with too little traffic instead of passing it", async () => {
    const { report, target } = await analyse("low");
    expect(report.verdict).toBe("inconclusive");
    expect(target.calls.map((c) => c.mode)).not.toContain("promote");
    expect(target.calls.map((c) => c.mode)).not.toContain("rollback");
    const errors = report.checks.find((c) => c.name === "error-rate")!;
    expect(errors.decision).toBe("inconclusive");
    expect(errors.message).toMatch(/Too little traffic in this interval \(canary 3, stable 6000; needs 50 each\)/);
    expect(intervals(report).length).toBe(7);
    expect(report.reason).toMatch(/held at 50%/);
  });

  it("reports an empty query result as inconclusive with the query that gave it, and a critical check with no data rolls back", async () => {
    const nothing = (critical: boolean) =>
      [
        "checks:",
        "  - name: purchases",
        "    kind: proportion",
        '    numerator: sum(increase(recship_purchases_total{variant="$variant",version="$version"}[$interval]))',
        '    denominator: sum(increase(recship_purchases_total{variant="$variant",version="$version"}[$interval]))',
        "    direction: higher",
        `    critical: ${critical}`,
      ].join("\n");
    const soft = await analyse("aa", { checks: nothing(false) });
    expect(soft.report.verdict).toBe("promoted");
    const purchases = soft.report.checks.find((c) => c.name === "purchases")!;
    expect(purchases).toMatchObject({
      decision: "inconclusive",
      noData: true,
      canary: { value: null, detail: "no data: the denominator query returned no series" },
    });
    expect(purchases.message).toMatch(/^No data for canary and stable yet \(the denominator query returned no series\)/);
    expect(purchases.queries[1]).toBe('sum(increase(recship_purchases_total{variant="canary",version="aa"}[60s]))');

    const hard = await analyse("aa", { checks: nothing(true) });
    expect(hard.report.verdict).toBe("rolled_back");
    expect(hard.report.reason).toMatch(/critical check\(s\) purchases had no data by the end/);
  });

  it("refuses a query Prometheus rejects before it changes anything", async () => {
    const bad = 'checks:\n  - name: broken\n    kind: series\n    query: sum(rate(up{variant="$variant"}[$interval])\n    direction: lower';
    const error = await analyse("aa", { checks: bad }).catch((e: unknown) => e);
    expect(isRecshipError(error)).toBe(true);
    expect((error as Error).message).toMatch(/check "broken": Prometheus rejected the query \(bad_data\)/);
  });

  it("holds, never promotes, when Prometheus stops in the middle of the analysis", async () => {
    const own = await startPrometheus({ dir: join(dir, "stopping"), dataDir: backfillOpenMetrics(dataText, join(dir, "blocks-stopping")) });
    try {
      const { report, target } = await analyse("aa", {
        url: own.url,
        onInterval: async (interval) => {
          if (interval.index === 0) await own.stop();
        },
      });
      expect(report.verdict).toBe("inconclusive");
      expect(target.calls).toEqual([
        { mode: "set-weight", weight: 10 },
        { mode: "set-weight", weight: 25 },
      ]);
      const all = intervals(report);
      expect(all.map((i) => [i.status, i.action])).toEqual([
        ["measured", "next-step"],
        ["source-unavailable", "retry"],
        ["source-unavailable", "retry"],
        ["source-unavailable", "hold"],
      ]);
      expect(report.reason).toMatch(/unreachable for 3 intervals in a row .*held at 25%/);
    } finally {
      await own.stop();
    }
  });
});
