import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builtinChecks } from "../shared/canary/builtin-checks.js";
import { loadChecks } from "../shared/canary/checks-file.js";
import { parseExposition } from "../shared/canary/sources/exposition.js";
import { ScrapeSource } from "../shared/canary/sources/scrape-source.js";
import { SourceUnavailable } from "../shared/canary/sources/source.js";
import type { TemplateVars } from "../shared/canary/types.js";
import { freePort } from "../shared/deploy/local/free-port.js";
import { ServeMetrics } from "../shared/serve/metrics.js";

/** A server exposing a model server's real series (shared/serve/metrics.ts), driven by the test. */
async function metricsServer(variant: string, version: string) {
  let metrics = new ServeMetrics({ model: "recommender", version, variant });
  metrics.ready.set(1);
  const server: Server = createServer(async (_req, res) => {
    res.writeHead(200, { "content-type": metrics.registry.contentType });
    res.end(await metrics.registry.metrics());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get metrics() {
      return metrics;
    },
    /** A restart: every counter back to 0. */
    restart() {
      metrics = new ServeMetrics({ model: "recommender", version, variant });
      metrics.ready.set(1);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

let stable: Awaited<ReturnType<typeof metricsServer>>;
let canary: Awaited<ReturnType<typeof metricsServer>>;
beforeAll(async () => {
  stable = await metricsServer("stable", "v1");
  canary = await metricsServer("canary", "v2");
});
afterAll(async () => {
  await stable?.close();
  await canary?.close();
});

const vars = (variant: "stable" | "canary"): TemplateVars => ({
  variant,
  version: variant === "stable" ? "v1" : "v2",
  namespace: ".*",
  interval: "10s",
});

function serve(m: ServeMetrics, requests: number, errors: number, seconds: number) {
  for (let i = 0; i < requests; i++) {
    m.requests.inc({ route: "/v1/recommend", method: "POST", status: i < errors ? "500" : "200" });
    m.latency.observe({ route: "/v1/recommend" }, seconds);
  }
  m.requests.inc({ route: "/v2/health/ready", method: "GET", status: "503" }, 7); // not a model route: ignored
}

describe("exposition parsing", () => {
  it("keeps every label of labelled histograms, le included", async () => {
    const m = new ServeMetrics({ model: "recommender", version: "v9", variant: "canary" });
    m.latency.observe({ route: "/v1/recommend" }, 0.003);
    m.latency.observe({ route: "/v1/feedback" }, 0.3);
    const samples = parseExposition(await m.registry.metrics(), "test");
    const buckets = samples.filter((s) => s.name === "recship_http_request_duration_seconds_bucket" && s.labels.le === "0.00455");
    expect(buckets.map((b) => [b.labels.route, b.labels.variant, b.labels.version, b.value])).toEqual([
      ["/v1/recommend", "canary", "v9", 1],
      ["/v1/feedback", "canary", "v9", 0],
    ]);
    expect(samples.find((s) => s.name === "recship_http_request_duration_seconds_count" && s.labels.route === "/v1/feedback")?.value).toBe(
      1,
    );
  });
});

describe("the scrape source", () => {
  it("measures each variant's increase between two scrapes, model routes only, and survives a restart", async () => {
    const source = new ScrapeSource({ endpoints: { stable: stable.url, canary: canary.url } });
    const checks = builtinChecks();
    const errorRate = checks.find((c) => c.name === "error-rate")!;
    const latency = checks.find((c) => c.name === "latency-p99")!;
    expect(await source.ready([vars("stable"), vars("canary")])).toMatchObject({ ready: true });
    serve(canary.metrics, 5, 5, 0.001); // before the window: not counted
    await source.mark(1000);
    serve(stable.metrics, 200, 2, 0.002);
    serve(canary.metrics, 40, 3, 0.004);
    await source.mark(2000);
    const window = { start: 1000, end: 2000 };
    expect((await source.measure(errorRate, vars("stable"), window)).measurement).toEqual({ kind: "counts", successes: 2, trials: 200 });
    const c = await source.measure(errorRate, vars("canary"), window);
    expect(c.measurement).toEqual({ kind: "counts", successes: 3, trials: 40 });
    expect(c.queries[0]).toMatch(
      /^scrape http:\/\/127\.0\.0\.1:\d+\/metrics: increase of recship_http_requests_total\{route=~".*",status=~"5\.\."/,
    );
    const lat = (await source.measure(latency, vars("canary"), window)).measurement;
    expect(lat.kind).toBe("buckets");
    if (lat.kind === "buckets") {
      expect(lat.buckets.find((b) => b.le === 0.00364)?.count).toBe(0);
      expect(lat.buckets.find((b) => b.le === 0.00455)?.count).toBe(40);
      expect(lat.buckets.find((b) => b.le === Infinity)?.count).toBe(40);
    }
    canary.restart();
    serve(canary.metrics, 10, 1, 0.004);
    await source.mark(3000);
    expect((await source.measure(errorRate, vars("canary"), { start: 2000, end: 3000 })).measurement).toEqual({
      kind: "counts",
      successes: 1,
      trials: 10,
    });
  });

  it("says a server that does not answer is unavailable, and refuses PromQL checks up front", async () => {
    const gone = `http://127.0.0.1:${await freePort()}`;
    const source = new ScrapeSource({ endpoints: { stable: stable.url, canary: gone }, retries: 0 });
    await expect(source.mark(1)).rejects.toBeInstanceOf(SourceUnavailable);
    const withUser = loadChecks('checks:\n  - name: mine\n    kind: series\n    query: up{variant="$variant"}\n    direction: lower');
    await expect(source.validate(withUser)).rejects.toThrow(/"mine" are PromQL/);
  });
});
