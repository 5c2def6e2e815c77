// Explanations (issue 19): are the attributions faithful, and what does `explain: true` cost?
//   npm run bench:explain -- --bundle runs/beauty [--data ../shared/datasets/amazon-beauty.seq.txt --format seq]
//                            [--users 1000] [--requests 300] [--seed 1] [--report bench/explain.json]
// 1. Faithfulness, in process: for seeded test users (history = all but the last item, at least two
//    items), the top-1 recommendation's explanation (one batched occlusion run, as served); then,
//    each in its own single-history run, the top-1 item's score with the full history, without the
//    top-attributed item, without a random window item and without the most recent item. Share of
//    users where removing the top-attributed item lowers the score more than removing the random one.
//    With occlusion the top-attributed item is by definition the one whose removal lowers the score
//    most, so the share falls short of 100 % only where the random item is the top one (or ties):
//    what the separate runs check is that the batched run's attributions are the model's real
//    drops. The "most recent item" explainer is reported beside it as a baseline.
// 2. Latency: `recship serve` in a child process, sequential requests alternating plain and
//    `explain: true` (same histories, k = 10), p50/p99 of each. The machine's 2 cores are shared
//    with other work: indicative figures.
import type { ChildProcess } from "node:child_process";
import { spawnServe } from "./serve-process.js";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { readInteractions, type DataFormat } from "../shared/data/readers.js";
import { silentLogger } from "../shared/log.js";
import { recommendWithExplanations, type SubmitRows } from "../shared/serve/explain.js";
import { writeHistoryRow } from "../shared/serve/model-runner.js";
import { loadServedModel, type ServedModel } from "../shared/serve/served-model.js";
import { Rng } from "../shared/util/random.js";

const { values: args } = parseArgs({
  options: {
    bundle: { type: "string" },
    data: { type: "string", default: "../shared/datasets/amazon-beauty.seq.txt" },
    format: { type: "string", default: "seq" },
    users: { type: "string", default: "1000" },
    requests: { type: "string", default: "300" },
    k: { type: "string", default: "10" },
    seed: { type: "string", default: "1" },
    report: { type: "string", default: "bench/explain.json" },
  },
});
if (!args.bundle) throw new Error("--bundle <dir> is required (a converted bundle: bundle.json with an ONNX model)");
const bundle = args.bundle;
const root = fileURLToPath(new URL("..", import.meta.url));
const K = Number(args.k);

/** Test histories (all but the last item, at least two known to the model) of `count` seeded users, as dense ids of the bundle. */
async function testHistories(model: ServedModel, count: number, rng: Rng): Promise<{ ids: string[]; dense: Int32Array }[]> {
  const { log } = await readInteractions(args.data!, { format: args.format as DataFormat });
  const eligible: { ids: string[]; dense: Int32Array }[] = [];
  for (const seq of log.sequences) {
    if (seq.length < 3) continue;
    const ids = Array.from(seq.subarray(0, seq.length - 1), (d) => log.itemIds[d]);
    const { dense } = model.vocabulary.mapHistory(ids);
    if (dense.length >= 2) eligible.push({ ids, dense });
  }
  rng.shuffle(eligible);
  return eligible.slice(0, count);
}

/** The top-1 item's score for one history, from its own run. */
async function scoreAlone(model: ServedModel, history: Int32Array, item: number): Promise<number> {
  const { maxlen } = model.runner.shape;
  const input = new BigInt64Array(maxlen);
  writeHistoryRow(input, 0, maxlen, history);
  const out = await model.runner.run(input, 1, new Set(["scores"]));
  return out.scores![item - 1];
}

const without = (h: Int32Array, index: number) => Int32Array.from([...h.subarray(0, index), ...h.subarray(index + 1)]);

async function faithfulness(model: ServedModel, histories: { dense: Int32Array }[], rng: Rng) {
  const submit: SubmitRows = async (input, rows, needs) => ({
    outputs: await model.runner.run(input, rows, new Set(needs)),
    offset: 0,
    rows,
  });
  let topBeatsRandom = 0;
  let randomIsTop = 0;
  let lastBeatsRandom = 0;
  let topIsLast = 0;
  let maxAbsDiff = 0;
  const dropTop: number[] = [];
  const dropRandom: number[] = [];
  const started = performance.now();
  for (const { dense } of histories) {
    const window = Math.min(dense.length, model.runner.shape.maxlen);
    const res = await recommendWithExplanations(submit, model.runner.shape, dense, { k: 1, excludeSeen: true, explainLimit: window });
    const item = res.dense[0];
    const top = res.explanations![0].because[0];
    const random = dense.length - window + rng.int(window);
    const last = dense.length - 1;
    const full = await scoreAlone(model, dense, item);
    const dTop = full - (await scoreAlone(model, without(dense, top.index), item));
    const dRandom = full - (await scoreAlone(model, without(dense, random), item));
    const dLast = full - (await scoreAlone(model, without(dense, last), item));
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(dTop - top.contribution), Math.abs(full - res.scores[0]));
    if (dTop > dRandom) topBeatsRandom++;
    if (random === top.index) randomIsTop++;
    if (dLast > dRandom) lastBeatsRandom++;
    if (top.index === last) topIsLast++;
    dropTop.push(dTop);
    dropRandom.push(dRandom);
  }
  const n = histories.length;
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  return {
    users: n,
    share: topBeatsRandom / n,
    topBeatsRandom,
    randomWasTheTopItem: randomIsTop,
    shareWhereRandomDiffers: topBeatsRandom / (n - randomIsTop),
    meanScoreDrop: { topAttributed: mean(dropTop), random: mean(dropRandom) },
    baselineMostRecentItem: { share: lastBeatsRandom / n, topAttributedIsMostRecent: topIsLast / n },
    batchedVsSeparateRunsMaxAbsDiff: maxAbsDiff,
    seconds: (performance.now() - started) / 1000,
  };
}

function startServer(): Promise<{ child: ChildProcess; url: string }> {
  return spawnServe([...process.execArgv, join(root, "shared", "cli", "main.ts")], ["--bundle", bundle, "--port", "0"]);
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function latency(histories: { ids: string[] }[], requests: number) {
  const { child, url } = await startServer();
  try {
    const times = { plain: [] as number[], explain: [] as number[] };
    const bytes = { plain: 0, explain: 0 };
    const post = async (items: string[], explain: boolean) => {
      const started = performance.now();
      const res = await fetch(`${url}/v1/recommend`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ items, k: K, ...(explain ? { explain: true } : {}) }),
      });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`${res.status}: ${text}`);
      return { ms: performance.now() - started, bytes: text.length };
    };
    for (let i = 0; i < 20; i++) for (const explain of [false, true]) await post(histories[i % histories.length].ids, explain);
    for (let i = 0; i < requests; i++) {
      // alternating, same history: both see the same load on the shared cores
      for (const kind of i % 2 ? (["explain", "plain"] as const) : (["plain", "explain"] as const)) {
        const r = await post(histories[i % histories.length].ids, kind === "explain");
        times[kind].push(r.ms);
        bytes[kind] += r.bytes;
      }
    }
    const summary = (v: number[]) => {
      const s = [...v].sort((a, b) => a - b);
      return { p50Ms: quantile(s, 0.5), p99Ms: quantile(s, 0.99), meanMs: v.reduce((a, b) => a + b, 0) / v.length };
    };
    return {
      k: K,
      requestsEach: requests,
      plain: { ...summary(times.plain), meanBytes: bytes.plain / requests },
      explain: { ...summary(times.explain), meanBytes: bytes.explain / requests },
    };
  } finally {
    child.kill("SIGTERM");
  }
}

const rng = new Rng(`bench-explain:${args.seed}`);
const model = await loadServedModel({ bundle, device: "cpu", workers: 0, log: silentLogger });
const histories = await testHistories(model, Number(args.users), rng);
const faithful = await faithfulness(model, histories, rng);
await model.runner.release();
console.log(
  `faithfulness on ${faithful.users} users: removing the top-attributed item lowers the top-1 score more than a random one in ${(100 * faithful.share).toFixed(1)} %`,
);
const served = await latency(histories, Number(args.requests));
console.log(
  `latency k=${K}: plain p50 ${served.plain.p50Ms.toFixed(2)} ms p99 ${served.plain.p99Ms.toFixed(2)} ms; explain p50 ${served.explain.p50Ms.toFixed(2)} ms p99 ${served.explain.p99Ms.toFixed(2)} ms`,
);
const report = {
  bench: "explain",
  createdAt: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    node: process.version,
    note: "2 cores shared with other work: latency is indicative",
  },
  command: `npm run bench:explain -- ${process.argv.slice(2).join(" ")}`,
  bundle,
  data: args.data,
  seed: Number(args.seed),
  model: { version: model.version, maxlen: model.runner.shape.maxlen, items: model.runner.shape.numItems },
  method: "leave-one-out occlusion: remove one history item, shift the older ones, one batched run with the full history",
  faithfulness: faithful,
  latency: served,
};
mkdirSync(dirname(args.report!), { recursive: true });
writeFileSync(args.report!, `${JSON.stringify(report, null, 2)}\n`);
console.log(`wrote ${args.report}`);
