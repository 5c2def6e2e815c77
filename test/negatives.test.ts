import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../shared/model/backend.js";
import { silentLogger } from "../shared/log.js";
import { makeBatch } from "../shared/model/batches.js";
import { loadConfig } from "../shared/model/config.js";
import { accidentalHits, batchLoss, drawLoss, negativeSourceFor } from "../shared/model/losses.js";
import { targetFrequencies } from "../shared/model/negatives.js";
import { SasrecModel } from "../shared/model/sasrec-model.js";
import { forward, itemTable } from "../shared/model/sasrec.js";
import { Rng } from "../shared/util/random.js";

beforeAll(async () => {
  await initBackend("wasm", silentLogger);
});

const NUM_ITEMS = 30;
const SEQUENCES = [
  Int32Array.from([1, 2, 3, 4, 5]),
  Int32Array.from([2, 3, 2, 3]),
  Int32Array.from([7, 1, 2]),
  Int32Array.from([9, 2, 11, 12, 2, 1]),
];

const configWith = (train: string) => loadConfig(`model:\n  hidden: 8\n  maxlen: 6\n  heads: 1\n  dropout: 0\ntrain:\n${train}`);

/**
 * The plain reference: per target position, −s(target) + log(exp(s(target)) + Σ_j exp(s(n_j) − c_j)),
 * with c_j = log(K·q(n_j)) (0 without the correction) and every negative equal to the target left out;
 * the mean over positions. Scores read from the model's hidden states and item table in plain JS.
 */
function referenceLoss(
  model: SasrecModel,
  config: ReturnType<typeof configWith>,
  batch: ReturnType<typeof makeBatch>,
  negatives: Int32Array,
  logQ: Float32Array,
): number {
  const d = config.model.hidden;
  const hidden = tf.tidy(() => forward(model.params, config.model, batch.items, batch.batch, batch.length, { training: false }).dataSync());
  const table = tf.tidy(() => itemTable(model.params).dataSync());
  const score = (cell: number, item: number) => {
    let s = 0;
    for (let k = 0; k < d; k++) s += hidden[cell * d + k] * table[item * d + k];
    return s;
  };
  let total = 0;
  for (let cell = 0; cell < batch.targets.length; cell++) {
    const target = batch.targets[cell];
    if (target === 0) continue;
    const positive = score(cell, target);
    let sum = Math.exp(positive);
    negatives.forEach((item, j) => {
      if (item !== target) sum += Math.exp(score(cell, item) - (logQ.length ? logQ[j] : 0));
    });
    total += Math.log(sum) - positive;
  }
  return total / batch.tokens;
}

describe("sampled-ce negatives and the log-Q correction", () => {
  for (const [sampler, logQ] of [
    ["uniform", false],
    ["uniform", true],
    ["popularity", true],
    ["popularity", false],
    ["in-batch", true],
  ] as const) {
    it(`${sampler} negatives${logQ ? " with log-Q" : ""}: the loss equals the plain reference on a tiny model`, () => {
      const config = configWith(`  loss: sampled-ce\n  negatives: 12\n  negativeSampler: ${sampler}\n  logQ: ${logQ}`);
      const model = new SasrecModel(config.model, NUM_ITEMS, undefined, 4);
      const batch = makeBatch(SEQUENCES);
      const source = negativeSourceFor(config.train, NUM_ITEMS, SEQUENCES);
      const draws = drawLoss(config.train, NUM_ITEMS, batch, new Rng("neg"), source);
      expect(draws.logQ.length).toBe(logQ ? draws.negatives.length : 0);
      const got = tf.tidy(() => batchLoss(model.params, config.model, config.train, { batch, rowOffset: 0, draws }).dataSync()[0]);
      expect(got).toBeCloseTo(referenceLoss(model, config, batch, draws.negatives, draws.logQ), 4);
      model.dispose();
    });
  }

  it("in-batch negatives are the batch's targets; popularity draws only items that are targets", () => {
    const batch = makeBatch(SEQUENCES);
    const inBatch = negativeSourceFor(configWith("  negativeSampler: in-batch").train, NUM_ITEMS, SEQUENCES).draw(batch, new Rng("x"));
    expect([...inBatch.negatives].sort((a, b) => a - b)).toEqual([...batch.targets].filter((t) => t !== 0).sort((a, b) => a - b));
    const counts = targetFrequencies(SEQUENCES, NUM_ITEMS);
    const draw = negativeSourceFor(configWith("  negatives: 4000\n  negativeSampler: popularity").train, NUM_ITEMS, SEQUENCES).draw(
      batch,
      new Rng("y"),
    );
    const total = counts.reduce((a, b) => a + b, 0);
    for (const item of draw.negatives) expect(counts[item]).toBeGreaterThan(0);
    // item 2 is 5 of the 14 targets: its share of 4,000 seeded draws is within 3 standard errors
    const share = draw.negatives.filter((i) => i === 2).length / 4000;
    expect(counts[2] / total).toBeCloseTo(5 / 14, 10);
    expect(Math.abs(share - 5 / 14)).toBeLessThan(3 * Math.sqrt(((5 / 14) * (9 / 14)) / 4000));
  });

  it("the log-Q correction is log(K·q): uniform K of N gives log(K/N) for every negative", () => {
    const batch = makeBatch(SEQUENCES);
    const draws = drawLoss(configWith("  negatives: 10\n  logQ: true").train, NUM_ITEMS, batch, new Rng("z"));
    for (const c of draws.logQ) expect(c).toBeCloseTo(Math.log(10 / NUM_ITEMS), 6);
  });

  it("masks every occurrence of a row's target among repeated negatives", () => {
    const hits = accidentalHits(Int32Array.from([5, 3, 9]), Int32Array.from([3, 5, 3, 7, 5, 5]));
    // row 0 (target 5) hits negatives 1, 4, 5; row 1 (target 3) hits 0 and 2; row 2 (target 9) none
    expect(hits.sort((a, b) => a - b)).toEqual([1, 4, 5, 6, 8]);
  });
});
