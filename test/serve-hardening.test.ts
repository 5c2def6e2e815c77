// Issue 20, items 1, 2, 3 and 9: the model server under large answers, shutdown, slow and
// aborted uploads, and the protocol's small print. Real servers on 127.0.0.1, raw sockets where
// the HTTP client would hide what the server does.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { memoryLogger, silentLogger } from "../shared/log.js";
import { startModelServer, type ModelServer, type ModelServerOptions } from "../shared/serve/server.js";
import { parseRawResponse, postText, rawConnection } from "./helpers/raw-http.js";
import { buildServeBundle, type ServeBundle } from "./helpers/serve-bundle.js";
import { metricValue, postJson } from "./helpers/serve-process.js";
import { tempDir } from "./helpers/tmp.js";

const root = tempDir("recship-serve-hard-");
let bundle: ServeBundle;
const running: ModelServer[] = [];
const INFER = "/v2/models/recommender/infer";
const MAXLEN = 10;

beforeAll(async () => {
  bundle = await buildServeBundle(root, 12);
});

afterAll(async () => {
  await Promise.all(running.map((s) => s.shutdown()));
});

async function start(options: Partial<ModelServerOptions> = {}) {
  const started = await startModelServer({ bundle: bundle.dir, port: 0, log: silentLogger, maxDelayMs: 0, ...options });
  running.push(started.server);
  return started;
}

/** A V2 infer body of `rows` histories (all outputs unless `outputs` names some). */
function inferBody(rows: number, outputs?: string[]): string {
  const data = Array.from({ length: rows }, (_, r) => [0, 0, 0, 0, 0, 0, 0, 1 + (r % 50), 2 + (r % 40), 3 + (r % 30)]).flat();
  return JSON.stringify({
    inputs: [{ name: "item_seq", datatype: "INT64", shape: [rows, MAXLEN], data }],
    ...(outputs ? { outputs: outputs.map((name) => ({ name })) } : {}),
  });
}

const metricsOf = async (url: string) => (await fetch(`${url}/metrics`)).text();

describe("issue 20.1: shutdown delivers answers already on their way", () => {
  it("two 1,024-row answers (all outputs, ~20 MB each) being read when shutdown starts arrive whole", async () => {
    const { server, url } = await start({ maxResponseBytes: 64 * 2 ** 20, maxInferRows: 1024 });
    const body = inferBody(1024);
    // the clients read the first bytes of their answers, then stop reading: the answers wait in the server
    const clients = [0, 1].map(() => rawConnection(url, postText(INFER, body)));
    await Promise.all(clients.map((c) => c.firstData));
    for (const c of clients) c.socket.pause();
    const stopped = server.shutdown();
    for (const c of clients) c.socket.resume();
    for (const c of clients) {
      const { raw, error } = await c.closed;
      expect(error?.code).toBeUndefined();
      const res = parseRawResponse(raw)!;
      expect(res.status).toBe(200);
      expect(res.complete).toBe(true);
      const parsed = JSON.parse(res.body);
      expect(parsed.outputs.map((o: { shape: number[] }) => o.shape)).toEqual([
        [1024, bundle.items.length],
        [1024, 100],
        [1024, 100],
        [1024, 16],
      ]);
      expect(parsed.outputs[0].data).toHaveLength(1024 * bundle.items.length);
    }
    await stopped;
  });
});

describe("issue 20.2: the work one request can cause is bounded, and refused before it is done", () => {
  it("refuses rows and answer sizes over the configured limits with a 413 naming the flag, without running the model", async () => {
    const { url } = await start({ maxInferRows: 64, maxResponseBytes: 256 * 2 ** 10 });
    const before = metricValue(await metricsOf(url), "recship_batch_size_count");
    const rows = await postJson(url + INFER, inferBody(65, ["top_items"]));
    expect(rows.status).toBe(413);
    expect(rows.body.error).toMatch(/batch size 65 is more than the limit of 64 rows \(--max-infer-rows\)/);
    // 20 rows of full scores: ~20 × 988 × 24 bytes at most, over 256 KiB
    const big = await postJson(url + INFER, inferBody(20));
    expect(big.status).toBe(413);
    expect(big.body.error).toMatch(/make an answer of up to [\d.]+ KiB, more than the limit of 256 KiB \(--max-response-bytes\)/);
    expect(big.body.error).toMatch(/only top_items and top_scores/);
    expect(metricValue(await metricsOf(url), "recship_batch_size_count")).toBe(before);
    // within the limits: answered
    expect((await postJson(url + INFER, inferBody(64, ["top_items", "top_scores"]))).status).toBe(200);
  });

  it("streams a large answer, builds at most --max-heavy-requests at once (429 with Retry-After), and serves small requests meanwhile", async () => {
    const { url } = await start({ maxResponseBytes: 64 * 2 ** 20, maxHeavyRequests: 1 });
    const heavy = rawConnection(url, postText(INFER, inferBody(1024)));
    await heavy.firstData;
    heavy.socket.pause(); // its answer cannot be sent while its client reads nothing: the slot stays taken
    const head = parseRawResponse(heavy.received())!;
    expect(head.headers["transfer-encoding"]).toBe("chunked");
    expect(head.headers["content-length"]).toBeUndefined();

    const refused = await postJson(url + INFER, inferBody(512));
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(refused.body.error).toMatch(/1 heavy request\(s\) are already being answered.*--max-heavy-requests 1.*retry in a moment/);
    expect((await postJson(url + INFER, inferBody(4, ["top_items"]))).status).toBe(200);
    expect((await postJson(`${url}/v1/recommend`, { items: [bundle.items[0]], k: 3 })).status).toBe(200);
    expect(metricValue(await metricsOf(url), "recship_heavy_requests_inflight")).toBe(1);

    heavy.socket.resume();
    const answer = parseRawResponse((await heavy.closed).raw)!;
    expect(answer.complete).toBe(true);
    expect(JSON.parse(answer.body).outputs[0].data).toHaveLength(1024 * bundle.items.length);
    expect((await postJson(url + INFER, inferBody(512))).status).toBe(200);
    expect(metricValue(await metricsOf(url), "recship_heavy_requests_inflight")).toBe(0);
  });
});

/** A GET on a connection of its own, closed after the answer (so it holds no keep-alive connection); undefined when the server closed it unanswered. */
async function rawGet(url: string, path: string) {
  return parseRawResponse((await rawConnection(url, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`).closed).raw);
}

/** The server's metrics, read on a connection of its own, retried while the server refuses it (at its connection limit). */
async function rawMetrics(url: string): Promise<string> {
  for (;;) {
    const res = await rawGet(url, "/metrics");
    if (res) return res.body;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("issue 20.3: slow and aborted uploads", () => {
  let url = "";
  const log = memoryLogger();

  beforeAll(async () => {
    ({ url } = await start({ requestTimeoutMs: 600, headersTimeoutMs: 300, log }));
  });

  it("answers a chunked upload that never ends with a 408 and closes it (--request-timeout)", async () => {
    const stalled = rawConnection(
      url,
      `POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"ite\r\n`,
    );
    const res = parseRawResponse((await stalled.closed).raw)!;
    expect(res.status).toBe(408);
    expect(JSON.parse(res.body).error).toMatch(/did not arrive in time .*--request-timeout/);
    const m = await rawMetrics(url);
    expect(metricValue(m, "recship_http_connection_errors_total", { reason: "request_timeout" })).toBe(1);
    // a timed-out upload is counted as that, not also as a client abort
    expect(metricValue(m, "recship_http_requests_total", { route: "/v1/recommend", status: "408" })).toBe(1);
    expect(m).not.toMatch(/recship_http_client_aborts_total\{/);
  }, 20_000);

  it("answers headers that never end with a 408 and closes (--headers-timeout)", async () => {
    const stalled = rawConnection(url, "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n");
    expect(parseRawResponse((await stalled.closed).raw)!.status).toBe(408);
  }, 20_000);

  it("counts a client that hangs up mid-upload, without a log line", async () => {
    for (let i = 1; i <= 5; i++) {
      const c = rawConnection(url, postText("/v1/recommend", `{"items": ["${"x".repeat(200)}"]}`).slice(0, -50));
      // once the server is reading its body, the client hangs up
      while (metricValue(await rawMetrics(url), "recship_http_inflight_requests") < 1) await new Promise((r) => setTimeout(r, 10));
      c.socket.destroy();
      for (;;) {
        const m = await rawMetrics(url);
        if (m.includes('phase="request"') && metricValue(m, "recship_http_client_aborts_total", { phase: "request" }) === i) break;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    expect(metricValue(await rawMetrics(url), "recship_http_requests_total", { route: "/v1/recommend", status: "aborted" })).toBe(5);
    expect(log.warnings).toEqual([]);
  }, 20_000);

  it("holds at most --max-connections connections: one more is closed at once and counted", async () => {
    const { url: capped } = await start({ maxConnections: 4 });
    const held = Array.from({ length: 4 }, () => rawConnection(capped, "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n"));
    await Promise.all(held.map((c) => c.firstData)); // all four accepted and answered, kept alive
    const extra = await rawConnection(capped, "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n").closed;
    expect(extra.raw.length).toBe(0);
    for (const c of held) c.socket.destroy();
    await Promise.all(held.map((c) => c.closed));
    const m = await rawMetrics(capped);
    expect(metricValue(m, "recship_http_connection_errors_total", { reason: "over_connection_limit" })).toBeGreaterThanOrEqual(1);
    expect((await rawGet(capped, "/v2/health/live"))!.status).toBe(200);
  }, 20_000);
});

describe("issue 20.9: protocol and message gaps", () => {
  let url = "";

  beforeAll(async () => {
    ({ url } = await start());
  });

  it("answers the spec's literal GET /v2/ and names the platform onnx_onnxv1", async () => {
    const res = await fetch(`${url}/v2/`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ name: "recship", extensions: [] });
    expect(await (await fetch(`${url}/v2/models/recommender`)).json()).toMatchObject({ platform: "onnx_onnxv1" });
  });

  it("names a missing field instead of 'the undefined undefined'", async () => {
    const cases: [string, unknown, RegExp][] = [
      ["/v1/recommend", {}, /"items" must be an array of item ids \(oldest first\), got nothing \(the field is missing\)/],
      [INFER, {}, /"inputs" must be a non-empty array of tensors, got nothing \(the field is missing\)/],
      [INFER, { inputs: [{ name: "item_seq", shape: [1, 10], data: Array(10).fill(1) }] }, /datatype INT64, got nothing/],
      [
        INFER,
        { inputs: [{ datatype: "INT64", shape: [1, 10], data: Array(10).fill(1) }] },
        /inputs\[0\] has no "name"; the model's input is "item_seq"/,
      ],
      [
        INFER,
        { inputs: [{ name: "item_seq", datatype: "INT64", shape: [1, 10], data: Array(10).fill(1) }], outputs: [{}] },
        /outputs\[0\] has no "name"; the model's outputs are scores, top_items/,
      ],
      ["/v1/feedback", { item: "a", event: "click" }, /"request_id" must be .* got nothing/],
    ];
    for (const [path, body, error] of cases) {
      const res = await postJson(url + path, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toMatch(error);
      expect(res.body.error).not.toMatch(/undefined/);
    }
  });

  it("checks nested data against the declared shape", async () => {
    const nested = (data: unknown, shape = [1, 10]) =>
      postJson(url + INFER, { inputs: [{ name: "item_seq", datatype: "INT64", shape, data }] });
    const twoByFive = await nested([
      [1, 2, 3, 4, 5],
      [6, 7, 8, 9, 10],
    ]);
    expect(twoByFive.status).toBe(400);
    expect(twoByFive.body.error).toMatch(/data is nested with 2 rows but its shape is \[1, 10\]; nest it as \[1\]\[10\] or send it flat/);
    const ragged = await nested([Array(10).fill(1), Array(9).fill(1).concat([1, 1])], [2, 10]);
    expect(ragged.body.error).toMatch(/data\[1\] holds 11 values but its shape \[2, 10\] needs rows of 10/);
    const mixed = await nested([Array(10).fill(1), ...Array(10).fill(1)], [2, 10]);
    expect(mixed.status).toBe(400);
    expect((await nested([Array(10).fill(1)])).status).toBe(200);
  });

  it("answers HEAD on GET routes as GET without a body", async () => {
    for (const path of ["/v2/health/live", "/v2/health/ready", "/v2", "/v2/models/recommender", "/metrics"]) {
      const c = rawConnection(url, `HEAD ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const { raw } = await c.closed;
      const text = raw.toString();
      expect(text, path).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
      expect(text.slice(text.indexOf("\r\n\r\n") + 4), path).toBe("");
    }
    const post = await fetch(`${url}/v1/recommend`, { method: "HEAD" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("POST");
  });

  it("repeats at most a few of a request's unknown field names in its error", async () => {
    const body: Record<string, unknown> = { items: [] };
    for (let i = 0; i < 20_000; i++) body[`unknown_field_${i}_${"z".repeat(20)}`] = i;
    const res = await postJson(`${url}/v1/recommend`, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(
      /^unknown field\(s\) "unknown_field_0_z+", .* and 19995 more; accepted: items, k, exclude_seen, explain, explain_limit$/,
    );
    expect(res.body.error.length).toBeLessThan(500);
    const feedback = await postJson(`${url}/v1/feedback`, { request_id: "s-1", item: "a", event: "click", ...body });
    expect(feedback.body.error.length).toBeLessThan(500);
  });
});
