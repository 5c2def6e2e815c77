import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memoryLogger, silentLogger } from "../shared/log.js";
import { ModelServer, startModelServer } from "../shared/serve/server.js";
import { buildServeBundle, type ServeBundle } from "./helpers/serve-bundle.js";
import { metricValue, postJson } from "./helpers/serve-process.js";
import { tempDir } from "./helpers/tmp.js";

const root = tempDir("recship-serve-api-");
let bundle: ServeBundle;
let server: ModelServer | undefined;
let url = "";
const MAXLEN = 10;

beforeAll(async () => {
  bundle = await buildServeBundle(root, 7, 10);
});

afterAll(async () => {
  await server?.shutdown();
});

const get = async (path: string) => {
  const res = await fetch(url + path);
  const text = await res.text();
  return { status: res.status, body: res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text };
};
const recommend = (body: unknown) => postJson(`${url}/v1/recommend`, body);
const infer = (body: unknown, path = "/v2/models/recommender/infer") => postJson(url + path, body);
const metrics = async () => (await get("/metrics")).body as string;
/** The model's full ranking (dense ids, best first) for one history of dense ids, from the V2 scores output. */
async function fullRanking(dense: number[]): Promise<number[]> {
  const row = [...Array(MAXLEN - dense.length).fill(0), ...dense.slice(-MAXLEN)];
  const res = await infer({
    inputs: [{ name: "item_seq", datatype: "INT64", shape: [1, MAXLEN], data: row }],
    outputs: [{ name: "scores" }],
  });
  expect(res.status).toBe(200);
  const scores: number[] = res.body.outputs[0].data;
  return scores
    .map((s, j) => [s, j + 1])
    .sort((a, b) => b[0] - a[0] || a[1] - b[1])
    .map(([, d]) => d);
}
const dense = (id: string) => bundle.items.indexOf(id) + 1;

describe("health and readiness", () => {
  it("is live while loading, ready only after the model is loaded and warmed up", async () => {
    server = new ModelServer({ bundle: bundle.dir, log: silentLogger, maxDelayMs: 0, variant: "canary", requestIdPrefix: "c1" });
    url = (await server.listen(0)).url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await get("/v2/health/live")).status).toBe(200);
    const notReady = await get("/v2/health/ready");
    expect(notReady).toMatchObject({ status: 503, body: { ready: false, error: "the model is loading" } });
    expect((await get("/v2/models/recommender/ready")).status).toBe(503);
    expect((await recommend({ items: [] })).status).toBe(503);
    expect(metricValue(await metrics(), "recship_model_ready")).toBe(0);

    await server.load();
    expect(await get("/v2/health/ready")).toMatchObject({ status: 200, body: { ready: true } });
    expect(await get("/v2/models/recommender/ready")).toMatchObject({ status: 200, body: { name: "recommender", ready: true } });
    expect((await get("/v2/models/other/ready")).status).toBe(404);
    expect(metricValue(await metrics(), "recship_model_ready", { variant: "canary" })).toBe(1);
  });
});

describe("V2 model metadata and infer", () => {
  it("describes the model's signature and version", async () => {
    const meta = await get("/v2/models/recommender");
    expect(meta.status).toBe(200);
    expect(meta.body).toMatchObject({
      name: "recommender",
      versions: [server!.version],
      platform: "onnx_onnxv1",
      inputs: [{ name: "item_seq", datatype: "INT64", shape: [-1, MAXLEN] }],
    });
    expect(meta.body.outputs.map((o: { name: string; datatype: string }) => `${o.name}:${o.datatype}`)).toEqual([
      "scores:FP32",
      "top_items:INT64",
      "top_scores:FP32",
      "user_embedding:FP32",
    ]);
    expect(meta.body.outputs[0].shape).toEqual([-1, bundle.items.length]);
    expect((await get(`/v2/models/recommender/versions/${server!.version}`)).status).toBe(200);
    expect((await get("/v2/models/recommender/versions/0000")).status).toBe(404);
    expect((await get("/v2")).body).toMatchObject({ name: "recship" });
  });

  it("runs a batch, flat or nested, and answers every output with its shape and datatype", async () => {
    const rows = [
      [0, 0, 0, 0, 0, 0, 0, 1, 2, 3],
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 5],
    ];
    const flat = await infer({ id: "req-1", inputs: [{ name: "item_seq", datatype: "INT64", shape: [2, MAXLEN], data: rows.flat() }] });
    expect(flat.status).toBe(200);
    expect(flat.body).toMatchObject({ model_name: "recommender", model_version: server!.version, id: "req-1" });
    const out = Object.fromEntries(flat.body.outputs.map((o: { name: string }) => [o.name, o]));
    expect(out.scores).toMatchObject({ datatype: "FP32", shape: [2, bundle.items.length] });
    expect(out.top_items).toMatchObject({ datatype: "INT64", shape: [2, 10] });
    expect(out.top_scores).toMatchObject({ datatype: "FP32", shape: [2, 10] });
    expect(out.user_embedding).toMatchObject({ datatype: "FP32", shape: [2, 16] });
    expect(out.scores.data).toHaveLength(2 * bundle.items.length);
    // top_items of row 1 is the argmax of its scores
    const row1 = out.scores.data.slice(bundle.items.length);
    expect(out.top_items.data[10]).toBe(row1.indexOf(Math.max(...row1)) + 1);

    const nested = await infer({
      inputs: [{ name: "item_seq", datatype: "INT64", shape: [2, MAXLEN], data: rows }],
      outputs: [{ name: "top_items" }],
    });
    expect(nested.status).toBe(200);
    expect(nested.body.outputs).toHaveLength(1);
    expect(nested.body.outputs[0].data).toEqual(out.top_items.data);
    const versioned = await infer(
      { inputs: [{ name: "item_seq", datatype: "INT64", shape: [1, MAXLEN], data: rows[0] }], outputs: [{ name: "top_items" }] },
      `/v2/models/recommender/versions/${server!.version}/infer`,
    );
    expect(versioned.body.outputs[0].data).toEqual(out.top_items.data.slice(0, 10));
  });
});

describe("/v1/recommend", () => {
  const history = () => [bundle.items[3], bundle.items[10], bundle.items[42]];

  it("maps the shop's ids, returns k items with descending scores, the model version and a request id", async () => {
    const res = await recommend({ items: history(), k: 5 });
    expect(res.status).toBe(200);
    expect(res.body.items).toHaveLength(5);
    expect(res.body.scores).toHaveLength(5);
    for (const id of res.body.items) expect(bundle.items).toContain(id);
    expect([...res.body.scores].sort((a: number, b: number) => b - a)).toEqual(res.body.scores);
    expect(res.body.model).toEqual({ name: "recommender", version: server!.version, variant: "canary" });
    expect(res.body.request_id).toMatch(/^c1-[0-9a-f-]{36}$/);
    expect(res.headers.get("x-request-id")).toBe(res.body.request_id);
    expect(res.body).toMatchObject({ unknown_items: 0, history_used: 3 });
    // the same ranking as the model's scores for the dense history
    const ranking = (await fullRanking(history().map(dense))).filter((d) => !history().map(dense).includes(d));
    expect(res.body.items).toEqual(ranking.slice(0, 5).map((d) => bundle.items[d - 1]));
  });

  it("skips unknown ids, counts them in the response and the metric", async () => {
    const before = metricValue(await metrics(), "recship_unknown_items_total");
    const [a, b, c] = history();
    const withUnknown = await recommend({ items: ["no-such-item", a, b, 12345, c, "also-missing"], k: 10 });
    const clean = await recommend({ items: [a, b, c], k: 10 });
    expect(withUnknown.status).toBe(200);
    expect(withUnknown.body).toMatchObject({ unknown_items: 3, history_used: 3 });
    expect(withUnknown.body.items).toEqual(clean.body.items);
    expect(metricValue(await metrics(), "recship_unknown_items_total")).toBe(before + 3);
    // nothing known: the model still answers (a history of padding only)
    const cold = await recommend({ items: ["nope"], k: 4 });
    expect(cold.status).toBe(200);
    expect(cold.body).toMatchObject({ unknown_items: 1, history_used: 0 });
    expect(cold.body.items).toHaveLength(4);
  });

  it("excludes seen items unless told not to", async () => {
    // a history made of the model's own favourites for it, so excluding them matters
    const seed = [bundle.items[5]];
    const first = (await fullRanking(seed.map(dense))).slice(0, 4);
    const seen = [...seed, ...first.map((d) => bundle.items[d - 1])];
    const ranking = await fullRanking(seen.map(dense));
    const kept = await recommend({ items: seen, k: 10, exclude_seen: false });
    expect(kept.body.items).toEqual(ranking.slice(0, 10).map((d) => bundle.items[d - 1]));
    const excluded = await recommend({ items: seen, k: 10 });
    expect(excluded.body.items.filter((id: string) => seen.includes(id))).toEqual([]);
    expect(excluded.body.items).toEqual(
      ranking
        .filter((d) => !seen.map(dense).includes(d))
        .slice(0, 10)
        .map((d) => bundle.items[d - 1]),
    );
    expect(kept.body.items.some((id: string) => seen.includes(id))).toBe(true);
  });

  it("respects k, beyond the model's top-k output too (selected from the full scores)", async () => {
    const ranking = (await fullRanking(history().map(dense))).filter((d) => !history().map(dense).includes(d));
    for (const k of [1, 3, 10, 11, 25, 200]) {
      const res = await recommend({ items: history(), k });
      expect(res.status).toBe(200);
      expect(res.body.items).toEqual(ranking.slice(0, k).map((d) => bundle.items[d - 1]));
    }
    const all = await recommend({ items: history(), k: bundle.items.length });
    expect(all.body.items).toHaveLength(bundle.items.length - 3);
    expect(new Set(all.body.items).size).toBe(bundle.items.length - 3);
    expect((await recommend({ items: history() })).body.items).toHaveLength(10);
  });
});

describe("/v1/feedback and /metrics", () => {
  it("counts feedback per event and outcome, labelled with model version and variant", async () => {
    const rec = await recommend({ items: [bundle.items[1]], k: 3 });
    const id = rec.body.request_id;
    const notShown = bundle.items.find((i) => !rec.body.items.includes(i))!;
    expect((await postJson(`${url}/v1/feedback`, { request_id: id, item: rec.body.items[0], event: "click" })).body).toMatchObject({
      accepted: true,
      outcome: "recommended",
      model: { version: server!.version, variant: "canary" },
    });
    expect((await postJson(`${url}/v1/feedback`, { request_id: id, item: rec.body.items[1], event: "add_to_cart" })).status).toBe(202);
    expect((await postJson(`${url}/v1/feedback`, { request_id: id, item: notShown, event: "purchase" })).body.outcome).toBe(
      "not_recommended",
    );
    expect((await postJson(`${url}/v1/feedback`, { request_id: "s0-elsewhere", item: notShown, event: "purchase" })).body.outcome).toBe(
      "unknown_request",
    );
    const m = await metrics();
    const labels = { version: server!.version!, variant: "canary", model: "recommender" };
    expect(metricValue(m, "recship_feedback_total", { ...labels, event: "click", outcome: "recommended" })).toBe(1);
    expect(metricValue(m, "recship_feedback_total", { ...labels, event: "add_to_cart", outcome: "recommended" })).toBe(1);
    expect(metricValue(m, "recship_feedback_total", { ...labels, event: "purchase", outcome: "not_recommended" })).toBe(1);
    expect(metricValue(m, "recship_feedback_total", { ...labels, event: "purchase", outcome: "unknown_request" })).toBe(1);
  });

  it("exposes the documented series", async () => {
    const m = await metrics();
    const labels = { model: "recommender", version: server!.version!, variant: "canary" };
    const recommends = metricValue(m, "recship_http_requests_total", { ...labels, route: "/v1/recommend", method: "POST", status: "200" });
    expect(recommends).toBeGreaterThanOrEqual(10);
    expect(metricValue(m, "recship_http_request_duration_seconds_count", { ...labels, route: "/v1/recommend" })).toBeGreaterThanOrEqual(
      recommends,
    );
    expect(metricValue(m, "recship_http_requests_total", { route: "/v2/models/:name", status: "404" })).toBeGreaterThanOrEqual(1);
    expect(metricValue(m, "recship_batch_size_count", labels)).toBeGreaterThan(0);
    expect(metricValue(m, "recship_batch_size_bucket", { ...labels, le: "+Inf" })).toBe(metricValue(m, "recship_batch_size_count"));
    expect(metricValue(m, "recship_batch_duration_seconds_count", labels)).toBeGreaterThan(0);
    expect(metricValue(m, "recship_recommendation_score_count", labels)).toBe(
      metricValue(m, "recship_recommendations_served_total", labels),
    );
    expect(metricValue(m, "recship_recommendation_top_score_count", labels)).toBeGreaterThan(0);
    expect(metricValue(m, "recship_model_info", { ...labels, artifact: "onnx", device: "cpu" })).toBe(1);
    expect(metricValue(m, "recship_http_inflight_requests", labels)).toBe(0);
    expect(metricValue(m, "process_resident_memory_bytes", labels)).toBeGreaterThan(0);
    expect(m).toMatch(/# TYPE recship_recommendation_score histogram/);
  });
});

describe("--device cuda", () => {
  it("runs on CUDA, or says that it fell back to the CPU", async () => {
    const log = memoryLogger();
    const started = await startModelServer({ bundle: bundle.dir, port: 0, device: "cuda", log });
    try {
      const m = await (await fetch(`${started.url}/metrics`)).text();
      const onCuda = m.includes('device="cuda"');
      if (onCuda) expect(log.lines).toContain("execution provider: CUDA (CPU for operators CUDA lacks)");
      else {
        expect(log.warnings.join("\n")).toMatch(/--device cuda: the CUDA execution provider did not start .*; running on the CPU/);
        expect(log.lines.some((l) => l.startsWith("execution provider: CPU"))).toBe(true);
        expect(metricValue(m, "recship_model_info", { device: "cpu" })).toBe(1);
      }
      expect((await recommendAt(started.url, { items: [bundle.items[0]], k: 2 })).status).toBe(200);
    } finally {
      await started.server.shutdown();
    }
  });
});

const recommendAt = (base: string, body: unknown) => postJson(`${base}/v1/recommend`, body);
