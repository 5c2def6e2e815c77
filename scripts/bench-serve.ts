// Model-server benchmark: HTTP throughput and latency of `recship serve` under wrk or autocannon
// (127.0.0.1, closed loop at 1/16/64 connections), latency at a fixed request rate (open loop,
// evenly spaced), and the same model's in-process onnxruntime throughput at the same batch sizes.
//   npx tsx scripts/bench-serve.ts --bundle runs/beauty [--duration 8] [--repeat 3] [--workers 1] [--threads n] [--serve-args=--no-shared-queue] [--generator wrk|autocannon] [--out bench/serve.json]
// The server runs in a child process; the load generator shares the machine's cores with it
// (the JSON says how many there are), so on a small machine the figures are a lower bound.
// The closed-loop generator is wrk (C, one thread; `apt-get install wrk`) when it is on the PATH,
// else autocannon (Node): at thousands of requests/s autocannon itself needs most of a core,
// which on a 2-core machine is taken from the server it measures.
import { execFile, spawnSync, type ChildProcess } from "node:child_process";
import { spawnServe } from "./serve-process.js";
import { pacedLoad } from "./paced-load.js";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { openModelSource } from "../shared/bundle/model-source.js";
import { silentLogger } from "../shared/log.js";
import { SERVED_OUTPUTS } from "../shared/onnx/ort-recommender.js";
import { ModelRunner, writeHistoryRow, type OutputName } from "../shared/serve/model-runner.js";
import { openSession } from "../shared/serve/ort-session.js";
import { defaultSessionThreads, usableCores } from "../shared/util/cpu-budget.js";
import { Rng } from "../shared/util/random.js";

const { values: args } = parseArgs({
  options: {
    bundle: { type: "string" },
    duration: { type: "string", default: "10" },
    connections: { type: "string", default: "1,16,64" },
    rate: { type: "string", default: "200" },
    "batch-sizes": { type: "string", default: "1,16,64" },
    /** default: --duration, so both sides of a ratio are measured over the same time */
    "inprocess-seconds": { type: "string" },
    "max-batch": { type: "string", default: "64" },
    "max-delay-ms": { type: "string", default: "2" },
    threads: { type: "string" },
    workers: { type: "string", default: "1" },
    k: { type: "string", default: "10" },
    generator: { type: "string", default: "auto" },
    repeat: { type: "string", default: "3" },
    "serve-args": { type: "string" },
    dist: { type: "boolean", default: false },
    out: { type: "string" },
  },
});
if (!args.bundle) {
  process.stderr.write("usage: bench-serve.ts --bundle <dir> [--duration 10] [--connections 1,16,64] [--rate 200] [--out file.json]\n");
  process.exit(1);
}
const bundle = args.bundle;
const duration = Number(args.duration);
const ints = (s: string) => s.split(",").map((x) => Number(x.trim()));
const root = fileURLToPath(new URL("..", import.meta.url));

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; average: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}
type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)("autocannon") as Autocannon;

// ---- request bodies: real item ids, histories of 1..maxlen items, seeded -------------------
const source = await openModelSource(bundle);
const items = source.itemIds.slice(1);
const rng = new Rng("bench-serve");
const bodies = Array.from({ length: 2000 }, () => {
  const n = 1 + Math.floor(rng.next() * source.maxlen);
  return JSON.stringify({ items: Array.from({ length: n }, () => items[Math.floor(rng.next() * items.length)]), k: Number(args.k) });
});

// ---- the server ---------------------------------------------------------------------------
function startServer(): Promise<{ child: ChildProcess; url: string }> {
  const entry = args.dist ? [join(root, "dist", "cli", "index.js")] : [...process.execArgv, join(root, "shared", "cli", "main.ts")];
  const serveArgs = ["--bundle", bundle, "--port", "0", "--max-batch", args["max-batch"]!, "--max-delay-ms", args["max-delay-ms"]!];
  if (args.threads) serveArgs.push("--threads", args.threads);
  serveArgs.push("--workers", args.workers!);
  if (args["serve-args"]) serveArgs.push(...args["serve-args"].split(/\s+/).filter(Boolean));
  return spawnServe(entry, serveArgs);
}

/** The server's batch-size histogram and CPU time (all its threads), from /metrics. */
async function batchStats(url: string): Promise<{ sum: number; count: number; cpuSeconds: number; runSeconds: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, "m").exec(text)?.[2] ?? 0);
  return {
    sum: value("recship_batch_size_sum"),
    count: value("recship_batch_size_count"),
    cpuSeconds: value("process_cpu_seconds_total"),
    runSeconds: value("recship_batch_duration_seconds_sum"),
  };
}

/** CPU seconds of the server's threads by thread name (MainThread, WorkerThread, ...), from Linux's /proc; {} elsewhere. */
function threadCpu(pid: number | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (pid === undefined) return out;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      // after "(comm) ": state is field 3, utime and stime fields 14 and 15, in clock ticks (100/s)
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out[name] = (out[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100;
    }
  } catch {
    // not Linux, or the server is gone: no per-thread figures
  }
  return out;
}

/** Per-thread CPU between two readings, in µs a request (threads under 1 µs left out). */
function threadCpuPerRequest(before: Record<string, number>, after: Record<string, number>, requests: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, seconds] of Object.entries(after)) {
    const micros = requests > 0 ? ((seconds - (before[name] ?? 0)) * 1e6) / requests : 0;
    if (micros >= 1) out[name] = round(micros, 1);
  }
  return out;
}

/** Server CPU per answered request, in µs: what the server costs besides the load generator. */
const cpuPerRequest = (before: { cpuSeconds: number }, after: { cpuSeconds: number }, requests: number) =>
  requests > 0 ? round(((after.cpuSeconds - before.cpuSeconds) * 1e6) / requests, 1) : 0;

const generator =
  args.generator === "auto" ? (spawnSync("wrk", ["--version"]).error ? "autocannon" : "wrk") : (args.generator as "wrk" | "autocannon");
if (generator !== "wrk" && generator !== "autocannon")
  throw new Error(`--generator must be wrk, autocannon or auto, not ${args.generator}`);

/** wrk's Lua script: POST /v1/recommend with the bodies (one JSON per line of a file) in turn; a summary line at the end. */
const wrkScript = (bodiesFile: string) => `
local bodies = {}
for line in io.lines(${JSON.stringify(bodiesFile)}) do bodies[#bodies + 1] = line end
local i = 0
request = function()
  i = i + 1
  return wrk.format("POST", "/v1/recommend", { ["Content-Type"] = "application/json" }, bodies[(i % #bodies) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("RECSHIP %d %d %d %d %d %d %f %f %f %f %f %f\\n",
    summary.requests, summary.duration, summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.errors.status, summary.errors.timeout, 0,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.mean / 1000, latency.max / 1000, 0))
end
`;
const wrkDir = mkdtempSync(join(tmpdir(), "recship-bench-wrk-"));
process.on("exit", () => rmSync(wrkDir, { recursive: true, force: true }));
writeFileSync(join(wrkDir, "bodies.jsonl"), `${bodies.join("\n")}\n`);
writeFileSync(join(wrkDir, "recommend.lua"), wrkScript(join(wrkDir, "bodies.jsonl")));

/** One closed-loop run of wrk (one thread) at a number of connections. */
async function wrkRun(url: string, connections: number, seconds: number): Promise<AutocannonResult> {
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(
      "wrk",
      ["-t", "1", "-c", String(connections), "-d", `${seconds}s`, "--timeout", "10s", "-s", join(wrkDir, "recommend.lua"), url],
      (error, out, err) => (error ? reject(new Error(`wrk failed: ${err || error.message}`)) : resolve(out)),
    ),
  );
  const line = /^RECSHIP (.+)$/m.exec(stdout);
  if (!line) throw new Error(`wrk printed no summary:\n${stdout}`);
  const [requests, micros, errors, non2xx, timeouts, , p50, p90, p99, mean, max] = line[1].split(" ").map(Number);
  return {
    requests: { total: requests, average: requests / (micros / 1e6) },
    latency: { p50, p90, p99, average: mean, max },
    errors,
    timeouts,
    non2xx,
    duration: micros / 1e6,
  };
}

async function load(url: string, connections: number, seconds: number, pid?: number) {
  let i = 0;
  const before = await batchStats(url);
  const threadsBefore = threadCpu(pid);
  const r =
    generator === "wrk"
      ? await wrkRun(url, connections, seconds)
      : await autocannon({
          url,
          connections,
          duration: seconds,
          requests: [
            {
              method: "POST",
              path: "/v1/recommend",
              headers: { "content-type": "application/json" },
              setupRequest: (req: Record<string, unknown>) => ({ ...req, body: bodies[i++ % bodies.length] }),
            },
          ],
        });
  const after = await batchStats(url);
  const threadsAfter = threadCpu(pid);
  return {
    connections,
    requestsPerSecond: round(r.requests.total / r.duration),
    latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, mean: round(r.latency.average), max: r.latency.max },
    requests: r.requests.total,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    meanBatchSize: after.count > before.count ? round((after.sum - before.sum) / (after.count - before.count)) : 0,
    serverCpuMicrosPerRequest: cpuPerRequest(before, after, r.requests.total),
    /** by thread: MainThread = HTTP and JSON, WorkerThread = the model worker(s) */
    serverThreadCpuMicrosPerRequest: threadCpuPerRequest(threadsBefore, threadsAfter, r.requests.total),
    /** share of the run's wall time the model spent in onnxruntime runs (summed over workers) */
    modelBusyShare: round((after.runSeconds - before.runSeconds) / r.duration, 3),
  };
}

/**
 * Open-loop load at a fixed rate: requests evenly spaced (autocannon's rate limit sends each
 * second's budget in a burst), latency measured from the moment a request was due, so a
 * stalled server is charged for the requests it delayed (no coordinated omission).
 */
async function paced(url: string, rate: number, seconds: number) {
  const before = await batchStats(url);
  const result = await pacedLoad(url, bodies, rate, seconds);
  const after = await batchStats(url);
  return {
    ...result,
    meanBatchSize: after.count > before.count ? round((after.sum - before.sum) / (after.count - before.count)) : 0,
    serverCpuMicrosPerRequest: cpuPerRequest(before, after, result.answered),
  };
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const repeat = Math.max(1, Number(args.repeat));

/** The run with the median value (the lower middle one for an even count). */
function median<T>(runs: T[], value: (run: T) => number): T {
  return [...runs].sort((a, b) => value(a) - value(b))[Math.floor((runs.length - 1) / 2)];
}

// ---- in-process onnxruntime, same model, same batch sizes ----------------------------------
// The server's session options: --threads, else the server's own default for its workers.
const serverThreads = args.threads ? Number(args.threads) : defaultSessionThreads(usableCores(), Number(args.workers));

async function inProcess(batchSizes: number[], seconds: number, threads: number | undefined) {
  const { session } = await openSession(source.modelPath, { device: "cpu", threads, log: silentLogger });
  const runner = await ModelRunner.open(session, source.maxlen, items.length, source.modelPath);
  const results = [];
  for (const batch of batchSizes) {
    const input = new BigInt64Array(batch * source.maxlen);
    for (let b = 0; b < batch; b++) {
      const n = 1 + Math.floor(rng.next() * source.maxlen);
      writeHistoryRow(
        input,
        b,
        source.maxlen,
        Int32Array.from({ length: n }, () => 1 + Math.floor(rng.next() * items.length)),
      );
    }
    // the outputs the server reads for /v1/recommend (k + history + 1 within the top-k output)
    const fetch = new Set<OutputName>(SERVED_OUTPUTS);
    for (let w = 0; w < 3; w++) await runner.run(input, batch, fetch);
    const times: number[] = [];
    const cpuBefore = process.cpuUsage();
    const start = performance.now();
    while (performance.now() - start < seconds * 1000) {
      const t = performance.now();
      await runner.run(input, batch, fetch);
      times.push(performance.now() - t);
    }
    const elapsed = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    times.sort((a, b) => a - b);
    const q = (p: number) => round(times[Math.min(times.length - 1, Math.floor(p * times.length))], 3);
    results.push({
      batch,
      runs: times.length,
      historiesPerSecond: round((times.length * batch) / elapsed),
      runMs: { p50: q(0.5), p99: q(0.99) },
      cpuMicrosPerHistory: round((cpu.user + cpu.system) / (times.length * batch), 1),
    });
  }
  await runner.release();
  return results;
}

// ---- run ------------------------------------------------------------------------------------
const manifest = source.manifest;
const report: Record<string, unknown> = {
  bench: "serve",
  createdAt: new Date().toISOString(),
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version },
  model: {
    bundle,
    file: source.modelPath,
    items: items.length,
    maxlen: source.maxlen,
    hidden: manifest.model.config.hidden,
    blocks: manifest.model.config.blocks,
  },
  server: {
    maxBatch: Number(args["max-batch"]),
    maxDelayMs: Number(args["max-delay-ms"]),
    threads: serverThreads ?? "onnxruntime default",
    threadsFrom: args.threads ? "--threads" : "the server's default (usable cores but one, per worker)",
    loadGenerator: generator === "wrk" ? "wrk 4.1 (one thread, Lua script cycling the request bodies)" : "autocannon",
    workers: Number(args.workers),
    extraArgs: args["serve-args"] ?? "",
    k: Number(args.k),
  },
  durationSeconds: duration,
};
const server = await startServer();
// A shared 2-core machine drifts by up to 25 % within minutes: each repeat runs the HTTP loads and
// then, with the server idle, the in-process reference, largest batch first, so that every ratio
// compares figures taken back to back (64 connections, then batches of 64) over the same
// duration; the report gives medians and every run.
type HttpRun = Awaited<ReturnType<typeof load>>;
type InProcessRun = Awaited<ReturnType<typeof inProcess>>[number];
const httpRuns = new Map<number, HttpRun[]>();
const inprocRuns = new Map<number, InProcessRun[]>();
const ratios: number[] = [];
const allCoresRuns: InProcessRun[] = [];
const allCoresRatios: number[] = [];
try {
  await load(server.url, 16, Math.min(2, duration)); // warm-up, not recorded
  for (let i = 0; i < repeat; i++) {
    for (const c of ints(args.connections!).sort((a, b) => a - b)) {
      const r = await load(server.url, c, duration, server.child.pid);
      process.stderr.write(
        `http c=${c}: ${r.requestsPerSecond} req/s, p50 ${r.latencyMs.p50} ms, p99 ${r.latencyMs.p99} ms, mean batch ${r.meanBatchSize}, ` +
          `server CPU ${r.serverCpuMicrosPerRequest} µs/request ${JSON.stringify(r.serverThreadCpuMicrosPerRequest)}, model busy ${r.modelBusyShare}\n`,
      );
      httpRuns.set(c, [...(httpRuns.get(c) ?? []), r]);
    }
    const batchSizes = ints(args["batch-sizes"]!).sort((a, b) => b - a);
    const inprocSeconds = Number(args["inprocess-seconds"] ?? duration);
    for (const r of await inProcess(batchSizes, inprocSeconds, serverThreads)) {
      process.stderr.write(
        `in-process batch ${r.batch}: ${r.historiesPerSecond} histories/s, run p50 ${r.runMs.p50} ms, CPU ${r.cpuMicrosPerHistory} µs/history\n`,
      );
      inprocRuns.set(r.batch, [...(inprocRuns.get(r.batch) ?? []), r]);
    }
    const c64 = httpRuns.get(64)?.at(-1);
    const b64 = inprocRuns.get(64)?.at(-1);
    if (c64 && b64) {
      ratios.push(round(c64.requestsPerSecond / b64.historiesPerSecond, 3));
      process.stderr.write(`repeat ${i + 1}: HTTP at 64 connections ÷ in-process batch 64 = ${ratios.at(-1)}\n`);
    }
    // also the machine's best in-process figure when the server keeps cores for HTTP: onnxruntime's
    // default threads (one per core), which leave nothing for a server's HTTP and JSON
    if (serverThreads !== undefined && c64) {
      const [all] = await inProcess([64], inprocSeconds, undefined);
      allCoresRuns.push(all);
      allCoresRatios.push(round(c64.requestsPerSecond / all.historiesPerSecond, 3));
      process.stderr.write(
        `in-process batch 64, onnxruntime's default threads: ${all.historiesPerSecond} histories/s (HTTP c64 ÷ it = ${allCoresRatios.at(-1)})\n`,
      );
    }
  }
  report.http = [...httpRuns].map(([, runs]) => ({
    ...median(runs, (r) => r.requestsPerSecond),
    runs: runs.map((r) => r.requestsPerSecond),
  }));
  const fixed = await paced(server.url, Number(args.rate), duration);
  process.stderr.write(
    `fixed ${args.rate} req/s: achieved ${fixed.requestsPerSecond}, p50 ${fixed.latencyMs.p50} ms, p99 ${fixed.latencyMs.p99} ms\n`,
  );
  report.fixedRate = fixed;
} finally {
  server.child.kill("SIGTERM");
  await new Promise((r) => server.child.once("exit", r));
}
report.inProcess = [...inprocRuns]
  .sort(([a], [b]) => a - b)
  .map(([, runs]) => ({
    ...median(runs, (r) => r.historiesPerSecond),
    runs: runs.map((r) => r.historiesPerSecond),
  }));
// the acceptance figure: closed-loop HTTP at 64 connections ÷ in-process batches of 64, per repeat
if (ratios.length) {
  report.c64VsInProcessB64 = { median: median(ratios, (x) => x), runs: ratios };
  process.stderr.write(`HTTP at 64 connections ÷ in-process batch 64: median ${median(ratios, (x) => x)} of ${ratios.join(", ")}\n`);
}
if (allCoresRuns.length) {
  report.inProcessAllCoresB64 = {
    threads: "onnxruntime default (one per core)",
    ...median(allCoresRuns, (r) => r.historiesPerSecond),
    runs: allCoresRuns.map((r) => r.historiesPerSecond),
  };
  report.c64VsInProcessAllCoresB64 = { median: median(allCoresRatios, (x) => x), runs: allCoresRatios };
}
const json = `${JSON.stringify(report, null, 2)}\n`;
if (args.out) {
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, json);
}
process.stdout.write(json);
