import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { kMeans, quantizedTableFromDense } from "../shared/compress/distill/pq-table.js";
import { parameterCount, studentConfig } from "../shared/compress/distill/student-config.js";
import { silentLogger } from "../shared/log.js";
import { initBackend } from "../shared/model/backend.js";
import { SasrecModel } from "../shared/model/sasrec-model.js";
import { itemTable } from "../shared/model/sasrec.js";
import { Rng } from "../shared/util/random.js";
import { randomWeights, TINY_CONFIG } from "./helpers/onnx-bundle.js";

beforeAll(async () => {
  await initBackend("auto", silentLogger);
});

const N = 40;
const d = TINY_CONFIG.hidden;

function tableOf(model: SasrecModel): Float32Array {
  return tf.tidy(() => itemTable(model.params)).dataSync() as Float32Array;
}

function quantizedModel(centroids: number, dense: Float32Array) {
  const config = { ...TINY_CONFIG, itemTable: { kind: "pq" as const, subspaces: 2, centroids } };
  const values = randomWeights(config, N, 4);
  const fit = quantizedTableFromDense(dense, N, d, config.itemTable, { iterations: 10, seed: 1 });
  for (const [name, v] of fit.values) values.set(name, v);
  return { model: new SasrecModel(config, N, values), fit };
}

describe("product-quantized item table", () => {
  it("k-means finds well-separated clusters and is deterministic for a seed", () => {
    const rng = new Rng("clusters");
    const centers = [
      [0, 0],
      [10, 0],
      [0, 10],
    ];
    const points = new Float32Array(90 * 2);
    for (let i = 0; i < 90; i++) {
      const c = centers[i % 3];
      points[2 * i] = c[0] + (rng.next() - 0.5) * 0.5;
      points[2 * i + 1] = c[1] + (rng.next() - 0.5) * 0.5;
    }
    const a = kMeans(points, 90, 2, 3, 10, new Rng("seed"));
    const b = kMeans(points, 90, 2, 3, 10, new Rng("seed"));
    expect([...a.assignment]).toEqual([...b.assignment]);
    expect([...a.centroids]).toEqual([...b.centroids]);
    // the three groups end up in three clusters, each point with its group
    for (let i = 3; i < 90; i++) expect(a.assignment[i]).toBe(a.assignment[i % 3]);
    expect(new Set(a.assignment).size).toBe(3);
    expect(a.error / 90).toBeLessThan(0.2);
  });

  it("reproduces the teacher's table with a codeword per item, and approximates it with fewer", () => {
    const dense = randomWeights(TINY_CONFIG, N, 3).get("item_emb")!;
    const exact = quantizedModel(N, dense);
    const table = tableOf(exact.model);
    for (let i = d; i < dense.length; i++) expect(table[i]).toBeCloseTo(dense[i], 5);
    expect(exact.fit.energyKept).toBeCloseTo(1, 5);
    exact.model.dispose();
    const coarse = quantizedModel(8, dense);
    expect(coarse.fit.energyKept).toBeGreaterThan(0.3);
    expect(coarse.fit.energyKept).toBeLessThan(0.99);
    const approx = tableOf(coarse.model);
    let err = 0;
    let energy = 0;
    for (let i = d; i < dense.length; i++) {
      err += (approx[i] - dense[i]) ** 2;
      energy += dense[i] ** 2;
    }
    expect(1 - err / energy).toBeCloseTo(coarse.fit.energyKept, 4);
    // only the codewords are trainable; the codes are stored and counted
    const trainable = coarse.model.variables().map((v) => v.name);
    expect(trainable.some((n) => n.endsWith("/item_codebooks"))).toBe(true);
    expect(trainable.some((n) => n.endsWith("/item_codes"))).toBe(false);
    coarse.model.dispose();
  });

  it("sizes the codebooks to fit half the teacher, counting the codes", () => {
    const numItems = 1000;
    const teacher = { ...TINY_CONFIG, hidden: 32, ffnDim: 32 };
    const student = studentConfig(teacher, numItems, { subspaces: 8 });
    expect(student).toMatchObject({ hidden: 32, blocks: teacher.blocks, itemTable: { kind: "pq", subspaces: 8 } });
    const c = student.itemTable!.centroids;
    expect(Math.log2(c) % 1).toBe(0);
    const half = parameterCount(teacher, numItems) / 2;
    expect(parameterCount(student, numItems)).toBeLessThanOrEqual(half);
    expect(parameterCount({ ...student, itemTable: { kind: "pq", subspaces: 8, centroids: 2 * c } }, numItems)).toBeGreaterThan(half);
    // codes: one per item and subspace, plus codewords
    expect(parameterCount(student, numItems) - parameterCount({ ...student, itemTable: undefined }, numItems)).toBe(
      (numItems + 1) * 8 + 8 * c * 4 - (numItems + 1) * 32,
    );
    expect(() => studentConfig(teacher, numItems, { subspaces: 5 })).toThrow(/must divide the hidden size 32/);
    // by default; and a dense student where no codebook fits (few items: the blocks are most of the model)
    expect(studentConfig(teacher, numItems).itemTable).toMatchObject({ kind: "pq", subspaces: 8 });
    const fewItems = studentConfig({ ...teacher, blocks: 4 }, 20);
    expect(fewItems.itemTable).toBeUndefined();
    expect(fewItems.hidden).toBeLessThan(32);
    expect(() => studentConfig(teacher, numItems, { subspaces: 8, hidden: 16 })).toThrow(/keeps the teacher's hidden size 32/);
  });
});
