import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readInteractions } from "../shared/data/readers.js";
import { leaveOneOut } from "../shared/data/split.js";
import { initBackend } from "../shared/model/backend.js";
import { memoryLogger, silentLogger } from "../shared/log.js";
import { loadConfig, type RecshipConfig } from "../shared/model/config.js";
import { cosineRate, train } from "../shared/model/trainer.js";
import { trainModel } from "../shared/train/train-model.js";
import { readManifest } from "../shared/bundle/bundle-io.js";
import { syntheticCsv, TINY_CONFIG, validationCases } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir();
let csv: Awaited<ReturnType<typeof syntheticCsv>>;
beforeAll(async () => {
  await initBackend("auto", silentLogger);
  csv = await syntheticCsv(dir);
});

/** The trainer's inputs on the synthetic shop under `config`, validating on `validationUsers` users. */
async function trainerInputs(config: RecshipConfig, validationUsers: number) {
  const r = await readInteractions(csv.data, csv);
  const split = leaveOneOut(r.log);
  return {
    model: config.model,
    train: config.train,
    numItems: split.numItems,
    trainSequences: split.train,
    validation: validationCases(split, r.log, validationUsers),
    log: silentLogger,
  };
}

describe("train-model on the synthetic shop", () => {
  it("beats the popularity baseline clearly after a short training and writes a valid bundle", async () => {
    const log = memoryLogger();
    const report = await trainModel({ ...csv, out: join(dir, "bundle"), config: TINY_CONFIG, overrides: { train: { epochs: 20 } }, log });
    expect(report.test.full.ndcg10).toBeGreaterThan(2 * report.popularity.full.ndcg10);
    expect(report.test.sampled!.ndcg10).toBeGreaterThan(report.popularity.sampled!.ndcg10 + 0.1);
    const manifest = await readManifest(report.bundle);
    expect(manifest.data.sha256).toBe(report.data.sha256);
    expect(manifest.training.test.full.ndcg10).toBe(report.test.full.ndcg10);
    // both full-ranking protocols, recorded: masking the history can only lift the target
    expect(manifest.training.test.fullMasked!.ndcg10).toBe(report.test.fullMasked!.ndcg10);
    expect(report.test.fullMasked!.ndcg10).toBeGreaterThanOrEqual(report.test.full.ndcg10);
    expect(report.test.fullMasked!.hr10).toBeGreaterThanOrEqual(report.test.full.hr10);
    expect(manifest.vocabulary.items).toBe(report.data.items);
    expect(readFileSync(join(report.bundle, "items.txt"), "utf8").split("\n")[0]).toMatch(/^sku-/);
    expect(log.lines.some((l) => /epoch 20\/20 loss .* seq\/s/.test(l))).toBe(true);
    // memory stays flat: the same number of live tensors after every epoch
    const tensors = new Set(report.history.map((h) => h.tensors));
    expect(tensors.size).toBe(1);
  });

  it("refuses to overwrite an existing bundle without --overwrite", async () => {
    await expect(
      trainModel({ ...csv, out: join(dir, "bundle"), config: TINY_CONFIG, overrides: { train: { epochs: 1 } }, log: silentLogger }),
    ).rejects.toThrow(/already holds a model bundle.*--overwrite/);
  });

  it("warns about users with a single interaction and leaves them out of evaluation", async () => {
    const extra = join(dir, "with-singles.csv");
    const text = readFileSync(csv.data, "utf8") + "lonely1,sku-00-001,1750000000,purchase\nlonely2,sku-00-002,1750000001,purchase\n";
    (await import("node:fs")).writeFileSync(extra, text);
    const log = memoryLogger();
    const report = await trainModel({
      ...csv,
      data: extra,
      out: join(dir, "b2"),
      config: TINY_CONFIG,
      overrides: { train: { epochs: 1 } },
      log,
    });
    expect(log.warnings.some((w) => /^2 users have a single interaction/.test(w))).toBe(true);
    expect(report.test.users).toBe(report.data.users - 2);
  });

  it("resuming from a checkpoint gives exactly the uninterrupted result", async () => {
    const config = loadConfig(TINY_CONFIG, { train: { epochs: 3 } });
    const base = await trainerInputs(config, 200);
    const straight = await train(base);
    const checkpointDir = join(dir, "ckpt");
    const first = await train({ ...base, checkpointDir, stopAfterEpochs: 1 });
    expect(first.history.length).toBe(1);
    first.model.dispose();
    const resumed = await train({ ...base, checkpointDir, resume: true });
    expect(resumed.resumedFromEpoch).toBe(1);
    expect(resumed.history.map((h) => h.loss)).toEqual(straight.history.map((h) => h.loss));
    const a = straight.model.values();
    const b = resumed.model.values();
    for (const [name, v] of a) expect(Array.from(b.get(name)!)).toEqual(Array.from(v));
    straight.model.dispose();
    resumed.model.dispose();
  });

  it("the cosine schedule trains epoch e at lr·½(1 + cos(π·e/lrEpochs)), and a resume continues the curve", async () => {
    expect(cosineRate({ learningRate: 0.01, epochs: 200, lrEpochs: 4 }, 0)).toBe(0.01);
    expect(cosineRate({ learningRate: 0.01, epochs: 200, lrEpochs: 4 }, 2)).toBeCloseTo(0.005, 12);
    expect(cosineRate({ learningRate: 0.01, epochs: 200, lrEpochs: 4 }, 9)).toBe(
      cosineRate({ learningRate: 0.01, epochs: 200, lrEpochs: 4 }, 3),
    );
    expect(cosineRate({ learningRate: 0.01, epochs: 4 }, 3)).toBeCloseTo(0.01 * 0.5 * (1 + Math.cos((3 * Math.PI) / 4)), 12);
    const config = loadConfig(TINY_CONFIG, { train: { epochs: 3, lrSchedule: "cosine", lrEpochs: 4, patience: 50 } });
    const base = await trainerInputs(config, 100);
    const log = memoryLogger();
    const straight = await train({ ...base, log });
    const rates = [0, 1, 2].map((e) => cosineRate(config.train, e));
    expect(straight.history.map((h) => h.learningRate)).toEqual(rates);
    // each epoch's line says its rate
    expect(log.lines.filter((l) => /^epoch \d\/3 /.test(l)).map((l) => /lr (\S+)/.exec(l)?.[1])).toEqual(
      rates.map((r) => r.toPrecision(3)),
    );
    const checkpointDir = join(dir, "ckpt-cosine");
    (await train({ ...base, checkpointDir, stopAfterEpochs: 2 })).model.dispose();
    const resumed = await train({ ...base, checkpointDir, resume: true });
    expect(resumed.history.map((h) => h.learningRate)).toEqual(rates);
    expect(resumed.history.map((h) => h.loss)).toEqual(straight.history.map((h) => h.loss));
    straight.model.dispose();
    resumed.model.dispose();
  });

  it("an epoch the budget cut short is finished by the resume: the uninterrupted run's weights, one record per epoch", async () => {
    const config = loadConfig(TINY_CONFIG, { train: { epochs: 2, lrSchedule: "constant" } });
    const base = await trainerInputs(config, 200);
    const straightDir = join(dir, "ckpt-straight");
    const straight = await train({ ...base, checkpointDir: straightDir });
    const checkpointDir = join(dir, "ckpt-cut");
    const cut = await train({ ...base, checkpointDir, stopAfterBatches: 2 });
    expect(cut.history).toHaveLength(1);
    expect(cut.history[0].partial).toBeGreaterThan(0);
    expect(cut.history[0].partial).toBeLessThan(1);
    expect(cut.stoppedBy).toBe("time-budget");
    cut.model.dispose();
    const resumed = await train({ ...base, checkpointDir, resume: true });
    expect(resumed.history.map((h) => [h.epoch, h.partial])).toEqual([
      [1, undefined],
      [2, undefined],
    ]);
    // the same steps with the same negatives: the weights after epoch 2 are the uninterrupted run's, bit for bit
    expect(readFileSync(join(checkpointDir, "params.bin")).equals(readFileSync(join(straightDir, "params.bin")))).toBe(true);
    expect(resumed.history[1].loss).toBe(straight.history[1].loss);
    straight.model.dispose();
    resumed.model.dispose();
  });
});
