// Training-throughput and data-loading benchmark. Each measurement runs in its own child
// process so that peak RSS belongs to that measurement alone.
//   npm run bench:train -- [--data ../shared/datasets/amazon-beauty.seq.txt] [--rows 10000000] [--out bench/train.json] [--cpu]
import { execFile } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    data: { type: "string", default: "../shared/datasets/amazon-beauty.seq.txt" },
    rows: { type: "string", default: "10000000" },
    out: { type: "string", default: "bench/train.json" },
    worker: { type: "string" },
    backend: { type: "string" },
    batches: { type: "string" },
    file: { type: "string" },
    cpu: { type: "boolean", default: false },
  },
});

async function trainWorker(backend: "wasm" | "cpu", data: string, maxBatches: number) {
  const tf = await import("@tensorflow/tfjs");
  const { initBackend } = await import("../shared/model/backend.js");
  const { silentLogger } = await import("../shared/log.js");
  const { readInteractions } = await import("../shared/data/readers.js");
  const { leaveOneOut } = await import("../shared/data/split.js");
  const { loadConfig } = await import("../shared/model/config.js");
  const { SasrecModel } = await import("../shared/model/sasrec-model.js");
  const { epochBatches, trainingExamples } = await import("../shared/model/batches.js");
  const { batchLoss } = await import("../shared/model/losses.js");
  const { Rng } = await import("../shared/util/random.js");
  const info = await initBackend(backend, silentLogger);
  const split = leaveOneOut((await readInteractions(data)).log);
  const config = loadConfig(undefined);
  const model = new SasrecModel(config.model, split.numItems, undefined, 1);
  const optimizer = tf.train.adam(config.train.learningRate);
  const rng = new Rng(1);
  const batches = epochBatches(trainingExamples(split.train, config.model.maxlen), config.train.batchTokens, rng).slice(0, maxBatches);
  const step = (b: (typeof batches)[number]) => {
    const loss = optimizer.minimize(
      () => batchLoss(model.params, config.model, config.train, split.numItems, b, rng),
      true,
      model.variables(),
    )!;
    loss.dataSync();
    loss.dispose();
  };
  step(batches[0]); // warm-up (kernel compilation, first allocations)
  const t0 = performance.now();
  let sequences = 0;
  let tokens = 0;
  for (const b of batches) {
    step(b);
    sequences += b.batch;
    tokens += b.tokens;
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    backend: info.description,
    batches: batches.length,
    sequencesPerSecond: sequences / seconds,
    tokensPerSecond: tokens / seconds,
    seconds,
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

async function loadWorker(file: string) {
  const { readInteractions } = await import("../shared/data/readers.js");
  const t0 = performance.now();
  const r = await readInteractions(file, { userColumn: "user", itemColumn: "item", timeColumn: "ts" });
  return {
    rows: r.rowsRead,
    users: r.log.userIds.length,
    items: r.log.itemIds.length - 1,
    fileMB: Math.round(r.bytes / 2 ** 20),
    seconds: (performance.now() - t0) / 1000,
    rowsPerSecond: r.rowsRead / ((performance.now() - t0) / 1000),
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

async function writeBigLog(path: string, rows: number) {
  const out = createWriteStream(path);
  out.write("user,item,ts\n");
  let buf = "";
  let seed = 12345;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < rows; i++) {
    buf += `u${Math.floor(rand() * 1_000_000)},i${Math.floor(Math.pow(rand(), 2) * 200_000)},${1_600_000_000 + i}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, "drain");
      buf = "";
    }
  }
  out.end(buf);
  await once(out, "finish");
}

async function child(extra: string[]): Promise<unknown> {
  const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, ...extra], {
    maxBuffer: 16 << 20,
  });
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

if (args.worker === "train") {
  console.log(JSON.stringify(await trainWorker(args.backend as "wasm" | "cpu", args.data!, Number(args.batches))));
} else if (args.worker === "load") {
  console.log(JSON.stringify(await loadWorker(args.file!)));
} else {
  const results: Record<string, unknown> = {
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version },
    config: "default (hidden 64, 2 blocks, maxlen 50, sampled-ce 1024 negatives, 1024 tokens per batch)",
    data: args.data,
    train: {} as Record<string, unknown>,
  };
  const train = results.train as Record<string, unknown>;
  train.wasm = await child(["--worker", "train", "--backend", "wasm", "--data", args.data!, "--batches", "60"]);
  process.stderr.write(`wasm: ${JSON.stringify(train.wasm)}\n`);
  if (args.cpu) {
    // the pure-JS backend is the last resort: one batch takes minutes here, so it is opt-in
    train.cpu = await child(["--worker", "train", "--backend", "cpu", "--data", args.data!, "--batches", "1"]);
    process.stderr.write(`cpu: ${JSON.stringify(train.cpu)}\n`);
  } else {
    train.cpu = "skipped (pass --cpu; one 1,024-token batch takes minutes on the pure-JS backend)";
  }
  train["tfjs-node / tfjs-node-gpu"] = "not installable here (libtensorflow download blocked); see README for GPU runners";
  const rows = Number(args.rows);
  const big = join("/tmp", `recship-bench-${rows}.csv`);
  if (!existsSync(big)) {
    process.stderr.write(`writing a ${rows}-row log to ${big}\n`);
    await writeBigLog(big, rows);
  }
  results.load = await child(["--worker", "load", "--file", big]);
  process.stderr.write(`load: ${JSON.stringify(results.load)}\n`);
  mkdirSync(dirname(args.out!), { recursive: true });
  writeFileSync(args.out!, `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
}
