// Fuzz suite (issue 20): malformed input on every route and at the HTTP level, sent over raw
// sockets to a `recship serve` process with short limits set through its flags. Each input must
// be answered with a 4xx naming the problem, or its connection closed as documented (timeouts:
// 408 then closed; over the connection limit: closed at once; the client's own hang-up: counted),
// and the server must answer a good request after each one.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseRawResponse, parseRawResponses, postText, rawConnection, type RawConnection } from "./helpers/raw-http.js";
import { buildServeBundle, type ServeBundle } from "./helpers/serve-bundle.js";
import { metricValue, spawnRecship, waitFor200, type ChildServer } from "./helpers/serve-process.js";
import { tempDir } from "./helpers/tmp.js";

const root = tempDir("recship-serve-fuzz-");
let bundle: ServeBundle;
let server: ChildServer;
let url = "";
const MAX_CONNECTIONS = 32;

beforeAll(async () => {
  bundle = await buildServeBundle(root, 13);
  server = spawnRecship([
    ...["serve", "--bundle", bundle.dir, "--port", "0", "--max-delay-ms", "0"],
    ...["--max-body-bytes", "65536", "--max-infer-rows", "64", "--max-response-bytes", "262144", "--max-heavy-requests", "1"],
    ...["--request-timeout", "1", "--headers-timeout", "0.5", "--keep-alive-timeout", "1", "--max-connections", String(MAX_CONNECTIONS)],
  ]);
  for (;;) {
    const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(server.output());
    if (m) {
      url = m[1];
      break;
    }
    if (server.child.exitCode !== null) throw new Error(`recship serve exited:\n${server.output()}`);
    await sleep(50);
  }
  await waitFor200(`${url}/v2/health/ready`, server);
});

afterAll(async () => {
  if (server && server.child.exitCode === null) {
    server.child.kill("SIGKILL");
    await server.exited;
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REC = "/v1/recommend";
const FEEDBACK = "/v1/feedback";
const INFER = "/v2/models/recommender/infer";
const tensor = (over: Record<string, unknown> = {}, rows = 1) => ({
  inputs: [{ name: "item_seq", datatype: "INT64", shape: [rows, 10], data: Array(rows * 10).fill(1), ...over }],
});
const json = (path: string, body: unknown, headers?: string) =>
  postText(path, typeof body === "string" ? body : JSON.stringify(body), headers ?? "Connection: close\r\n");
const rawPost = (path: string, body: Buffer) =>
  Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`), body]);
const get = (path: string, method = "GET", headers = "") => `${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`;

/** Writes `parts` one at a time, `gapMs` apart, until the server closes the connection. */
const drip =
  (parts: string[], gapMs: number) =>
  async (c: RawConnection): Promise<void> => {
    for (const part of parts) {
      if (c.socket.destroyed || c.socket.writableEnded) return;
      c.socket.write(part);
      await sleep(gapMs);
    }
  };

/** Sends `text`, then hangs up `afterMs` later (abruptly with a reset when `reset`). */
const hangUp =
  (text: string, options: { reset?: boolean; afterMs?: number } = {}) =>
  async (c: RawConnection): Promise<void> => {
    c.socket.write(text);
    if (options.afterMs !== 0) await sleep(options.afterMs ?? 50);
    if (options.reset) c.socket.resetAndDestroy();
    else c.socket.destroy();
  };

interface FuzzCase {
  name: string;
  /** Bytes written at once, or a script driving the connection. */
  send: string | Buffer | ((c: RawConnection) => Promise<void>);
  /**
   * The answer's status (several: pipelined requests); "closed": the server closes the connection
   * without an answer; "client": the client hangs up first (the server counts it).
   */
  expect: number | number[] | "closed" | "client";
}

const deep = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
const cases: FuzzCase[] = [
  // ---- JSON bodies on every POST route -------------------------------------------------------
  ...[REC, FEEDBACK, INFER].flatMap((path): FuzzCase[] => [
    { name: `${path}: truncated JSON`, send: json(path, '{"items": [1, 2'), expect: 400 },
    { name: `${path}: NaN literal`, send: json(path, '{"k": NaN}'), expect: 400 },
    { name: `${path}: a bare number`, send: json(path, "42"), expect: 400 },
    { name: `${path}: arrays nested 30,000 deep`, send: json(path, deep(30_000)), expect: 400 },
  ]),
  { name: "infer of an unknown version", send: json("/v2/models/recommender/versions/x/infer", tensor()), expect: 404 },
  { name: "infer of an unknown model", send: json("/v2/models/other/infer", tensor()), expect: 404 },
  { name: "recommend: byte-order mark before the JSON", send: json(REC, '\ufeff{"items": []}'), expect: 400 },
  {
    name: "recommend: invalid UTF-8 in a key",
    send: rawPost(REC, Buffer.concat([Buffer.from('{"items": [], "'), Buffer.from([0xff, 0xfe]), Buffer.from('": 1}')])),
    expect: 400,
  },
  { name: "recommend: 1e400 as k", send: json(REC, '{"items": [], "k": 1e400}'), expect: 400 },
  { name: "recommend: __proto__ key", send: json(REC, '{"items": [], "__proto__": {"k": 5}}'), expect: 400 },
  { name: "recommend: constructor key", send: json(REC, { items: [], constructor: 1 }), expect: 400 },
  { name: "recommend: items an object with length", send: json(REC, { items: { length: 1e9 } }), expect: 400 },
  { name: "recommend: a 60 KB item id", send: json(REC, { items: ["x".repeat(60_000)] }), expect: 400 },
  {
    name: "recommend: 5,000 unknown keys",
    send: json(REC, Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i]))),
    expect: 400,
  },
  { name: "recommend: duplicate keys, last one bad", send: json(REC, '{"items": [], "k": 3, "k": -3}'), expect: 400 },
  { name: "recommend: body over --max-body-bytes", send: json(REC, { items: Array(10_000).fill("sku-xxxxxx") }), expect: 413 },
  {
    name: "recommend: HTML content type",
    send: `POST ${REC} HTTP/1.1\r\nHost: x\r\nContent-Type: text/html\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{"items": []}`,
    expect: 415,
  },
  { name: "feedback: event an array", send: json(FEEDBACK, { request_id: "s-1", item: "a", event: ["click"] }), expect: 400 },
  {
    name: "feedback: request_id of 10,000 characters",
    send: json(FEEDBACK, { request_id: "r".repeat(10_000), item: "a", event: "click" }),
    expect: 400,
  },
  { name: "infer: shape with a string", send: json(INFER, tensor({ shape: ["1", 10] })), expect: 400 },
  { name: "infer: shape [1e300, 10]", send: json(INFER, tensor({ shape: [1e300, 10] })), expect: 413 },
  { name: "infer: 65 rows (over --max-infer-rows)", send: json(INFER, tensor({ shape: [65, 10] })), expect: 413 },
  { name: "infer: full scores of 64 rows (over --max-response-bytes)", send: json(INFER, tensor({}, 64)), expect: 413 },
  {
    name: "infer: nested [2][5] for shape [1, 10]",
    send: json(INFER, tensor({ data: [Array(5).fill(1), Array(5).fill(1)] })),
    expect: 400,
  },
  { name: "infer: data of nulls", send: json(INFER, tensor({ data: Array(10).fill(null) })), expect: 400 },
  { name: "infer: data of booleans", send: json(INFER, tensor({ data: Array(10).fill(true) })), expect: 400 },
  { name: "infer: inputs an object", send: json(INFER, { inputs: { name: "item_seq" } }), expect: 400 },
  { name: "infer: outputs a string", send: json(INFER, { ...tensor(), outputs: "scores" }), expect: 400 },
  { name: "infer: outputs holding null", send: json(INFER, { ...tensor(), outputs: [null] }), expect: 400 },
  { name: "infer: parameters a number", send: json(INFER, { ...tensor(), parameters: 7 }), expect: 400 },
  { name: "infer: binary output asked for", send: json(INFER, { ...tensor(), parameters: { binary_data_output: true } }), expect: 400 },
  { name: "infer: id an object", send: json(INFER, { ...tensor(), id: { a: 1 } }), expect: 400 },
  // ---- GET routes: wrong methods, names and paths --------------------------------------------
  { name: "DELETE /v2/health/live", send: get("/v2/health/live", "DELETE"), expect: 405 },
  { name: "PUT /v2/health/ready", send: get("/v2/health/ready", "PUT"), expect: 405 },
  { name: "PATCH /v2", send: get("/v2", "PATCH"), expect: 405 },
  { name: "POST /metrics", send: get("/metrics", "POST"), expect: 405 },
  { name: "GET on infer", send: get(INFER), expect: 405 },
  { name: "model metadata of a 10,000-character name", send: get(`/v2/models/${"n".repeat(10_000)}`), expect: 404 },
  { name: "model ready of an unknown version", send: get("/v2/models/recommender/versions/%00%ff/ready"), expect: 404 },
  { name: "broken percent-encoding in a model name", send: get("/v2/models/%E0%A4%A/ready"), expect: 404 },
  { name: "OPTIONS *", send: get("*", "OPTIONS"), expect: 404 },
  { name: "unknown route", send: get("/v3/anything"), expect: 404 },
  { name: "TRACE", send: get("/v2/health/live", "TRACE"), expect: 405 },
  // ---- HTTP-level abuse ------------------------------------------------------------------------
  { name: "garbage request line", send: "HELLO\r\n\r\n", expect: 400 },
  { name: "binary noise", send: Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 73) % 256)), expect: 400 },
  { name: "method with an illegal character", send: "G@T /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n", expect: 400 },
  { name: "HTTP/2 preface", send: "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", expect: 400 },
  { name: "HTTP/0.9 request", send: "GET /v2/health/live\r\n\r\n", expect: 400 },
  { name: "HTTP/9.9", send: "GET /v2/health/live HTTP/9.9\r\nHost: x\r\n\r\n", expect: 400 },
  { name: "HTTP/1.1 without Host", send: "GET /v2/health/live HTTP/1.1\r\nConnection: close\r\n\r\n", expect: 400 },
  { name: "a 20 KB header", send: get("/v2/health/live", "GET", `X-Big: ${"b".repeat(20_000)}\r\n`), expect: 431 },
  { name: "2,000 headers", send: get("/v2/health/live", "GET", "X-A: 1\r\n".repeat(2000)), expect: 431 },
  { name: "a 20 KB URL", send: get(`/v2/${"u".repeat(20_000)}`), expect: 431 },
  { name: "header without a colon", send: "GET /v2/health/live HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n", expect: 400 },
  { name: "space before a header's colon", send: "GET /v2/health/live HTTP/1.1\r\nHost : x\r\n\r\n", expect: 400 },
  { name: "NUL in a header value", send: "GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", expect: 400 },
  { name: "folded header line", send: "GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  b\r\n\r\n", expect: 400 },
  {
    name: "Content-Length and Transfer-Encoding both",
    send: `POST ${REC} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    expect: 400,
  },
  {
    name: "two different Content-Lengths",
    send: `POST ${REC} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`,
    expect: 400,
  },
  { name: "negative Content-Length", send: `POST ${REC} HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n`, expect: 400 },
  { name: "Content-Length not a number", send: `POST ${REC} HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n`, expect: 400 },
  {
    name: "Content-Length of 10^20",
    send: `POST ${REC} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000000000000\r\n\r\n`,
    expect: 400,
  },
  {
    name: "declared 100 MB body",
    send: `POST ${REC} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{`,
    expect: "closed",
  },
  {
    name: "chunk size not hex",
    send: `POST ${REC} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
    expect: 400,
  },
  {
    name: "chunk without its CRLF",
    send: `POST ${REC} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n`,
    expect: 400,
  },
  {
    name: "chunk size overflowing 64 bits",
    send: `POST ${REC} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n`,
    expect: 400,
  },
  {
    name: "Transfer-Encoding gzip, not chunked",
    send: `POST ${REC} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n{}`,
    expect: 400,
  },
  {
    name: "chunked over --max-body-bytes",
    send: `POST ${REC} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${"8000\r\n" + " ".repeat(0x8000) + "\r\n"}${"8000\r\n" + " ".repeat(0x8000) + "\r\n"}${"8000\r\n" + " ".repeat(0x8000) + "\r\n"}0\r\n\r\n`,
    expect: 413,
  },
  {
    name: "Expect: 100-continue with a body over the limit",
    send: `POST ${REC} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n`,
    expect: 413,
  },
  { name: "Expect: something unknown", send: get("/v2/health/live", "GET", "Expect: teapot\r\n"), expect: 417 },
  { name: "CONNECT", send: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", expect: "closed" },
  {
    name: "pipelined: two good requests, then garbage",
    send: `${get("/v2/health/live").replace("Connection: close\r\n", "").repeat(2)}NOT HTTP\r\n\r\n`,
    expect: [200, 200, 400],
  },
  // ---- slow, stalled, half-open and aborted ------------------------------------------------------
  { name: "connection that sends nothing", send: "", expect: 408 },
  { name: "headers that never end", send: "GET /v2/health/live HTTP/1.1\r\nHost: x\r\n", expect: 408 },
  {
    name: "headers one byte per 100 ms (slowloris)",
    send: drip([..."GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Slow: 123456789\r\n\r\n"], 100),
    expect: 408,
  },
  { name: "body that stops half-way", send: postText(REC, '{"items": ["a", "b", "c", "d"]}').slice(0, -10), expect: 408 },
  {
    name: "chunked body that never ends",
    send: `POST ${INFER} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"inp\r\n`,
    expect: 408,
  },
  {
    name: "body one byte per 100 ms",
    send: drip([`POST ${REC} HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n`, ...`{"items": ["${"s".repeat(24)}"]}`], 100),
    expect: 408,
  },
  { name: "half-open: request, then the client's FIN", send: async (c) => void c.socket.end(get("/v2/health/live")), expect: 200 },
  {
    name: "half-open: half a request, then FIN",
    send: async (c) => void c.socket.end(postText(REC, '{"items": []}').slice(0, -4)),
    expect: "client",
  },
  { name: "upload aborted mid-body", send: hangUp(postText(INFER, JSON.stringify(tensor({}, 4))).slice(0, -30)), expect: "client" },
  { name: "upload reset mid-body", send: hangUp(postText(REC, '{"items": ["a", "b"]}').slice(0, -5), { reset: true }), expect: "client" },
  { name: "reset mid-headers", send: hangUp("POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Le", { reset: true }), expect: "client" },
  { name: "client leaves before its answer", send: hangUp(json(INFER, tensor({}, 8)), { afterMs: 0 }), expect: "client" },
];

/** Runs one case: its connection's outcome (the answers' statuses, or how it closed) and the answers' error messages. */
async function run(c: FuzzCase): Promise<{ status: FuzzCase["expect"]; errors: unknown[] }> {
  const conn = rawConnection(url, typeof c.send === "function" ? undefined : c.send);
  if (typeof c.send === "function") await c.send(conn);
  const { raw } = await conn.closed;
  const answers = parseRawResponses(raw);
  const errors = answers.filter((a) => a.status >= 400).map((a) => JSON.parse(a.body).error);
  if (answers.length > 1) return { status: answers.map((a) => a.status), errors };
  if (answers.length === 1) return { status: answers[0].status, errors };
  return { status: c.expect === "client" ? "client" : "closed", errors };
}

/** A good request the server must answer after every case, alternating routes. */
async function good(i: number): Promise<number> {
  const requests = [
    () => fetch(`${url}/v1/recommend`, { method: "POST", body: JSON.stringify({ items: [bundle.items[i % 50]], k: 3 }) }),
    () => fetch(url + INFER, { method: "POST", body: JSON.stringify({ ...tensor(), outputs: [{ name: "top_items" }] }) }),
    () => fetch(`${url}/v2/health/ready`),
  ];
  const res = await requests[i % requests.length]();
  await res.arrayBuffer();
  return res.status;
}

describe("fuzz: malformed input on every route and at the HTTP level", () => {
  it(`answers each of ${cases.length} malformed inputs with a 4xx or closes as documented, and serves a good request after each`, async () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
    for (const [i, c] of cases.entries()) {
      const { status, errors } = await run(c);
      expect.soft({ case: c.name, status }).toEqual({ case: c.name, status: c.expect });
      for (const error of errors) {
        // every refusal says what is wrong, and repeats little of the request
        expect(typeof error, c.name).toBe("string");
        expect((error as string).length, c.name).toBeLessThanOrEqual(1001);
      }
      expect(await good(i), `good request after "${c.name}"`).toBe(200);
    }
  }, 60_000);

  it("holds at most --max-connections: the rest are closed at once, and the server serves afterwards", async () => {
    const flood = Array.from({ length: MAX_CONNECTIONS * 3 }, () => rawConnection(url));
    const outcomes = await Promise.all(flood.map((c) => c.closed));
    // the held ones are closed by the headers timeout (with a 408), the others at once (nothing)
    const answered = outcomes.filter((o) => parseRawResponse(o.raw)?.status === 408).length;
    expect(answered).toBeLessThanOrEqual(MAX_CONNECTIONS);
    expect(outcomes.length - answered).toBeGreaterThanOrEqual(MAX_CONNECTIONS * 2);
    expect(await good(0)).toBe(200);
  });

  it("counted what clients did, logged no bug, answered no 5xx, and stops cleanly on SIGTERM", async () => {
    const m = await (await fetch(`${url}/metrics`)).text();
    // (503s from readiness while the model loaded aside)
    const fivexx = m.split("\n").filter((line) => /^recship_http_requests_total\{[^}]*status="5\d\d"/.test(line));
    expect(fivexx.filter((line) => !line.includes('route="/v2/health/ready",method="GET",status="503"'))).toEqual([]);
    expect(metricValue(m, "recship_http_connection_errors_total", { reason: "malformed" })).toBeGreaterThanOrEqual(15);
    expect(metricValue(m, "recship_http_connection_errors_total", { reason: "request_timeout" })).toBeGreaterThanOrEqual(6);
    expect(metricValue(m, "recship_http_connection_errors_total", { reason: "headers_too_large" })).toBe(3);
    expect(metricValue(m, "recship_http_connection_errors_total", { reason: "over_connection_limit" })).toBeGreaterThanOrEqual(
      MAX_CONNECTIONS * 2,
    );
    expect(metricValue(m, "recship_http_client_aborts_total", { phase: "request" })).toBeGreaterThanOrEqual(2);
    expect(server.output()).not.toMatch(/a bug|    at /);
    server.child.kill("SIGTERM");
    expect(await server.exited).toBe(0);
  });
});
