import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { initBackend } from "../shared/model/backend.js";
import { silentLogger } from "../shared/log.js";
import { loadConfig, type SasrecConfig } from "../shared/model/config.js";
import { SasrecModel } from "../shared/model/sasrec-model.js";
import { forward, initialValues, paramSpecs } from "../shared/model/sasrec.js";
import { makeBatch } from "../shared/model/batches.js";
import { batchLoss, drawLoss } from "../shared/model/losses.js";
import { Rng } from "../shared/util/random.js";

let backend = "";
beforeAll(async () => {
  backend = (await initBackend("auto", silentLogger)).name;
});

const small = (over: Partial<SasrecConfig> = {}): SasrecConfig => ({
  ...loadConfig("model:\n  hidden: 16\n  maxlen: 8\n  heads: 2").model,
  dropout: 0.2,
  ...over,
});

describe("SASRec model", () => {
  it("runs on the wasm backend here (tfjs-node cannot install on this machine)", () => {
    expect(backend).toBe("wasm");
  });

  it("has the documented shapes: hidden [B, L, d], scores [B, items], user embeddings [B, d]", () => {
    const config = small();
    const model = new SasrecModel(config, 30, undefined, 1);
    const hidden = tf.tidy(() => forward(model.params, config, Int32Array.from([0, 1, 2, 3, 4, 5]), 2, 3, { training: false }));
    expect(hidden.shape).toEqual([2, 3, 16]);
    hidden.dispose();
    expect(model.score([Int32Array.from([1, 2]), Int32Array.from([3])]).length).toBe(2 * 30);
    expect(model.userEmbeddings([Int32Array.from([1, 2])]).length).toBe(16);
    model.dispose();
  });

  const paddingCases = [
    { name: "pre-LN", config: { norm: "pre" } },
    { name: "post-LN", config: { norm: "post" } },
    { name: "pre-LN, frequency filter", config: { norm: "pre", frequencyFilter: { cutoff: 2, alpha: 0.6 } } },
    { name: "post-LN, frequency filter", config: { norm: "post", frequencyFilter: { cutoff: 3, alpha: 0.4 } } },
  ] as const;
  for (const c of paddingCases) {
    it(`gives the same scores whatever the left padding (${c.name}), so bucketed training equals full-length inference`, () => {
      const config = small(c.config);
      const values = initialValues(paramSpecs(config, 40), 3);
      // β = 1 makes the filter the identity (low + (y − low)): a β ≠ 1 puts the low-pass operator in play
      for (const [name, v] of values) if (name.endsWith("filter.beta")) v.fill(0.3);
      const model = new SasrecModel(config, 40, values);
      const h = Int32Array.from([5, 9, 2]);
      const short = tf.tidy(() => forward(model.params, config, h, 1, 3, { training: false }).slice([0, 2, 0], [1, 1, 16]).dataSync());
      const padded = Int32Array.from([0, 0, 0, 0, 0, 5, 9, 2]);
      const full = tf.tidy(() => forward(model.params, config, padded, 1, 8, { training: false }).slice([0, 7, 0], [1, 1, 16]).dataSync());
      for (let i = 0; i < 16; i++) expect(Math.abs(short[i] - full[i])).toBeLessThan(1e-5);
      model.dispose();
    });
  }

  for (const loss of ["sampled-ce", "ce", "bce"] as const) {
    it(`one Adam step lowers the ${loss} loss on the same batch`, () => {
      const config = small({ dropout: 0 });
      const train = { ...loadConfig("").train, loss, negatives: 20 };
      const model = new SasrecModel(config, 50, undefined, 2);
      const batch = makeBatch([Int32Array.from([1, 2, 3, 4, 5]), Int32Array.from([6, 7, 8]), Int32Array.from([9, 10])]);
      // the same negatives before and after the step
      const input = { batch, rowOffset: 0, draws: drawLoss(train, 50, batch, new Rng("fixed")) };
      const before = tf.tidy(() => batchLoss(model.params, config, train, input).dataSync()[0]);
      const optimizer = tf.train.adam(0.01);
      optimizer.minimize(() => batchLoss(model.params, config, train, input), false, model.variables());
      const after = tf.tidy(() => batchLoss(model.params, config, train, input).dataSync()[0]);
      expect(after).toBeLessThan(before);
      optimizer.dispose();
      model.dispose();
    });
  }

  it("the registered UnsortedSegmentSum kernel (gather gradient) matches the definition", () => {
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]);
    const out = tf.unsortedSegmentSum(x, tf.tensor1d([2, 0, 2, 5], "int32"), 6);
    expect(Array.from(out.dataSync())).toEqual([3, 4, 0, 0, 6, 8, 0, 0, 0, 0, 7, 8]);
    // and the embedding gradient through tf.gather uses it
    const table = tf.variable(tf.ones([4, 2]));
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.gather(t, tf.tensor1d([1, 1, 3], "int32"))))(table);
    expect(Array.from(g.dataSync())).toEqual([0, 0, 2, 2, 0, 0, 1, 1]);
  });
});
