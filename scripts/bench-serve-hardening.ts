// Issue 20 benchmark: what `recship serve` loses on a rollout, and what the largest requests cost it.
//   npx tsx scripts/bench-serve-hardening.ts [--bundle dir] [--rollouts 20] [--dist] [--out bench/serve-hardening.json]
// (a) Rollouts: a server under a mix of small /v1/recommend requests and 1,024-row V2 infer
//     requests (all outputs: ~20-30 MB answers) gets SIGTERM mid-load, 20 times. Every request is
//     classed: answered (whole), refused (a new connection after SIGTERM: never accepted, a client
//     retries elsewhere) or lost (accepted, then reset or cut short). Lost must be 0.
// (b) Largest requests: 16 at once of each kind (the largest V2 infer answers, allowed and not,
//     the largest /v1/recommend history and k, an over-limit body) against a server with the
//     default limits, while small requests run alongside; peak server RSS (sampled from /proc)
//     and the small requests' latency (p50/p99) per kind.
// Without --bundle a synthetic shop model is trained first (~1,400 items). The server runs as a
// child process (from source, or dist/ with --dist); the load runs here, on the same machine.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { convertBundle } from "../shared/convert/convert-bundle.js";
import { writeSyntheticShopCsv } from "../shared/data/synthetic.js";
import { silentLogger } from "../shared/log.js";
import { trainModel } from "../shared/train/train-model.js";

const { values: args } = parseArgs({
  options: {
    bundle: { type: "string" },
    rollouts: { type: "string", default: "20" },
    concurrent: { type: "string", default: "16" },
    dist: { type: "boolean", default: false },
    out: { type: "string", default: "bench/serve-hardening.json" },
  },
});
const root = fileURLToPath(new URL("..", import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, digits = 1) => Number(x.toFixed(digits));

// ---- the model and the server ------------------------------------------------------------------
async function syntheticBundle(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "recship-bench-hardening-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const data = join(dir, "shop.csv");
  await writeSyntheticShopCsv(data, { users: 1500, seed: 20 });
  const out = join(dir, "bundle");
  await trainModel({
    ...{ data, userColumn: "user_id", itemColumn: "item_id", timeColumn: "timestamp", out, log: silentLogger },
    config: "model:\n  hidden: 32\n  maxlen: 20\ntrain:\n  batchTokens: 2048",
    overrides: { train: { epochs: 1, seed: 20 } },
  });
  await convertBundle({ bundle: out, log: silentLogger });
  return out;
}

interface Server {
  child: ChildProcess;
  url: string;
  output(): string;
  exited: Promise<number | null>;
}

/** `recship serve` on a free port with `flags`; resolves once it is ready. */
async function startServer(bundle: string, flags: string[]): Promise<Server> {
  const entry = args.dist ? [join(root, "dist", "cli", "index.js")] : [...process.execArgv, join(root, "shared", "cli", "main.ts")];
  const child = spawn(process.execPath, [...entry, "serve", "--bundle", bundle, "--port", "0", ...flags], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  child.stdout!.on("data", (d: Buffer) => (text += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  for (;;) {
    const m = /listening on (http:\/\/[^\s]+)/.exec(text);
    if (m && /ready: /.test(text)) return { child, url: m[1], output: () => text, exited };
    if (child.exitCode !== null) throw new Error(`recship serve exited:\n${text}`);
    await sleep(50);
  }
}

/** The server's resident memory in MiB (Linux /proc), 0 when unknown. */
function rssMiB(pid: number | undefined): number {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Number(kb) / 1024 : 0;
  } catch {
    return 0;
  }
}

// ---- requests ----------------------------------------------------------------------------------
type Outcome = "answered" | "http-error" | "refused" | "lost";

interface Sent {
  outcome: Outcome;
  status?: number;
  ms: number;
  bytes: number;
  error?: string;
  text?: string;
}

/** One request; an answer counts only when whole (its JSON parses). `keepText`: the answer's text in `text`. */
function send(url: string, path: string, body: string | undefined, agent: Agent, keepText = false): Promise<Sent> {
  const started = performance.now();
  return new Promise((resolve) => {
    const done = (r: Omit<Sent, "ms">) => resolve({ ...r, ms: performance.now() - started });
    const req = httpRequest(
      new URL(path, url),
      { method: body === undefined ? "GET" : "POST", agent, headers: body === undefined ? {} : { "content-type": "application/json" } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("error", (e: NodeJS.ErrnoException) => done({ outcome: "lost", bytes: 0, error: e.code ?? e.message }));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString();
          const whole = wholeJson(text);
          const status = res.statusCode ?? 0;
          if (!whole) done({ outcome: "lost", status, bytes: text.length, error: "truncated answer" });
          else done({ outcome: status < 400 ? "answered" : "http-error", status, bytes: text.length, ...(keepText ? { text } : {}) });
        });
      },
    );
    req.on("error", (e: NodeJS.ErrnoException) =>
      done({ outcome: e.code === "ECONNREFUSED" ? "refused" : "lost", bytes: 0, error: e.code ?? e.message }),
    );
    req.end(body);
  });
}

function wholeJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

interface Model {
  items: string[];
  numItems: number;
  maxlen: number;
}

/** The model's shape, asked on a connection that closes after the answer (an idle keep-alive connection would hold up the drain). */
async function modelOf(url: string, bundle: string): Promise<Model> {
  const once = new Agent({ keepAlive: false });
  const sent = await send(url, "/v2/models/recommender", undefined, once, true);
  const meta = JSON.parse(sent.text!) as { inputs: { shape: number[] }[]; outputs: { shape: number[] }[] };
  const items = readFileSync(join(bundle, "items.txt"), "utf8").split("\n").filter(Boolean);
  return { items, numItems: meta.outputs[0].shape[1], maxlen: meta.inputs[0].shape[1] };
}

function inferBody(m: Model, rows: number, outputs?: string[]): string {
  const data = Array.from({ length: rows * m.maxlen }, (_, i) => (i % m.maxlen < m.maxlen - 5 ? 0 : 1 + ((i * 7919) % m.numItems)));
  return JSON.stringify({
    inputs: [{ name: "item_seq", datatype: "INT64", shape: [rows, m.maxlen], data }],
    ...(outputs ? { outputs: outputs.map((name) => ({ name })) } : {}),
  });
}

const smallRecommend = (m: Model, i: number) =>
  JSON.stringify({ items: [0, 1, 2, 3, 4].map((j) => m.items[(i * 31 + j * 17) % m.items.length]), k: 10 });

/** Requests in a closed loop on one keep-alive connection until `stop()` says so, or the server stops taking them. */
async function loop(url: string, next: (i: number) => [string, string | undefined], stop: () => boolean, into: Sent[]): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; !stop(); i++) {
    const [path, body] = next(i);
    const sent = await send(url, path, body, agent);
    into.push(sent);
    if (sent.outcome === "refused") break;
  }
  agent.destroy();
}

const percentile = (values: number[], p: number) => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

// ---- (a) rollouts ------------------------------------------------------------------------------
const ROLLOUT_FLAGS = [
  "--max-delay-ms",
  "2",
  "--max-response-bytes",
  String(64 * 2 ** 20),
  "--max-heavy-requests",
  "4",
  "--drain-timeout",
  "30",
];

/** One rollout: load, SIGTERM in the middle of it, the load runs on until the server refuses it; every request classed. */
async function rollout(bundle: string, n: number): Promise<Record<string, unknown>> {
  const server = await startServer(bundle, ROLLOUT_FLAGS);
  const m = await modelOf(server.url, bundle);
  const big = inferBody(m, 1024);
  const small: Sent[] = [];
  const large: Sent[] = [];
  let stopping = false;
  const loops = [
    ...Array.from({ length: 6 }, () =>
      loop(
        server.url,
        (i) => ["/v1/recommend", smallRecommend(m, i)],
        () => stopping,
        small,
      ),
    ),
    ...Array.from({ length: 2 }, () =>
      loop(
        server.url,
        () => ["/v2/models/recommender/infer", big],
        () => stopping,
        large,
      ),
    ),
  ];
  await sleep(400 + ((n * 137) % 400)); // a different moment of the load each time
  const terminated = performance.now();
  server.child.kill("SIGTERM");
  const code = await server.exited;
  const drainMs = performance.now() - terminated;
  stopping = true;
  await Promise.all(loops);
  const count = (list: Sent[], o: Outcome) => list.filter((s) => s.outcome === o).length;
  const lost = [...small, ...large].filter((s) => s.outcome === "lost");
  return {
    rollout: n + 1,
    exitCode: code,
    drainMs: Math.round(drainMs),
    small: {
      answered: count(small, "answered"),
      refused: count(small, "refused"),
      lost: count(small, "lost"),
      httpErrors: count(small, "http-error"),
    },
    infer1024: {
      answered: count(large, "answered"),
      refused: count(large, "refused"),
      lost: count(large, "lost"),
      httpErrors: count(large, "http-error"),
    },
    lostErrors: [...new Set(lost.map((s) => s.error))],
  };
}

// ---- (b) the largest requests, 16 at once ------------------------------------------------------
interface Kind {
  name: string;
  path: string;
  body: string;
}

/** The largest request of every kind the server takes, with its default limits (1 MiB bodies, 1,024 rows, 16 MiB answers). */
function largestRequests(m: Model): Kind[] {
  const rowsFitting = Math.floor((16 * 2 ** 20 - 2048) / (m.numItems * 24 + 100 * 24 + 100 * 6 + 64 * 24));
  const longIds = Array.from({ length: 10_000 }, (_, i) => `${m.items[i % m.items.length]}-${"x".repeat(80)}`);
  return [
    {
      name: "infer 1,024 rows, all outputs (over --max-response-bytes: 413)",
      path: "/v2/models/recommender/infer",
      body: inferBody(m, 1024),
    },
    {
      name: `infer ${rowsFitting} rows, all outputs (the largest answer allowed)`,
      path: "/v2/models/recommender/infer",
      body: inferBody(m, rowsFitting),
    },
    {
      name: "infer 1,024 rows, top_items + top_scores",
      path: "/v2/models/recommender/infer",
      body: inferBody(m, 1024, ["top_items", "top_scores"]),
    },
    {
      name: "recommend: 10,000-item history (100 distinct), k = 1,000",
      path: "/v1/recommend",
      body: JSON.stringify({ items: Array.from({ length: 10_000 }, (_, i) => m.items[i % 100]), k: 1000 }),
    },
    { name: "recommend: ~1 MB body (10,000 long unknown ids)", path: "/v1/recommend", body: JSON.stringify({ items: longIds, k: 1000 }) },
    {
      name: "feedback: body over --max-body-bytes (413)",
      path: "/v1/feedback",
      body: JSON.stringify({ request_id: "x".repeat(2 ** 21), item: "a", event: "click" }),
    },
  ];
}

/** Small requests on 4 connections for as long as `during` runs: their latency, and the server's peak RSS meanwhile. */
async function alongside<T>(server: Server, m: Model, during: () => Promise<T>): Promise<{ result: T; small: Sent[]; peakRssMiB: number }> {
  const small: Sent[] = [];
  let done = false;
  let peak = rssMiB(server.child.pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(server.child.pid))), 10);
  const loops = Array.from({ length: 4 }, () =>
    loop(
      server.url,
      (i) => ["/v1/recommend", smallRecommend(m, i)],
      () => done,
      small,
    ),
  );
  await sleep(200);
  const result = await during();
  done = true;
  await Promise.all(loops);
  clearInterval(sampler);
  return { result, small, peakRssMiB: round(peak) };
}

async function largest(bundle: string, concurrent: number): Promise<Record<string, unknown>> {
  const server = await startServer(bundle, ["--max-delay-ms", "2"]);
  const m = await modelOf(server.url, bundle);
  const rows: Record<string, unknown>[] = [];
  const idle = await alongside(server, m, () => sleep(2000));
  rows.push({ kind: "none (small requests only)", ...smallStats(idle.small), peakRssMiB: idle.peakRssMiB });
  for (const kind of largestRequests(m)) {
    const agent = new Agent({ keepAlive: true, maxSockets: concurrent });
    const run = await alongside(server, m, () =>
      Promise.all(Array.from({ length: concurrent }, () => send(server.url, kind.path, kind.body, agent))),
    );
    agent.destroy();
    const statuses: Record<string, number> = {};
    for (const s of run.result) statuses[s.status ?? s.outcome] = (statuses[s.status ?? s.outcome] ?? 0) + 1;
    rows.push({
      kind: kind.name,
      requestBytes: kind.body.length,
      statuses,
      slowestMs: Math.round(Math.max(...run.result.map((s) => s.ms))),
      largestAnswerBytes: Math.max(...run.result.map((s) => s.bytes)),
      ...smallStats(run.small),
      peakRssMiB: run.peakRssMiB,
    });
  }
  server.child.kill("SIGTERM");
  await server.exited;
  return { concurrent, limits: "the defaults", kinds: rows };
}

function smallStats(small: Sent[]) {
  const ok = small.filter((s) => s.outcome === "answered").map((s) => s.ms);
  return {
    smallRequests: small.length,
    smallNotAnswered: small.length - ok.length,
    smallP50Ms: round(percentile(ok, 50), 2),
    smallP99Ms: round(percentile(ok, 99), 2),
  };
}

// ---- run -----------------------------------------------------------------------------------------
const bundle = args.bundle ?? (await syntheticBundle());
const rollouts: Record<string, unknown>[] = [];
for (let n = 0; n < Number(args.rollouts); n++) {
  const r = await rollout(bundle, n);
  rollouts.push(r);
  process.stderr.write(`rollout ${n + 1}: ${JSON.stringify(r)}\n`);
}
const biggest = await largest(bundle, Number(args.concurrent));
const total = (key: "small" | "infer1024", field: string) => rollouts.reduce((n, r) => n + (r[key] as Record<string, number>)[field], 0);
const report = {
  machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
  bundle,
  rollouts: {
    count: rollouts.length,
    lost: total("small", "lost") + total("infer1024", "lost"),
    answered: total("small", "answered") + total("infer1024", "answered"),
    infer1024Answered: total("infer1024", "answered"),
    refusedAfterSigterm: total("small", "refused") + total("infer1024", "refused"),
    exitCodes: [...new Set(rollouts.map((r) => r.exitCode))],
    drainMs: {
      median: percentile(
        rollouts.map((r) => r.drainMs as number),
        50,
      ),
      max: Math.max(...rollouts.map((r) => r.drainMs as number)),
    },
    runs: rollouts,
  },
  largest: biggest,
};
mkdirSync(dirname(join(root, args.out!)), { recursive: true });
writeFileSync(join(root, args.out!), `${JSON.stringify(report, null, 2)}\n`);
console.log(
  `rollouts: ${report.rollouts.count}, requests answered ${report.rollouts.answered} (1,024-row infer ${report.rollouts.infer1024Answered}), ` +
    `lost ${report.rollouts.lost} (expected 0), refused after SIGTERM ${report.rollouts.refusedAfterSigterm}, exit codes ${report.rollouts.exitCodes.join(", ")}, ` +
    `SIGTERM to exit ${report.rollouts.drainMs.median} ms (median), ${report.rollouts.drainMs.max} ms (max)`,
);
for (const k of biggest.kinds as Record<string, unknown>[]) {
  console.log(
    `${k.kind}: ${JSON.stringify(k.statuses ?? {})} peak RSS ${k.peakRssMiB} MiB, small requests p50 ${k.smallP50Ms} / p99 ${k.smallP99Ms} ms`,
  );
}
console.log(`report: ${args.out}`);
