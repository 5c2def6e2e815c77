import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readInteractions } from "../shared/data/readers.js";
import { evaluate, type EvalCase } from "../shared/eval/evaluator.js";
import { leaveOneOut } from "../shared/data/split.js";
import { silentLogger } from "../shared/log.js";
import { initBackend } from "../shared/model/backend.js";
import { makeBatch } from "../shared/model/batches.js";
import { loadConfig, type Loss } from "../shared/model/config.js";
import { dropoutMask } from "../shared/model/dropout.js";
import { ADAM_DEFAULTS, flatLayout } from "../shared/model/flat-params.js";
import { batchLoss, drawLoss, sliceInput, type LossInput } from "../shared/model/losses.js";
import { LocalEngine, type EngineOptions, type TrainingEngine } from "../shared/model/parallel/engine.js";
import { sliceGradients, sliceStep, type StepInput } from "../shared/model/parallel/gradients.js";
import { disposeDistill, prepareDistill, type DistillSetup } from "../shared/model/distill-objective.js";
import { batchCandidates } from "../shared/compress/distill/distill-loss.js";
import { indexedBatches, teacherTargets } from "../shared/compress/distill/teacher-targets.js";
import { rowSplit, WorkerEngine } from "../shared/model/parallel/worker-engine.js";
import { SasrecModel } from "../shared/model/sasrec-model.js";
import { initialValues, itemTable, paramSpecs } from "../shared/model/sasrec.js";
import { scheduledRate, train } from "../shared/model/trainer.js";
import { defaultTrainWorkers } from "../shared/util/cpu-budget.js";
import { Rng } from "../shared/util/random.js";
import { syntheticCsv, TINY_CONFIG, validationCases } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir();
beforeAll(async () => {
  await initBackend("wasm", silentLogger);
});

const NUM_ITEMS = 60;
const configFor = (loss: Loss) =>
  loadConfig(`model:\n  hidden: 16\n  maxlen: 8\n  heads: 2\n  dropout: 0.3\ntrain:\n  negatives: 20\n  loss: ${loss}`);

/** 5 rows × 4 positions = 20 cells, as many as the sampled negatives: a shape that once made slices split the shared negatives. */
function globalBatch(loss: Loss, rows = 5): LossInput {
  const rng = new Rng(`batch:${rows}`);
  const batch = makeBatch(Array.from({ length: rows }, (_, r) => Int32Array.from({ length: 3 + (r % 3) }, () => 1 + rng.int(NUM_ITEMS))));
  return { batch, rowOffset: 0, draws: drawLoss(configFor(loss).train, NUM_ITEMS, batch, new Rng(`draws:${rows}`)) };
}

function engineOptions(loss: Loss, workers: number): EngineOptions {
  const config = configFor(loss);
  return {
    workers,
    model: config.model,
    train: config.train,
    numItems: NUM_ITEMS,
    values: initialValues(paramSpecs(config.model, NUM_ITEMS), 7),
    adam: { learningRate: 0.01, ...ADAM_DEFAULTS },
    backend: "wasm",
    log: silentLogger,
  };
}

const open = async (loss: Loss, workers: number): Promise<TrainingEngine> =>
  workers > 0 ? WorkerEngine.open(engineOptions(loss, workers)) : new LocalEngine(engineOptions(loss, workers));

async function stepsOn(loss: Loss, workers: number, inputs: LossInput[]) {
  const engine = await open(loss, workers);
  try {
    const losses = [];
    for (const input of inputs) losses.push(await engine.step({ kind: "sasrec", input }));
    return { losses, values: engine.values() };
  } finally {
    await engine.close();
  }
}

/** The slices' summed gradient equals the whole batch's (a real gradient, not zeros on both sides), and so do the losses. */
async function expectSlicesAddUp(
  whole: { loss: number; gradient: Float32Array },
  slices: (() => Promise<{ loss: number; gradient: Float32Array }>)[],
): Promise<void> {
  const sum = new Float32Array(whole.gradient.length);
  let loss = 0;
  for (const slice of slices) {
    const part = await slice();
    loss += part.loss;
    for (let i = 0; i < sum.length; i++) sum[i] += part.gradient[i];
  }
  expect(loss).toBeCloseTo(whole.loss, 5);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < sum.length; i++) {
    scale = Math.max(scale, Math.abs(whole.gradient[i]));
    worst = Math.max(worst, Math.abs(whole.gradient[i] - sum[i]));
  }
  expect(scale).toBeGreaterThan(1e-3);
  expect(worst).toBeLessThan(1e-5 * scale);
}

function maxDifference(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let max = 0;
  for (const [name, v] of a) {
    const w = b.get(name)!;
    for (let i = 0; i < v.length; i++) max = Math.max(max, Math.abs(v[i] - w[i]));
  }
  return max;
}

describe("data-parallel training", () => {
  for (const loss of ["sampled-ce", "ce", "bce"] as const) {
    it(`row slices of a global batch give the whole batch's loss and gradient (${loss}, dropout on)`, async () => {
      const config = configFor(loss);
      const model = new SasrecModel(config.model, NUM_ITEMS, initialValues(paramSpecs(config.model, NUM_ITEMS), 7));
      const ctx = {
        model: config.model,
        train: config.train,
        numItems: NUM_ITEMS,
        layout: flatLayout(paramSpecs(config.model, NUM_ITEMS)),
      };
      const whole = globalBatch(loss);
      const g = new Float32Array(ctx.layout.total);
      const wholeLoss = await sliceGradients(model.params, ctx, { kind: "sasrec", input: whole }, g);
      const parts = [0, 1, 2].map((k) => rowSplit(whole.batch.batch, k, 3));
      expect(parts.map(([s, e]) => e - s)).toEqual([1, 2, 2]);
      expect(whole.batch.items.length).toBe(20); // as many cells as sampled negatives
      await expectSlicesAddUp(
        { loss: wholeLoss, gradient: g },
        parts.map(([start, end]) => async () => {
          const gradient = new Float32Array(ctx.layout.total);
          const loss = await sliceGradients(model.params, ctx, { kind: "sasrec", input: sliceInput(whole, start, end) }, gradient);
          return { loss, gradient };
        }),
      );
      model.dispose();
      expect(tf.memory().numTensors).toBeLessThan(200); // nothing leaked per slice
    });
  }

  for (const loss of ["sampled-ce", "bce"] as const) {
    it(`the item table's gradient through the rows a batch reads equals the dense one (${loss})`, async () => {
      const config = configFor(loss);
      const model = new SasrecModel(config.model, NUM_ITEMS, initialValues(paramSpecs(config.model, NUM_ITEMS), 7));
      const layout = flatLayout(paramSpecs(config.model, NUM_ITEMS));
      const input = globalBatch(loss);
      const sparse = new Float32Array(layout.total);
      await sliceGradients(
        model.params,
        { model: config.model, train: config.train, numItems: NUM_ITEMS, layout },
        { kind: "sasrec", input },
        sparse,
      );
      const { grads } = tf.variableGrads(() => batchLoss(model.params, config.model, config.train, input), model.variables());
      for (const e of layout.entries) {
        const dense = grads[model.params.get(e.name)!.name].dataSync();
        expect(Array.from(sparse.subarray(e.offset, e.offset + e.size))).toEqual(Array.from(dense));
      }
      Object.values(grads).forEach((g) => g.dispose());
      model.dispose();
    });
  }

  it("a distillation batch's row slices give the whole batch's loss and gradient (teacher candidates, hint, dropout on)", async () => {
    const config = configFor("sampled-ce");
    const teacher = new SasrecModel(config.model, NUM_ITEMS, initialValues(paramSpecs(config.model, NUM_ITEMS), 3));
    const rng = new Rng("distill-slices");
    const examples = Array.from({ length: 6 }, (_, r) => Int32Array.from({ length: 3 + (r % 3) }, () => 1 + rng.int(NUM_ITEMS)));
    const targets = teacherTargets(teacher.params, config.model, NUM_ITEMS, examples, { topK: 5, batchTokens: 1000 });
    const [b] = indexedBatches(examples, 1000);
    const candidates = batchCandidates(b, targets, NUM_ITEMS, 8, rng);
    const setup: DistillSetup = {
      settings: { alpha: 0.5, temperature: 2, negatives: 8, hint: 0.3 },
      topK: 5,
      teacherHidden: 16,
      teacherTable: itemTable(teacher.params).dataSync() as Float32Array,
      hintProjection: Float32Array.from({ length: 16 * 16 }, (_, i) => (i % 17 === 0 ? 1 : 0)),
    };
    const student = new SasrecModel(config.model, NUM_ITEMS, initialValues(paramSpecs(config.model, NUM_ITEMS), 9));
    const layout = flatLayout(paramSpecs(config.model, NUM_ITEMS));
    const ctx = { model: config.model, train: config.train, numItems: NUM_ITEMS, layout, distill: prepareDistill(setup, 16) };
    const whole: StepInput = {
      kind: "distill",
      input: { batch: b.batch, rowOffset: 0, dropoutSeed: 77, candidates, globalTokens: candidates.tokens },
    };
    const g = new Float32Array(layout.total);
    const wholeLoss = await sliceGradients(student.params, ctx, whole, g);
    await expectSlicesAddUp(
      { loss: wholeLoss, gradient: g },
      [rowSplit(6, 0, 2), rowSplit(6, 1, 2)].map(([start, end]) => async () => {
        const gradient = new Float32Array(layout.total);
        return { loss: await sliceGradients(student.params, ctx, sliceStep(whole, start, end, setup), gradient), gradient };
      }),
    );
    disposeDistill(ctx.distill);
    teacher.dispose();
    student.dispose();
  });

  it("a step on 2 worker threads equals the one-worker and the main-thread step up to float rounding, and repeats exactly", async () => {
    const inputs = [globalBatch("sampled-ce"), globalBatch("sampled-ce", 7), globalBatch("sampled-ce", 9)];
    const main = await stepsOn("sampled-ce", 0, inputs);
    const one = await stepsOn("sampled-ce", 1, inputs);
    const two = await stepsOn("sampled-ce", 2, inputs);
    const twoAgain = await stepsOn("sampled-ce", 2, inputs);
    // one worker thread does exactly what the main thread does
    expect(one.losses).toEqual(main.losses);
    expect(maxDifference(one.values, main.values)).toBe(0);
    // two workers: the same losses but for the order of float additions
    two.losses.forEach((l, i) => expect(Math.abs(l - main.losses[i])).toBeLessThan(1e-5 * main.losses[i]));
    // deterministic for a seed and a worker count
    expect(twoAgain.losses).toEqual(two.losses);
    expect(maxDifference(twoAgain.values, two.values)).toBe(0);
  });

  it("the first update on 2 workers is the main thread's: the same gradient (Adam's m = 0.1·g) and the same step", async () => {
    const input = globalBatch("sampled-ce");
    const after = async (workers: number) => {
      const engine = await open("sampled-ce", workers);
      try {
        await engine.step({ kind: "sasrec", input });
        return { m: engine.optimizerState().m, values: engine.values(), layout: engine.layout };
      } finally {
        await engine.close();
      }
    };
    const main = await after(0);
    const two = await after(2);
    let scale = 0;
    for (const x of main.m) scale = Math.max(scale, Math.abs(x));
    let worst = 0;
    for (let i = 0; i < main.m.length; i++) worst = Math.max(worst, Math.abs(main.m[i] - two.m[i]));
    expect(scale).toBeGreaterThan(1e-4);
    expect(worst).toBeLessThan(1e-5 * scale);
    // the step lr·g/(|g| + ε) is the same wherever the gradient is above rounding level
    let compared = 0;
    for (const e of main.layout.entries) {
      const a = main.values.get(e.name)!;
      const b = two.values.get(e.name)!;
      for (let i = 0; i < e.size; i++) {
        if (Math.abs(main.m[e.offset + i]) < 1e-4 * scale) continue;
        compared++;
        expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-6);
      }
    }
    expect(compared).toBeGreaterThan(1000);
    // and the weights moved
    expect(maxDifference(two.values, engineOptions("sampled-ce", 2).values)).toBeGreaterThan(0.005);
  });

  for (const workers of [0, 2]) {
    it(`a lowered learning rate reaches the update (${workers === 0 ? "main thread" : "2 workers"}): equal to an engine started at that rate`, async () => {
      const inputs = [globalBatch("sampled-ce", 4), globalBatch("sampled-ce", 6)];
      const run = async (start: number, lowered?: number) => {
        const options = { ...engineOptions("sampled-ce", workers), adam: { learningRate: start, ...ADAM_DEFAULTS } };
        const engine = workers > 0 ? await WorkerEngine.open(options) : new LocalEngine(options);
        try {
          if (lowered !== undefined) engine.setLearningRate(lowered);
          for (const input of inputs) await engine.step({ kind: "sasrec", input });
          return engine.values();
        } finally {
          await engine.close();
        }
      };
      const decayed = await run(0.01, 0.001);
      expect(maxDifference(decayed, await run(0.001))).toBeLessThan(1e-7);
      expect(maxDifference(decayed, await run(0.01))).toBeGreaterThan(1e-4);
    });
  }

  for (const workers of [0, 2]) {
    it(`weight decay (AdamW) shrinks every value by lr·weightDecay beside Adam's step (${workers === 0 ? "main thread" : "2 workers"})`, async () => {
      const input = globalBatch("sampled-ce");
      const before = engineOptions("sampled-ce", workers).values;
      const stepWith = async (weightDecay: number) => {
        const options = { ...engineOptions("sampled-ce", workers), adam: { learningRate: 0.01, ...ADAM_DEFAULTS, weightDecay } };
        const engine = workers > 0 ? await WorkerEngine.open(options) : new LocalEngine(options);
        try {
          await engine.step({ kind: "sasrec", input });
          return engine.values();
        } finally {
          await engine.close();
        }
      };
      const plain = await stepWith(0);
      const decayed = await stepWith(2);
      let worst = 0;
      let moved = 0;
      for (const [name, w0] of before) {
        const a = plain.get(name)!;
        const b = decayed.get(name)!;
        for (let i = 0; i < w0.length; i++) {
          // AdamW: w ← (1 − lr·wd)·w − Adam's step, so the two runs differ by lr·wd·w (0.02·w)
          worst = Math.max(worst, Math.abs(a[i] - 0.02 * w0[i] - b[i]));
          moved = Math.max(moved, Math.abs(a[i] - b[i]));
        }
      }
      expect(moved).toBeGreaterThan(1e-3);
      expect(worst).toBeLessThan(1e-6);
    });
  }

  it("the plateau schedule lowers the rate after every lrPatience epochs without progress, and only then", () => {
    const train = { ...configFor("sampled-ce").train, lrSchedule: "plateau" as const, lrDecay: 0.5, lrPatience: 2 };
    expect(scheduledRate(train, { sinceBest: 1, learningRate: 0.004 })).toBe(0.004);
    expect(scheduledRate(train, { sinceBest: 2, learningRate: 0.004 })).toBe(0.002);
    expect(scheduledRate(train, { sinceBest: 3, learningRate: 0.002 })).toBe(0.002);
    expect(scheduledRate(train, { sinceBest: 4, learningRate: 0.002 })).toBe(0.001);
    expect(scheduledRate({ ...train, lrSchedule: "constant" }, { sinceBest: 2, learningRate: 0.004 })).toBe(0.004);
  });

  it("more workers than rows: the idle workers add nothing", async () => {
    const inputs = [globalBatch("bce", 2)];
    const main = await stepsOn("bce", 0, inputs);
    const three = await stepsOn("bce", 3, inputs);
    expect(Math.abs(three.losses[0] - main.losses[0])).toBeLessThan(1e-5 * main.losses[0]);
    expect(maxDifference(three.values, engineOptions("bce", 3).values)).toBeGreaterThan(0.005);
  });

  it("evaluation scores through the workers equal the main thread's model", async () => {
    const engine = await open("sampled-ce", 2);
    try {
      await engine.step({ kind: "sasrec", input: globalBatch("sampled-ce") });
      const histories = [Int32Array.from([1, 2, 3]), Int32Array.from([4]), Int32Array.from([5, 6, 7, 8, 9, 10, 11, 12, 13])];
      const [a, b] = await Promise.all([engine.score(histories), engine.score(histories.slice(1))]);
      const config = configFor("sampled-ce");
      const model = new SasrecModel(config.model, NUM_ITEMS, engine.values());
      expect(Array.from(a)).toEqual(Array.from(model.score(histories)));
      expect(Array.from(b)).toEqual(Array.from(model.score(histories.slice(1))));
      model.dispose();
    } finally {
      await engine.close();
    }
  });

  it("evaluation through the workers (batches side by side) gives the same ranks as scoring on this thread", async () => {
    const engine = await open("sampled-ce", 2);
    try {
      await engine.step({ kind: "sasrec", input: globalBatch("sampled-ce") });
      const rng = new Rng("evaluate-in-workers");
      const cases: EvalCase[] = Array.from({ length: 40 }, (_, user) => {
        const history = Int32Array.from({ length: 1 + rng.int(12) }, () => 1 + rng.int(NUM_ITEMS));
        const target = user % 3 === 0 ? history[0] : 1 + rng.int(NUM_ITEMS); // a target in its own history, for the masked rank
        return { user, history, target, interacted: Int32Array.from([...history, target]) };
      });
      const model = new SasrecModel(configFor("sampled-ce").model, NUM_ITEMS, engine.values());
      const settings = { seed: 5, sampledNegatives: 20, batchSize: 7 };
      const here = await evaluate({ numItems: NUM_ITEMS, score: (h) => model.score(h) }, cases, settings);
      model.dispose();
      const inWorkers = await evaluate(engine, cases, settings);
      expect(Array.from(inWorkers.ranks.full)).toEqual(Array.from(here.ranks.full));
      expect(Array.from(inWorkers.ranks.fullMasked)).toEqual(Array.from(here.ranks.fullMasked));
      expect(Array.from(inWorkers.ranks.sampled!)).toEqual(Array.from(here.ranks.sampled!));
      expect(new Set(here.ranks.full).size).toBeGreaterThan(5);
      expect(here.ranks.fullMasked.some((r, i) => r < here.ranks.full[i])).toBe(true);
    } finally {
      await engine.close();
    }
  });

  it("a worker that cannot start says why, and the engine leaves no thread behind", async () => {
    const options = { ...engineOptions("sampled-ce", 2), backend: "gpu" as const };
    await expect(WorkerEngine.open(options)).rejects.toThrow(/tfjs-node-gpu is not installed/);
  });

  it("a worker that dies mid-run fails the step with the reason, and the engine stays failed", async () => {
    const engine = await WorkerEngine.open(engineOptions("sampled-ce", 2));
    try {
      await engine.step({ kind: "sasrec", input: globalBatch("sampled-ce") });
      // fault injection: one worker thread dies (as on an out-of-memory kill)
      await (engine as unknown as { workersList: import("node:worker_threads").Worker[] }).workersList[1].terminate();
      await expect(engine.step({ kind: "sasrec", input: globalBatch("sampled-ce") })).rejects.toThrow(/a training worker exited/);
      // and the engine stays failed instead of training on with one worker
      await expect(engine.step({ kind: "sasrec", input: globalBatch("sampled-ce") })).rejects.toThrow(/a training worker exited/);
    } finally {
      await engine.close();
    }
  });

  it("dropout masks depend only on the element's place in the global batch", () => {
    const key = { seed: 99, rowOffset: 0 };
    const whole = dropoutMask(key, 3, 4 * 10, 4, 0.3);
    const tail = dropoutMask({ seed: 99, rowOffset: 1 }, 3, 3 * 10, 3, 0.3);
    expect(Array.from(tail)).toEqual(Array.from(whole.subarray(10)));
    const big = dropoutMask(key, 0, 100_000, 1000, 0.3);
    const kept = big.filter((x) => x > 0).length / big.length;
    expect(kept).toBeGreaterThan(0.69);
    expect(kept).toBeLessThan(0.71);
    expect(big.find((x) => x > 0)).toBeCloseTo(1 / 0.7, 6);
    expect(Array.from(dropoutMask(key, 1, 40, 4, 0.3))).not.toEqual(Array.from(whole)); // another site, another mask
  });

  it("defaults to one worker per usable core on the CPU backends and to the main thread elsewhere", () => {
    expect(defaultTrainWorkers("wasm", 4)).toBe(4);
    expect(defaultTrainWorkers("cpu", 2)).toBe(2);
    expect(defaultTrainWorkers("wasm", 1)).toBe(0);
    expect(defaultTrainWorkers("tensorflow", 16)).toBe(0);
  });

  it("resuming a 2-worker run from its checkpoint gives exactly the uninterrupted 2-worker result", async () => {
    const csv = await syntheticCsv(dir, 300, 5);
    const config = loadConfig(TINY_CONFIG, { train: { epochs: 2 } });
    const r = await readInteractions(csv.data, csv);
    const split = leaveOneOut(r.log);
    const validation = validationCases(split, r.log, 100);
    const base = {
      model: config.model,
      train: config.train,
      numItems: split.numItems,
      trainSequences: split.train,
      validation,
      log: silentLogger,
      workers: 2,
      backend: "wasm" as const,
    };
    const straight = await train(base);
    expect(straight.workers).toBe(2);
    const checkpointDir = join(dir, "ckpt-workers");
    const first = await train({ ...base, checkpointDir, stopAfterEpochs: 1 });
    first.model.dispose();
    const resumed = await train({ ...base, checkpointDir, resume: true });
    expect(resumed.resumedFromEpoch).toBe(1);
    expect(resumed.history.map((h) => h.loss)).toEqual(straight.history.map((h) => h.loss));
    expect(resumed.history.map((h) => h.valid.ndcg10)).toEqual(straight.history.map((h) => h.valid.ndcg10));
    expect(maxDifference(resumed.model.values(), straight.model.values())).toBe(0);
    straight.model.dispose();
    resumed.model.dispose();
  });
});
