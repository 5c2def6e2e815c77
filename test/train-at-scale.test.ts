import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { RecshipError } from "../shared/errors.js";
import { silentLogger } from "../shared/log.js";
import { initBackend } from "../shared/model/backend.js";
import { makeBatch } from "../shared/model/batches.js";
import { loadConfig, type RecshipConfig } from "../shared/model/config.js";
import { ADAM_DEFAULTS } from "../shared/model/flat-params.js";
import { batchLoss, drawLoss, type LossInput } from "../shared/model/losses.js";
import { LocalEngine, type EngineOptions, type TrainingEngine } from "../shared/model/parallel/engine.js";
import { distinctIds } from "../shared/model/parallel/update-plan.js";
import { WorkerEngine } from "../shared/model/parallel/worker-engine.js";
import { SasrecModel } from "../shared/model/sasrec-model.js";
import { initialValues, paramSpecs } from "../shared/model/sasrec.js";
import { Rng } from "../shared/util/random.js";
import { readInteractions } from "../shared/data/readers.js";
import { leaveOneOut } from "../shared/data/split.js";
import { epochStopTime, scoringAfter, train } from "../shared/model/trainer.js";
import { scoreBatchRows } from "../shared/eval/evaluator.js";
import { syntheticCsv, TINY_CONFIG, validationCases } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

beforeAll(async () => {
  await initBackend("wasm", silentLogger);
});

const NUM_ITEMS = 300;
const LR = 0.01;
const configWith = (optimizer: string, loss = "sampled-ce") =>
  loadConfig(
    `model:\n  hidden: 16\n  maxlen: 8\n  heads: 2\n  dropout: 0.3\ntrain:\n  negatives: 20\n  loss: ${loss}\n  optimizer: ${optimizer}`,
  );

/** Small batches over a 300-item catalogue: each step reads a few dozen rows, most rows none. */
function batches(config: RecshipConfig, count: number): LossInput[] {
  return Array.from({ length: count }, (_, s) => {
    const rng = new Rng(`lazy:${s}`);
    const batch = makeBatch(Array.from({ length: 4 }, (_, r) => Int32Array.from({ length: 3 + (r % 3) }, () => 1 + rng.int(NUM_ITEMS))));
    return { batch, rowOffset: 0, draws: drawLoss(config.train, NUM_ITEMS, batch, new Rng(`draws:${s}`)) };
  });
}

function options(config: RecshipConfig, workers: number): EngineOptions {
  return {
    workers,
    model: config.model,
    train: config.train,
    numItems: NUM_ITEMS,
    values: initialValues(paramSpecs(config.model, NUM_ITEMS), 3),
    adam: { learningRate: LR, ...ADAM_DEFAULTS },
    backend: "wasm",
    log: silentLogger,
  };
}

async function run(config: RecshipConfig, workers: number, inputs: LossInput[], after?: (e: TrainingEngine) => Promise<void>) {
  const engine: TrainingEngine = workers > 0 ? await WorkerEngine.open(options(config, workers)) : new LocalEngine(options(config, 0));
  try {
    for (const input of inputs) await engine.step({ kind: "sasrec", input });
    await after?.(engine);
    return engine.values();
  } finally {
    await engine.close();
  }
}

/**
 * A plain lazy Adam, written from the definition and sharing no code with the engines: the dense
 * gradient of the whole model (tf.variableGrads over the full item table), Adam on every value
 * outside the table and on the table rows the step read (its items, targets and negatives), the
 * other rows and their moments untouched; bias corrections by the global step.
 */
function referenceLazyAdam(config: RecshipConfig, inputs: LossInput[]): Map<string, Float32Array> {
  const model = new SasrecModel(config.model, NUM_ITEMS, initialValues(paramSpecs(config.model, NUM_ITEMS), 3));
  const { beta1, beta2, epsilon } = ADAM_DEFAULTS;
  const moments = new Map<string, { m: Float64Array; v: Float64Array }>();
  const d = config.model.hidden;
  inputs.forEach((input, step) => {
    const t = step + 1;
    const read = new Set<number>([0, ...input.batch.items, ...input.batch.targets, ...input.draws.negatives]);
    const names = [...model.params.keys()];
    const { grads } = tf.variableGrads(() => batchLoss(model.params, config.model, config.train, input), [...model.params.values()]);
    for (const name of names) {
      const variable = model.params.get(name)!;
      const w = Float32Array.from(variable.dataSync());
      const g = grads[variable.name].dataSync();
      if (!moments.has(name)) moments.set(name, { m: new Float64Array(w.length), v: new Float64Array(w.length) });
      const { m, v } = moments.get(name)!;
      for (let i = 0; i < w.length; i++) {
        if (name === "item_emb" && !read.has(Math.floor(i / d))) continue;
        m[i] = beta1 * m[i] + (1 - beta1) * g[i];
        v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
        const mHat = m[i] / (1 - beta1 ** t);
        const vHat = v[i] / (1 - beta2 ** t);
        w[i] -= (LR * mHat) / (Math.sqrt(vHat) + epsilon);
      }
      variable.assign(tf.tensor(w, variable.shape));
    }
    tf.dispose(Object.values(grads));
  });
  const values = new Map([...model.params].map(([name, v]) => [name, Float32Array.from(v.dataSync())]));
  model.dispose();
  return values;
}

/**
 * The largest difference between two models' values, but the attention key biases': their true
 * gradient is zero (q·b_k is the same for every key, and softmax ignores a shift), so Adam turns
 * rounding noise there into steps of ±lr whichever way the gradient is computed.
 */
function maxDifference(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let max = 0;
  for (const [name, v] of a) {
    if (name.endsWith("attn.bk")) continue;
    const w = b.get(name)!;
    for (let i = 0; i < v.length; i++) max = Math.max(max, Math.abs(v[i] - w[i]));
  }
  return max;
}

/** Item rows no input of `inputs` reads. */
function unreadRows(inputs: LossInput[]): number[] {
  const read = new Set<number>([0]);
  for (const i of inputs) for (const list of [i.batch.items, i.batch.targets, i.draws.negatives]) for (const id of list) read.add(id);
  return Array.from({ length: NUM_ITEMS + 1 }, (_, r) => r).filter((r) => !read.has(r));
}

describe("lazy Adam (train.optimizer: lazy-adam)", () => {
  const lazy = configWith("lazy-adam");
  const inputs = batches(lazy, 6);

  it("matches a plain lazy Adam on the rows read and leaves every other row as it started", async () => {
    const engine = await run(lazy, 0, inputs);
    const reference = referenceLazyAdam(lazy, inputs);
    expect(maxDifference(engine, reference)).toBeLessThan(2e-5);

    const start = initialValues(paramSpecs(lazy.model, NUM_ITEMS), 3).get("item_emb")!;
    const table = engine.get("item_emb")!;
    const d = lazy.model.hidden;
    const unread = unreadRows(inputs);
    expect(unread.length).toBeGreaterThan(100); // most of the catalogue: the claim is not vacuous
    for (const r of unread) expect(table.subarray(r * d, (r + 1) * d)).toEqual(start.subarray(r * d, (r + 1) * d));
    // and the rows read did move
    const moved = distinctIds(inputs.map((i) => i.batch.targets)).filter((r) => r !== 0);
    for (const r of moved) expect(table.subarray(r * d, (r + 1) * d)).not.toEqual(start.subarray(r * d, (r + 1) * d));
  });

  it("differs from dense Adam, which keeps moving rows by their momentum after a step stops reading them", async () => {
    const dense = await run(configWith("adam"), 0, inputs);
    const lazyValues = await run(lazy, 0, inputs);
    const d = lazy.model.hidden;
    const last = new Set<number>(distinctIds([inputs[5].batch.items, inputs[5].batch.targets, inputs[5].draws.negatives]));
    const earlier = distinctIds(inputs.slice(0, 5).map((i) => i.batch.targets)).filter((r) => r !== 0 && !last.has(r));
    expect(earlier.length).toBeGreaterThan(0);
    const row = earlier[0];
    const a = dense.get("item_emb")!.subarray(row * d, (row + 1) * d);
    const b = lazyValues.get("item_emb")!.subarray(row * d, (row + 1) * d);
    expect(Math.max(...a.map((x, i) => Math.abs(x - b[i])))).toBeGreaterThan(1e-4);
  });

  it("gives the same steps on two worker threads as on one thread, and scores with the updated table", async () => {
    const histories = [Int32Array.of(1, 2, 3), Int32Array.of(inputs[0].batch.targets.find((t) => t !== 0)!)];
    let scored: Float32Array = new Float32Array(0);
    const parallel = await run(lazy, 2, inputs, async (engine) => {
      scored = await engine.score(histories);
    });
    const single = await run(lazy, 0, inputs);
    expect(maxDifference(parallel, single)).toBeLessThan(1e-6);
    // the workers' table variables lag the shared weights between lazy steps; scoring must not see that
    const fresh = new SasrecModel(lazy.model, NUM_ITEMS, parallel);
    const expected = fresh.score(histories);
    fresh.dispose();
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(expected[i] - scored[i]));
    expect(worst).toBeLessThan(1e-4);
  });

  it("refuses full cross-entropy and a product-quantized table with a clear error", () => {
    expect(() => configWith("lazy-adam", "ce")).toThrow(RecshipError);
    expect(() => configWith("lazy-adam", "ce")).toThrow(/lazy-adam needs a sampled loss/);
    const pq = { itemTable: { kind: "pq" as const, subspaces: 2, centroids: 4 } };
    expect(() => loadConfig("train:\n  loss: sampled-ce\n  optimizer: lazy-adam", { model: pq })).toThrow(/dense item table/);
    expect(() => configWith("sparse")).toThrow(/optimizer/);
  });
});

describe("a time budget shorter than one epoch (millions of users)", () => {
  it("stops the epoch mid-way, validates what it trained and reports the share and the real throughput", async () => {
    const dir = tempDir();
    const csv = await syntheticCsv(dir, 400, 5);
    const config = loadConfig(TINY_CONFIG, { train: { epochs: 3, loss: "sampled-ce", optimizer: "lazy-adam", batchTokens: 64 } });
    const r = await readInteractions(csv.data, csv);
    const split = leaveOneOut(r.log);
    const outcome = await train({
      model: config.model,
      train: config.train,
      numItems: split.numItems,
      trainSequences: split.train,
      validation: validationCases(split, r.log, 50),
      log: silentLogger,
      deadline: Date.now() + 3000, // less than the 5 s kept for validation: the first batch, then stop
    });
    try {
      expect(outcome.stoppedBy).toBe("time-budget");
      expect(outcome.history).toHaveLength(1);
      const [epoch] = outcome.history;
      expect(epoch.partial).toBeGreaterThan(0);
      expect(epoch.partial).toBeLessThan(0.5);
      expect(outcome.sequencesPerSecond).toBeCloseTo(epoch.sequencesPerSecond, 6);
      expect(Number.isFinite(epoch.valid.ndcg10)).toBe(true);
    } finally {
      outcome.model.dispose();
    }
  });

  it("keeps a sixth of the budget left (or the last validation and what the caller scores after it) for validation, and 5 s", () => {
    expect(epochStopTime(undefined, 0, undefined)).toBeUndefined();
    expect(epochStopTime(600_000, 0, undefined)).toBe(600_000 - 100_000 - 5000);
    expect(epochStopTime(600_000, 0, 20)).toBe(600_000 - 40_000 - 5000);
    // the caller scores three validations' worth afterwards: four validations are kept back
    expect(epochStopTime(600_000, 0, 20, 3)).toBe(600_000 - 80_000 - 5000);
    // the scoring afterwards takes at most a third of the time left: 45 s validations, four of them afterwards, 300 s left
    expect(epochStopTime(300_000, 0, 45, 4)).toBe(300_000 - 45_000 - 100_000 - 5000);
    // 3,000 histories scored after a validation of 1,000: three validations' worth
    const validation = new Array(1000).fill(undefined) as never[];
    expect(scoringAfter({ scoredAfter: 3000, validation })).toBe(3);
    expect(scoringAfter({ validation })).toBe(1);
  });
});

describe("scoring batches at a million items", () => {
  it("caps the histories per scoring batch so that its scores stay within 64 MB", () => {
    expect(scoreBatchRows(12_101)).toBe(256); // Beauty: as before
    expect(scoreBatchRows(1_000_000)).toBe(16); // 16 × 10^6 × 4 bytes = 64 MB
    expect(scoreBatchRows(1_000_000, 8)).toBe(8);
    expect(scoreBatchRows(100_000_000)).toBe(1); // never zero
    expect(scoreBatchRows(1000, 64)).toBe(64);
  });
});
