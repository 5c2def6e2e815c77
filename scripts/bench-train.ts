// Training-throughput benchmark: one full epoch of training steps on a data set for each worker
// count, each count in its own child process (so peak RSS belongs to that measurement alone),
// all in one run so the figures compare (this machine's speed drifts by up to 25 % within
// minutes). Optionally the data-loading benchmark (--load-rows N: a synthetic N-row CSV).
//   npm run bench:train -- --workers 1,2 --report bench/train.json [--data FILE] [--epochs 1] [--repeat 1] [--load-rows 10000000] [--ceiling]
//     [--config YAML]   (train-model's config: inline YAML or a file; default: train-model's defaults)
// --ceiling also measures what the machine allows: one main-thread training alone, then two
// independent ones at the same time (separate processes sharing nothing): their combined speed
// over one alone bounds any data-parallel speed-up on these cores (caches, memory bandwidth).
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { writeRandomLogCsv } from "../shared/data/synthetic.js";

const { values: args } = parseArgs({
  options: {
    data: { type: "string", default: "../shared/datasets/amazon-beauty.seq.txt" },
    workers: { type: "string", default: "0,1,2" },
    report: { type: "string", default: "bench/train.json" },
    epochs: { type: "string", default: "1" },
    repeat: { type: "string", default: "1" },
    backend: { type: "string", default: "wasm" },
    "load-rows": { type: "string" },
    ceiling: { type: "boolean", default: false },
    config: { type: "string" },
    child: { type: "string" },
    file: { type: "string" },
  },
});

interface WorkerFigures {
  count: number;
  /** Training sequences per second over the measured epochs (steps only; no evaluation). */
  sequencesPerSecond: number;
  tokensPerSecond: number;
  epochSeconds: number;
  steps: number;
  peakRssBytes: number;
  finalLoss: number;
}

/** Trains `epochs` epochs with the trainer's engine and batches, after a few warm-up steps. */
async function trainChild(count: number): Promise<WorkerFigures> {
  const { initBackend } = await import("../shared/model/backend.js");
  const { silentLogger } = await import("../shared/log.js");
  const { readInteractions } = await import("../shared/data/readers.js");
  const { leaveOneOut } = await import("../shared/data/split.js");
  const { loadConfig } = await import("../shared/model/config.js");
  const { epochBatches, trainingExamples } = await import("../shared/model/batches.js");
  const { drawLoss } = await import("../shared/model/losses.js");
  const { initialValues, paramSpecs } = await import("../shared/model/sasrec.js");
  const { ADAM_DEFAULTS } = await import("../shared/model/flat-params.js");
  const { StepPipeline } = await import("../shared/model/parallel/engine.js");
  const { openEngine } = await import("../shared/model/parallel/open-engine.js");
  const { Rng } = await import("../shared/util/random.js");
  const backend = args.backend as "wasm" | "cpu";
  await initBackend(backend, silentLogger);
  const split = leaveOneOut((await readInteractions(args.data!)).log);
  const config = loadConfig(args.config);
  const examples = trainingExamples(split.train, config.model.maxlen);
  const settings = {
    workers: count,
    model: config.model,
    train: config.train,
    numItems: split.numItems,
    values: initialValues(paramSpecs(config.model, split.numItems), config.train.seed),
    adam: { learningRate: config.train.learningRate, ...ADAM_DEFAULTS },
    backend,
    log: silentLogger,
  };
  const engine = await openEngine(settings);
  let loss = 0;
  // the trainer's own way of feeding the engine: one step queued behind the running one
  const pipeline = new StepPipeline(engine, (value: number) => (loss = value));
  const step = (batch: ReturnType<typeof epochBatches>[number], rng: InstanceType<typeof Rng>) =>
    pipeline.push({ kind: "sasrec", input: { batch, rowOffset: 0, draws: drawLoss(config.train, split.numItems, batch, rng) } }, 0);
  const warm = new Rng("warm-up");
  for (const b of epochBatches(examples, config.train.batchTokens, warm).slice(0, 5)) await step(b, warm);
  await pipeline.drain();
  const epochs = Number(args.epochs);
  let steps = 0;
  let tokens = 0;
  const t0 = performance.now();
  for (let e = 0; e < epochs; e++) {
    const rng = new Rng(`epoch:${config.train.seed}:${e}`);
    for (const b of epochBatches(examples, config.train.batchTokens, rng)) {
      await step(b, rng);
      steps++;
      tokens += b.tokens;
    }
  }
  await pipeline.drain();
  const seconds = (performance.now() - t0) / 1000;
  await engine.close();
  return {
    count,
    sequencesPerSecond: (examples.length * epochs) / seconds,
    tokensPerSecond: tokens / seconds,
    epochSeconds: seconds / epochs,
    steps,
    // the process's peak: the main thread and every worker thread's tfjs engine
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    finalLoss: loss,
  };
}

async function loadChild(file: string) {
  const { readInteractions } = await import("../shared/data/readers.js");
  const t0 = performance.now();
  const r = await readInteractions(file, { userColumn: "user", itemColumn: "item", timeColumn: "ts" });
  const seconds = (performance.now() - t0) / 1000;
  return {
    rows: r.rowsRead,
    users: r.log.userIds.length,
    items: r.log.itemIds.length - 1,
    fileMB: Math.round(r.bytes / 2 ** 20),
    seconds,
    rowsPerSecond: r.rowsRead / seconds,
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

/** The model and the training settings a step depends on, as measured (`--config` over train-model's defaults). */
async function measuredConfig() {
  const { loadConfig } = await import("../shared/model/config.js");
  const { model, train } = loadConfig(args.config);
  const { loss, negatives, negativeSampler, batchTokens } = train;
  return { given: args.config ?? "train-model's defaults", model, train: { loss, negatives, negativeSampler, batchTokens } };
}

/** Writes a CSV log as Parquet with DuckDB (zstd, the warehouses' usual export). */
async function csvToParquet(csv: string, parquet: string): Promise<void> {
  const { duckDb } = await import("../shared/data/duckdb-runtime.js");
  const instance = await duckDb().DuckDBInstance.create(":memory:");
  const con = await instance.connect();
  await con.run(`COPY (SELECT * FROM read_csv('${csv}', header = true)) TO '${parquet}' (FORMAT parquet, COMPRESSION zstd)`);
  con.closeSync();
  instance.closeSync();
}

async function child(extra: string[]): Promise<unknown> {
  const script = new URL(import.meta.url).pathname;
  const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, script, ...process.argv.slice(2), ...extra], {
    maxBuffer: 16 << 20,
  });
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

if (args.child === "train") {
  console.log(JSON.stringify(await trainChild(Number(args.file))));
} else if (args.child === "load") {
  console.log(JSON.stringify(await loadChild(args.file!)));
} else {
  const counts = args.workers!.split(",").map(Number);
  const repeat = Number(args.repeat);
  const runs: WorkerFigures[] = [];
  // interleaved repeats (0,1,2,0,1,2,...): drift hits every count alike
  for (let r = 0; r < repeat; r++) {
    for (const count of counts) {
      const figures = (await child(["--child", "train", "--file", String(count)])) as WorkerFigures;
      process.stderr.write(`workers ${count}: ${JSON.stringify(figures)}\n`);
      runs.push(figures);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const workers = counts.map((count) => {
    const mine = runs.filter((r) => r.count === count);
    return {
      count,
      sequencesPerSecond: median(mine.map((r) => r.sequencesPerSecond)),
      epochSeconds: median(mine.map((r) => r.epochSeconds)),
      peakRssBytes: Math.max(...mine.map((r) => r.peakRssBytes)),
      tokensPerSecond: median(mine.map((r) => r.tokensPerSecond)),
      steps: mine[0].steps,
      finalLoss: mine.map((r) => r.finalLoss),
      repeats: mine.map((r) => r.sequencesPerSecond),
    };
  });
  const base = workers.find((w) => w.count === 1) ?? workers[0];
  const report: Record<string, unknown> = {
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version },
    config: await measuredConfig(),
    data: args.data,
    backend: args.backend,
    epochsMeasured: Number(args.epochs),
    note: "count 0 = the main thread (no worker threads); every count trains the same batches with the same draws",
    workers,
    speedupOver: {
      count: base.count,
      ...Object.fromEntries(workers.map((w) => [w.count, w.sequencesPerSecond / base.sequencesPerSecond])),
    },
    runs,
  };
  if (args.ceiling) {
    const alone = (await child(["--child", "train", "--file", "0"])) as WorkerFigures;
    const pair = (await Promise.all([0, 1].map(() => child(["--child", "train", "--file", "0"])))) as WorkerFigures[];
    const together = pair[0].sequencesPerSecond + pair[1].sequencesPerSecond;
    report.ceiling = {
      note: "two independent one-thread trainings at once vs one alone: the most any split of the work over 2 cores can give here",
      aloneSequencesPerSecond: alone.sequencesPerSecond,
      pairSequencesPerSecond: pair.map((p) => p.sequencesPerSecond),
      combinedOverAlone: together / alone.sequencesPerSecond,
    };
    process.stderr.write(`ceiling: ${JSON.stringify(report.ceiling)}\n`);
  }
  if (args["load-rows"]) {
    const rows = Number(args["load-rows"]);
    const big = join("/tmp", `recship-bench-${rows}.csv`);
    if (!existsSync(big)) {
      process.stderr.write(`writing a ${rows}-row log to ${big}\n`);
      await writeRandomLogCsv(big, rows);
    }
    report.load = await child(["--child", "load", "--file", big]);
    // the same rows as Parquet (written once by DuckDB), read through DuckDB: the warehouse path
    const parquet = big.replace(/\.csv$/, ".parquet");
    if (!existsSync(parquet)) await csvToParquet(big, parquet);
    report.loadParquet = await child(["--child", "load", "--file", parquet]);
  }
  mkdirSync(dirname(args.report!), { recursive: true });
  writeFileSync(args.report!, `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify({ workers, speedupOver: report.speedupOver }, null, 2));
}
