import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../shared/log.js";
import { startModelServer, type ModelServer } from "../shared/serve/server.js";
import { buildServeBundle, type ServeBundle } from "./helpers/serve-bundle.js";
import { metricValue } from "./helpers/serve-process.js";
import { tempDir } from "./helpers/tmp.js";

const root = tempDir("recship-serve-bad-");
let bundle: ServeBundle;
let server: ModelServer | undefined;
let url = "";
const MAX_BODY = 64 * 1024;

beforeAll(async () => {
  bundle = await buildServeBundle(root, 8);
  const started = await startModelServer({
    bundle: bundle.dir,
    port: 0,
    log: silentLogger,
    maxDelayMs: 0,
    maxBodyBytes: MAX_BODY,
    maxResponseBytes: 2 ** 20,
  });
  server = started.server;
  url = started.url;
});

afterAll(async () => {
  await server?.shutdown();
});

interface Case {
  name: string;
  method?: string;
  path?: string;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  status: number;
  error: RegExp;
}

const REC = "/v1/recommend";
const INFER = "/v2/models/recommender/infer";
const row = (n = 10) => Array(n).fill(1);
const tensor = (over: Record<string, unknown>) => ({
  inputs: [{ name: "item_seq", datatype: "INT64", shape: [1, 10], data: row(), ...over }],
});

const cases: Case[] = [
  { name: "truncated JSON", body: '{"items": [', status: 400, error: /not valid JSON/ },
  { name: "empty body", body: "", status: 400, error: /empty/ },
  { name: "JSON array body", body: [], status: 400, error: /must be a JSON object, got an array/ },
  { name: "JSON null body", body: "null", status: 400, error: /must be a JSON object, got null/ },
  { name: "JSON string body", body: '"sku-1"', status: 400, error: /must be a JSON object/ },
  { name: "no items", body: {}, status: 400, error: /"items" must be an array/ },
  { name: "items a string", body: { items: "sku-1" }, status: 400, error: /"items" must be an array/ },
  { name: "items holding an object", body: { items: [{ id: 1 }] }, status: 400, error: /"items\[0\]" must be an item id/ },
  { name: "items holding null", body: { items: ["a", null] }, status: 400, error: /"items\[1\]"/ },
  { name: "items holding an empty string", body: { items: [""] }, status: 400, error: /"items\[0\]"/ },
  { name: "items holding a fraction", body: { items: [1.5] }, status: 400, error: /"items\[0\]"/ },
  { name: "negative k", body: { items: [], k: -1 }, status: 400, error: /"k" must be a whole number from 1 to \d+, got the number -1/ },
  { name: "zero k", body: { items: [], k: 0 }, status: 400, error: /"k" must be/ },
  { name: "fractional k", body: { items: [], k: 2.5 }, status: 400, error: /"k" must be/ },
  { name: "k as a string", body: { items: [], k: "10" }, status: 400, error: /"k" must be .* got the string "10"/ },
  { name: "k beyond the limit", body: { items: [], k: 100_000 }, status: 400, error: /"k" must be a whole number from 1 to/ },
  {
    name: "exclude_seen not a boolean",
    body: { items: [], exclude_seen: "yes" },
    status: 400,
    error: /"exclude_seen" must be true or false/,
  },
  { name: "unknown field (typo)", body: { items: [], excludeSeen: false }, status: 400, error: /unknown field\(s\) "excludeSeen"/ },
  { name: "too many history items", body: { items: Array(10_001).fill("x") }, status: 400, error: /at most 10000/ },
  {
    name: "body over the limit (Content-Length)",
    body: { items: Array(20_000).fill("sku-xx-xxx") },
    status: 413,
    error: /exceeds the limit of 65536 bytes \(--max-body-bytes\)/,
  },
  {
    name: "octet-stream content type",
    body: { items: [] },
    headers: { "content-type": "application/octet-stream" },
    status: 415,
    error: /content-type must be application\/json/,
  },
  {
    name: "multipart content type",
    body: { items: [] },
    headers: { "content-type": "multipart/form-data; boundary=x" },
    status: 415,
    error: /got "multipart\/form-data; boundary=x"/,
  },
  { name: "GET on a POST route", method: "GET", body: undefined, status: 405, error: /GET is not allowed on \/v1\/recommend; use POST/ },
  { name: "unknown route", path: "/v1/nothing", status: 404, error: /no route POST \/v1\/nothing/ },
  { name: "DELETE on health", method: "DELETE", path: "/v2/health/live", body: undefined, status: 405, error: /use GET/ },
  {
    name: "metadata of an unknown model",
    method: "GET",
    path: "/v2/models/nope",
    body: undefined,
    status: 404,
    error: /unknown model "nope"/,
  },
  {
    name: "infer on an unknown model",
    path: "/v2/models/nope/infer",
    body: tensor({}),
    status: 404,
    error: /unknown model "nope"; this server serves "recommender"/,
  },
  {
    name: "infer on an unknown version",
    path: "/v2/models/recommender/versions/v9/infer",
    body: tensor({}),
    status: 404,
    error: /no version "v9"/,
  },
  { name: "infer without inputs", path: INFER, body: {}, status: 400, error: /"inputs" must be a non-empty array/ },
  { name: "infer with empty inputs", path: INFER, body: { inputs: [] }, status: 400, error: /"inputs" must be a non-empty array/ },
  {
    name: "infer with two inputs",
    path: INFER,
    body: { inputs: [tensor({}).inputs[0], tensor({}).inputs[0]] },
    status: 400,
    error: /one input, "item_seq"; got 2/,
  },
  {
    name: "infer with a wrong input name",
    path: INFER,
    body: tensor({ name: "input_ids" }),
    status: 400,
    error: /unknown input the string "input_ids"/,
  },
  {
    name: "infer with FP32 data",
    path: INFER,
    body: tensor({ datatype: "FP32" }),
    status: 400,
    error: /datatype INT64, got the string "FP32"/,
  },
  { name: "infer without datatype", path: INFER, body: tensor({ datatype: undefined }), status: 400, error: /datatype INT64/ },
  { name: "infer with a 1-D shape", path: INFER, body: tensor({ shape: [10] }), status: 400, error: /shape \[batch, 10\], got \[10\]/ },
  {
    name: "infer with the wrong maxlen",
    path: INFER,
    body: tensor({ shape: [1, 5], data: row(5) }),
    status: 400,
    error: /maxlen 10\), got \[1, 5\]/,
  },
  {
    name: "infer with a negative dimension",
    path: INFER,
    body: tensor({ shape: [-1, 10] }),
    status: 400,
    error: /shape \[batch, 10\], got \[-1,10\]/,
  },
  {
    name: "infer with batch 0",
    path: INFER,
    body: tensor({ shape: [0, 10], data: [] }),
    status: 400,
    error: /batch size must be 1 to 1024, got 0/,
  },
  {
    name: "infer with a batch too large",
    path: INFER,
    body: tensor({ shape: [2000, 10] }),
    status: 413,
    error: /batch size 2000 is more than the limit of 1024 rows \(--max-infer-rows\); split the batch/,
  },
  { name: "infer with too few values", path: INFER, body: tensor({ shape: [2, 10] }), status: 400, error: /needs 20 values, got 10/ },
  { name: "infer with too many values", path: INFER, body: tensor({ data: row(11) }), status: 400, error: /needs 10 values, got 11/ },
  {
    name: "infer with fractional ids",
    path: INFER,
    body: tensor({ data: [...row(9), 1.5] }),
    status: 400,
    error: /data\[9\] must be a whole number \(INT64\)/,
  },
  {
    name: "infer with string ids",
    path: INFER,
    body: tensor({ data: [...row(9), "sku"] }),
    status: 400,
    error: /data\[9\] must be a whole number/,
  },
  {
    name: "infer with an id past the vocabulary",
    path: INFER,
    body: tensor({ data: [...row(9), 99_999] }),
    status: 400,
    error: /data\[9\] = 99999 is not an item: ids run from 1 to \d+/,
  },
  {
    name: "infer with a negative id",
    path: INFER,
    body: tensor({ data: [-3, ...row(9)] }),
    status: 400,
    error: /data\[0\] = -3 is not an item/,
  },
  {
    name: "infer with data nested too deep",
    path: INFER,
    body: tensor({ data: [[[...row()]]] }),
    status: 400,
    error: /nested deeper than its 2 dimensions/,
  },
  { name: "infer with scalar data", path: INFER, body: tensor({ data: 7 }), status: 400, error: /data must be an array/ },
  { name: "infer without data", path: INFER, body: tensor({ data: undefined }), status: 400, error: /has no "data"/ },
  {
    name: "infer asking an unknown output",
    path: INFER,
    body: { ...tensor({}), outputs: [{ name: "logits" }] },
    status: 400,
    error: /unknown output the string "logits"/,
  },
  {
    name: "infer asking an output twice",
    path: INFER,
    body: { ...tensor({}), outputs: [{ name: "scores" }, { name: "scores" }] },
    status: 400,
    error: /names an output twice/,
  },
  {
    name: "infer with binary data",
    path: INFER,
    body: tensor({ parameters: { binary_data_size: 80 } }),
    status: 400,
    error: /binary tensor data is not supported/,
  },
  {
    name: "infer asking the full scores of too many rows",
    path: INFER,
    body: tensor({ shape: [120, 10], data: Array(1200).fill(1) }),
    status: 413,
    error:
      /make an answer of up to [\d.]+ MiB, more than the limit of 1 MiB \(--max-response-bytes\); ask for fewer rows, or only top_items and top_scores/,
  },
  { name: "infer with a numeric id", path: INFER, body: { ...tensor({}), id: 5 }, status: 400, error: /"id" must be a string/ },
  {
    name: "feedback without request_id",
    path: "/v1/feedback",
    body: { item: "a", event: "click" },
    status: 400,
    error: /"request_id" must be/,
  },
  {
    name: "feedback with an unknown event",
    path: "/v1/feedback",
    body: { request_id: "s-1", item: "a", event: "view" },
    status: 400,
    error: /"event" must be one of click, add_to_cart, purchase/,
  },
  {
    name: "feedback without item",
    path: "/v1/feedback",
    body: { request_id: "s-1", event: "click" },
    status: 400,
    error: /"item" must be/,
  },
];

async function send(c: Case): Promise<{ status: number; body: any }> {
  const method = c.method ?? "POST";
  const hasBody = method === "POST" || c.body !== undefined;
  const body = !hasBody ? undefined : typeof c.body === "string" ? c.body : JSON.stringify(c.body);
  const res = await fetch(url + (c.path ?? REC), { method, headers: { "content-type": "application/json", ...c.headers }, body });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) };
}

describe("malformed requests", () => {
  it(`answers each of ${cases.length} malformed requests with a 4xx naming the problem`, async () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
    for (const c of cases) {
      const res = await send(c);
      expect({ case: c.name, status: res.status }).toEqual({ case: c.name, status: c.status });
      expect(typeof res.body.error, c.name).toBe("string");
      expect(res.body.error, c.name).toMatch(c.error);
    }
  });

  it("refuses a streamed (chunked) body once it passes the limit", async () => {
    const chunk = new TextEncoder().encode(`${" ".repeat(16 * 1024 - 1)}\n`);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 16) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(url + REC, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(413);
    expect((await res.json()).error).toMatch(/request body exceeds the limit of 65536 bytes/);
  });

  it("stays up and serves afterwards, with no 5xx on record", async () => {
    expect((await fetch(`${url}/v2/health/live`)).status).toBe(200);
    expect((await fetch(`${url}/v2/health/ready`)).status).toBe(200);
    const ok = await fetch(url + REC, { method: "POST", body: JSON.stringify({ items: [bundle.items[0]], k: 2 }) });
    expect(ok.status).toBe(200);
    expect((await ok.json()).items).toHaveLength(2);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).not.toMatch(/recship_http_requests_total\{[^}]*status="5\d\d"/);
    expect(metricValue(metrics, "recship_http_requests_total", { status: "400" })).toBeGreaterThanOrEqual(40);
    expect(metricValue(metrics, "recship_http_requests_total", { status: "413" })).toBe(4);
  });
});
