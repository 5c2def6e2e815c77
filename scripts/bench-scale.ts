// Scale benchmark (issue 17): a synthetic catalogue at warehouse scale through every step, each
// stage a child process of the CLI with its wall time and peak RSS (every thread's):
//   generate → load → validate → train (time budget) → train at 12k items (the same model shape,
//   same budget: the throughput reference) → convert → compress → gate (user sample) → serve
//   (open-loop load at a fixed rate: p99, start-up time, RSS)
//   npm run bench:scale -- --items 1000000 --events 100000000 --train-minutes 5 --report bench/scale.json
//     [--work .tmp/scale] [--skip validate,compress] [--gate-users 10000] [--serve-rate 100] [--serve-seconds 30] [--serve-threads N (default: recship serve's)] [--resume]
// The generated catalogues stay in --work and are reused when their settings match (a rerun does not
// regenerate 10^8 rows); with --resume every stage that finished in an earlier run is reused too.
import { spawn } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { pacedLoad } from "./paced-load.js";
import { spawnServe } from "./serve-process.js";

const { values: args } = parseArgs({
  options: {
    items: { type: "string", default: "1000000" },
    events: { type: "string", default: "100000000" },
    "small-items": { type: "string", default: "12000" },
    "train-minutes": { type: "string", default: "5" },
    "gate-users": { type: "string", default: "10000" },
    "eval-users": { type: "string", default: "1000" },
    "serve-rate": { type: "string", default: "100" },
    "serve-seconds": { type: "string", default: "30" },
    /**
     * The server's onnxruntime intra-op threads (empty: recship serve's default, which gives a model
     * with a wide output layer every core). At 10^6 items a request is one product over the whole
     * item table, which two threads split: p99 11-12 ms at 100 requests/s here, against 23-31 ms
     * with one (the cores minus one for HTTP, the default for small catalogues).
     */
    "serve-threads": { type: "string", default: "" },
    /** Thread counts to compare the server at after the stages ("1,2"), --serve-repeats rounds each. */
    "serve-compare": { type: "string", default: "" },
    "serve-repeats": { type: "string", default: "2" },
    work: { type: "string", default: ".tmp/scale" },
    skip: { type: "string", default: "" },
    /** compress-model's variants: the item-table ones are what serving a million items needs (chosen by latency: the server answers one history at a time). */
    methods: { type: "string", default: "emb-int8,emb-int4,emb-int8+int8-dynamic" },
    resume: { type: "boolean", default: false },
    report: { type: "string", default: "bench/scale.json" },
    child: { type: "string" },
    data: { type: "string" },
    bundle: { type: "string" },
    model: { type: "string" },
  },
});

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const work = resolve(args.work!);
const skip = new Set(args.skip!.split(",").filter(Boolean));
const items = Number(args.items);
const events = Number(args.events);
const COLUMNS = ["--user-col", "user_id", "--item-col", "item_id", "--time-col", "ts"];
/** The model measured: train-model's default shape, a sampled loss with lazy updates (what a million items needs). */
const CONFIG = `model: {hidden: 64, blocks: 2, heads: 1, maxlen: 50}
train: {loss: sampled-ce, optimizer: lazy-adam, negatives: 1024, validationUsers: ${Number(args["eval-users"])}}`;

interface StageFigures {
  seconds: number;
  peakRssBytes: number;
  ok: boolean;
  reused?: boolean;
  log: string;
  [more: string]: unknown;
}

const stageFile = (name: string) => join(work, "stages", `${name}.json`);
const log = (message: string) => process.stderr.write(`[bench:scale ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

/** Runs `node <preload> <script> <args>` with its output in <work>/logs/<name>.log; its wall time and peak RSS. */
async function runProcess(name: string, script: string[], extraEnv: Record<string, string> = {}): Promise<StageFigures> {
  mkdirSync(join(work, "logs"), { recursive: true });
  const logFile = join(work, "logs", `${name}.log`);
  const rssFile = join(work, "logs", `${name}.rss`);
  const out = createWriteStream(logFile);
  const t0 = performance.now();
  const code = await new Promise<number>((done) => {
    const child = spawn(process.execPath, [...process.execArgv, "--import", join(root, "scripts", "peak-rss.mjs"), ...script], {
      env: { ...process.env, ...extraEnv, RECSHIP_PEAK_RSS_FILE: rssFile },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on("close", (c) => done(c ?? 1));
  });
  await new Promise<void>((done) => out.end(done));
  const seconds = (performance.now() - t0) / 1000;
  const peakRssBytes = existsSync(rssFile) ? Number(readFileSync(rssFile, "utf8")) : 0;
  if (code !== 0) log(`${name} failed (exit ${code}); its output: ${logFile}`);
  return { seconds: round(seconds), peakRssBytes, ok: code === 0, log: logFile };
}

const cli = (name: string, cliArgs: string[]) => runProcess(name, [join(root, "shared", "cli", "main.ts"), ...cliArgs]);
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;
const readJson = (file: string) => JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;

/** A stage: reused from an earlier run when `key` matches and (for measurements) --resume asks; else run and stored. */
async function stage(name: string, key: unknown, run: () => Promise<StageFigures>, reuse = args.resume): Promise<StageFigures | undefined> {
  if (skip.has(name)) return undefined;
  const file = stageFile(name);
  if (reuse && existsSync(file)) {
    const stored = readJson(file);
    if (JSON.stringify(stored.key) === JSON.stringify(key) && stored.figures && (stored.figures as StageFigures).ok) {
      log(`${name}: reused from an earlier run`);
      return { ...(stored.figures as StageFigures), reused: true };
    }
  }
  log(`${name}: running`);
  const figures = await run();
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify({ key, figures }, null, 2));
  log(`${name}: ${figures.ok ? "done" : "FAILED"} in ${figures.seconds} s, peak RSS ${Math.round(figures.peakRssBytes / 2 ** 20)} MB`);
  return figures;
}

// ---- the stages ----------------------------------------------------------------------------
const catalogue = (n: number, e: number) => join(work, `catalogue-${n}-${e}`);

const generate = (n: number, e: number) =>
  stage(
    `generate-${n}-${e}`,
    { n, e, seed: 1 },
    () => cli(`generate-${n}-${e}`, ["synth", "--out", catalogue(n, e), "--items", String(n), "--events", String(e), "--seed", "1"]),
    true,
  );

/** Reading the log into the trainer's arrays, alone: the load goal's figure. */
async function loadChild(path: string): Promise<void> {
  const { readInteractions } = await import("../shared/data/readers.js");
  const t0 = performance.now();
  const r = await readInteractions(path, { userColumn: "user_id", itemColumn: "item_id", timeColumn: "ts" });
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    JSON.stringify({
      rows: r.rowsRead,
      users: r.log.userIds.length,
      items: r.log.itemIds.length - 1,
      readSeconds: round(seconds),
      bytes: r.bytes,
    }),
  );
}

async function load(path: string): Promise<StageFigures | undefined> {
  return stage("load", { path }, async () => {
    const figures = await runProcess("load", [fileURLToPath(import.meta.url), "--child", "load", "--data", path]);
    const lines = readFileSync(figures.log, "utf8").trim().split("\n");
    return figures.ok ? { ...figures, ...JSON.parse(lines[lines.length - 1]) } : figures;
  });
}

async function trainStage(name: string, data: string): Promise<StageFigures | undefined> {
  const out = join(work, name);
  const reportFile = join(work, `${name}-report.json`);
  const minutes = args["train-minutes"]!;
  return stage(name, { data, minutes, CONFIG }, async () => {
    const figures = await cli(name, [
      "train",
      "--data",
      data,
      ...COLUMNS,
      "--no-validate",
      "--config",
      CONFIG,
      "--max-minutes",
      minutes,
      "--eval-users",
      args["eval-users"]!,
      "--out",
      out,
      "--overwrite",
      "--report",
      reportFile,
    ]);
    if (!figures.ok) return figures;
    const report = readJson(reportFile) as {
      sequencesPerSecond?: number;
      trainSeconds?: number;
      history?: { partial?: number }[];
      parameters?: number;
    };
    const { sequencesPerSecond, trainSeconds, parameters } = report;
    return {
      ...figures,
      sequencesPerSecond,
      trainSeconds,
      parameters,
      epochs: report.history?.length,
      partialEpoch: report.history?.at(-1)?.partial,
    };
  });
}

/** compress-model's item-table variants on the user sample, and the chosen one's top-10 recall against the exact model. */
async function compressStage(bundle: string, data: string): Promise<StageFigures | undefined> {
  const reportFile = join(work, "compress-report.json");
  return stage("compress", { bundle, methods: args.methods, objective: "latency" }, async () => {
    const figures = await cli("compress", [
      "compress",
      "--bundle",
      bundle,
      "--data",
      data,
      ...COLUMNS,
      "--eval-users",
      args["eval-users"]!,
      "--methods",
      args.methods!,
      "--objective",
      "latency",
      "--keep",
      "chosen",
      "--report",
      reportFile,
    ]);
    if (!figures.ok) return figures;
    const report = readJson(reportFile) as { chosen: { method: string; path: string; bytes: number; ndcg10RelDrop: number } | null };
    const chosen = report.chosen;
    if (!chosen) return { ...figures, chosen: null };
    const recall = await runProcess("recall", [
      fileURLToPath(import.meta.url),
      "--child",
      "recall",
      "--data",
      data,
      "--bundle",
      bundle,
      "--model",
      chosen.path,
    ]);
    const lines = readFileSync(recall.log, "utf8").trim().split("\n");
    return {
      ...figures,
      chosen: { method: chosen.method, bytes: chosen.bytes, ndcg10RelDrop: chosen.ndcg10RelDrop },
      recall: recall.ok ? JSON.parse(lines[lines.length - 1]) : "failed",
    };
  });
}

/**
 * Top-10 recall of a compressed model against the exact (fp32) export: the share of the exact
 * top 10 the variant also returns, over real histories (the first users of the log).
 */
async function recallChild(data: string, bundle: string, model: string): Promise<void> {
  const { readInteractions } = await import("../shared/data/readers.js");
  const { openModelSource } = await import("../shared/bundle/model-source.js");
  const { openSession } = await import("../shared/serve/ort-session.js");
  const { ModelRunner, writeHistoryRow } = await import("../shared/serve/model-runner.js");
  const { silentLogger } = await import("../shared/log.js");
  const source = await openModelSource(bundle);
  const dense = new Map(source.itemIds.map((id, i) => [id, i]));
  const r = await readInteractions(data, {
    userColumn: "user_id",
    itemColumn: "item_id",
    timeColumn: "ts",
    query: "SELECT * FROM log WHERE user_id < 1000",
  });
  const histories = r.log.sequences
    .map((s) =>
      Int32Array.from(s.subarray(Math.max(0, s.length - 21), s.length - 1), (i) => dense.get(r.log.itemIds[i]) ?? 0).filter((i) => i > 0),
    )
    .filter((h) => h.length > 0);
  const runners = await Promise.all(
    [join(bundle, "model.onnx"), model].map(async (path) =>
      ModelRunner.open(
        (await openSession(path, { device: "cpu", log: silentLogger })).session,
        source.maxlen,
        source.itemIds.length - 1,
        path,
      ),
    ),
  );
  let hits = 0;
  for (let start = 0; start < histories.length; start += 50) {
    const batch = histories.slice(start, start + 50);
    const input = new BigInt64Array(batch.length * source.maxlen);
    batch.forEach((h, b) => writeHistoryRow(input, b, source.maxlen, h));
    const [exact, variant] = await Promise.all(runners.map((runner) => runner.run(input, batch.length)));
    const [k, kv] = runners.map((runner) => runner.shape.topK);
    for (let b = 0; b < batch.length; b++) {
      const want = new Set(Array.from(exact.topItems!.subarray(b * k, b * k + 10), Number));
      for (const item of variant.topItems!.subarray(b * kv, b * kv + 10)) if (want.has(Number(item))) hits++;
    }
  }
  console.log(JSON.stringify({ histories: histories.length, recallAt10: round(hits / (10 * histories.length), 4) }));
}

/** One server run at --serve-rate for --serve-seconds: `threads` onnxruntime threads, else the server's default for this model. */
async function serveOnce(bundle: string, model: string, threads: string | undefined): Promise<StageFigures> {
  const t0 = performance.now();
  const entry = [...process.execArgv, join(root, "shared", "cli", "main.ts")];
  const server = await spawnServe(entry, ["--bundle", bundle, "--port", "0", ...(threads ? ["--threads", threads] : [])]);
  const startSeconds = (performance.now() - t0) / 1000;
  try {
    const { openModelSource, outputLayerWork } = await import("../shared/bundle/model-source.js");
    const source = await openModelSource(bundle);
    const ids = source.itemIds;
    const work = outputLayerWork(source);
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const bodies = Array.from({ length: 2000 }, () =>
      JSON.stringify({
        items: Array.from({ length: 1 + Math.floor(next() * 20) }, () => ids[1 + Math.floor(next() * (ids.length - 1))]),
        k: 10,
      }),
    );
    await pacedLoad(server.url, bodies.slice(0, 50), 20, 2); // warm-up
    const result = await pacedLoad(server.url, bodies, Number(args["serve-rate"]), Number(args["serve-seconds"]));
    const status = readFileSync(`/proc/${server.child.pid}/status`, "utf8");
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0) * 1024;
    return {
      seconds: round(startSeconds),
      peakRssBytes: kb("VmHWM"),
      ok: result.errors === 0 && result.non2xx === 0,
      log: "",
      startSeconds: round(startSeconds),
      rssBytes: kb("VmRSS"),
      p99Ms: result.latencyMs.p99,
      model,
      outputLayerWork: work,
      // what the server ran with: the given threads, else the default it chose for this model and said
      threads: threads ? Number(threads) : Number(/onnxruntime intra-op threads: (\d+) per session/.exec(server.startupLog)?.[1] ?? NaN),
      threadsFrom: threads ? "--threads" : "recship serve's default",
      ...result,
    };
  } finally {
    server.child.kill("SIGTERM");
  }
}

async function serveStage(bundle: string, model: string): Promise<StageFigures | undefined> {
  const threads = args["serve-threads"] || undefined;
  const key = { bundle, model, rate: args["serve-rate"], seconds: args["serve-seconds"], threads: threads ?? "default" };
  return stage("serve", key, () => serveOnce(bundle, model, threads));
}

/**
 * --serve-compare 1,2: the server with each thread count in turn, --serve-repeats rounds
 * (alternating, so the machine's drift falls on both), after the stages; never reused.
 */
async function serveComparison(bundle: string, model: string): Promise<Record<string, unknown>[] | undefined> {
  const counts = args["serve-compare"]!.split(",").filter(Boolean);
  if (counts.length === 0) return undefined;
  const runs = [];
  for (let r = 0; r < Number(args["serve-repeats"]); r++) {
    for (const threads of counts) {
      const f = await serveOnce(bundle, model, threads);
      const latency = f.latencyMs as { p50: number; p99: number };
      log(`serve with ${threads} thread(s), round ${r + 1}: p50 ${latency.p50} ms, p99 ${latency.p99} ms, ${f.errors} errors`);
      runs.push({ round: r + 1, threads: Number(threads), latencyMs: latency, requestsPerSecond: f.requestsPerSecond, errors: f.errors });
    }
  }
  return runs;
}

async function main(): Promise<void> {
  const big = catalogue(items, events);
  const small = catalogue(Number(args["small-items"]), Math.min(events, 10_000_000));
  const report: Record<string, unknown> = {
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version },
    items,
    events,
    trainMinutes: Number(args["train-minutes"]),
    config: CONFIG,
    started: new Date().toISOString(),
  };
  const save = () => {
    mkdirSync(dirname(resolve(args.report!)), { recursive: true });
    writeFileSync(args.report!, `${JSON.stringify(report, null, 2)}\n`);
  };
  report.generate = await generate(items, events);
  report.load = await load(big);
  save();
  report.validate = await stage("validate", { big }, () => cli("validate", ["validate", "--data", big, ...COLUMNS]));
  const train = await trainStage("train", big);
  await generate(Number(args["small-items"]), Math.min(events, 10_000_000));
  const smallTrain = await trainStage("train-small", small);
  report.train = { ...train, smallCatalogSequencesPerSecond: smallTrain?.sequencesPerSecond, small: smallTrain };
  save();
  if (!train?.ok) return save();
  const bundle = join(work, "train");
  const convert = await stage("convert", { bundle }, () => cli("convert", ["convert", "--bundle", bundle, "--parity-sequences", "200"]));
  const onnx = join(bundle, "model.onnx");
  report.onnxBytes = existsSync(onnx) ? statSync(onnx).size : undefined;
  report.export = { ...convert, onnxBytes: report.onnxBytes };
  save();
  report.compress = await compressStage(bundle, big);
  save();
  report.gate = await stage("gate", { bundle, users: args["gate-users"] }, () =>
    cli("gate", [
      "gate",
      "--candidate",
      bundle,
      "--data",
      big,
      ...COLUMNS,
      "--eval-users",
      args["gate-users"]!,
      "--report",
      join(work, "gate-report.json"),
    ]),
  );
  save();
  const served = (report.compress as { chosen?: { method: string } } | undefined)?.chosen?.method ?? "model.onnx";
  report.serve = await serveStage(bundle, served);
  report.serveComparison = await serveComparison(bundle, served);
  report.finished = new Date().toISOString();
  save();
  console.log(JSON.stringify(report, null, 2));
}

if (args.child === "load") await loadChild(args.data!);
else if (args.child === "recall") await recallChild(args.data!, args.bundle!, args.model!);
else await main();
