import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { headCoverage, itemsByFrequency, mixedTableFromDense } from "../shared/compress/distill/mixed-table.js";
import { parameterCount, studentConfig } from "../shared/compress/distill/student-config.js";
import { silentLogger } from "../shared/log.js";
import { initBackend } from "../shared/model/backend.js";
import { SasrecModel } from "../shared/model/sasrec-model.js";
import { itemTable } from "../shared/model/sasrec.js";
import { randomWeights, TINY_CONFIG } from "./helpers/onnx-bundle.js";

beforeAll(async () => {
  await initBackend("auto", silentLogger);
});

const N = 30;
// item 7 most frequent, then 3, then 12; the rest once or never
const sequences = [Int32Array.of(7, 3, 7, 12), Int32Array.of(7, 3, 1), Int32Array.of(7, 12, 3, 2)];

function tableOf(model: SasrecModel): Float32Array {
  return tf.tidy(() => itemTable(model.params)).dataSync() as Float32Array;
}

describe("mixed-dimension item table", () => {
  it("orders items by training frequency and measures the head's share", () => {
    const order = itemsByFrequency(sequences, N);
    expect([...order.slice(0, 5)]).toEqual([7, 3, 12, 1, 2]);
    expect(order.length).toBe(N);
    expect(new Set(order).size).toBe(N);
    expect(headCoverage(sequences, order, 1)).toBeCloseTo(4 / 11);
    expect(headCoverage(sequences, order, 3)).toBeCloseTo(9 / 11);
  });

  it("starts from the teacher: head rows exact, the tail exact at full rank and close at a lower one", () => {
    const d = TINY_CONFIG.hidden;
    const dense = randomWeights(TINY_CONFIG, N, 3).get("item_emb")!;
    dense.fill(0, 0, d);
    const order = itemsByFrequency(sequences, N);
    const build = (tailDim: number) => {
      const config = { ...TINY_CONFIG, itemTable: { headItems: 3, tailDim } };
      const values = randomWeights(config, N, 4);
      const mixed = mixedTableFromDense(dense, N, d, config.itemTable, order);
      for (const [name, v] of mixed.values) values.set(name, v);
      const model = new SasrecModel(config, N, values);
      const table = tableOf(model);
      model.dispose();
      return { table, energy: mixed.tailEnergy };
    };
    const full = build(d);
    expect(full.energy).toBeCloseTo(1, 5);
    for (let i = 0; i < dense.length; i++) expect(full.table[i]).toBeCloseTo(dense[i], 4);
    const low = build(2);
    expect(low.energy).toBeLessThan(1);
    for (const item of [7, 3, 12]) {
      expect([...low.table.subarray(item * d, (item + 1) * d)]).toEqual([...dense.subarray(item * d, (item + 1) * d)]);
    }
    let err = 0;
    let norm = 0;
    for (let i = d; i < dense.length; i++) {
      err += (low.table[i] - dense[i]) ** 2;
      norm += dense[i] ** 2;
    }
    expect(err / norm).toBeGreaterThan(0.01); // rank 2 of 8 loses something…
    expect(err / norm).toBeLessThan(1 - 2 / d / 2); // …but keeps more than a random rank-2 slice would
  });

  it("counts learned values only and sizes the head to fit half the teacher", () => {
    const numItems = 1000;
    const teacher = { ...TINY_CONFIG, hidden: 32, ffnDim: 32 };
    const student = studentConfig(teacher, numItems, { tailDim: 8 });
    expect(student.hidden).toBe(32);
    expect(student.blocks).toBe(teacher.blocks);
    const params = parameterCount(student, numItems);
    const teacherParams = parameterCount(teacher, numItems);
    expect(params).toBeLessThanOrEqual(teacherParams / 2);
    const bigger = { ...student, itemTable: { headItems: student.itemTable!.headItems + 1, tailDim: 8 } };
    expect(parameterCount(bigger, numItems)).toBeGreaterThan(teacherParams / 2);
    // the row map is stored but not learned
    const model = new SasrecModel(student, numItems);
    expect(model.variables().some((v) => v.name.endsWith("item_rows"))).toBe(false);
    expect(model.variables().reduce((n, v) => n + v.size, 0)).toBe(params);
    model.dispose();
    expect(() => studentConfig(teacher, numItems, { tailDim: 32 })).toThrow(/tail width .* 1 to 31/);
    expect(() => studentConfig(teacher, numItems, { tailDim: 8, hidden: 16 })).toThrow(/keeps the teacher's hidden size 32/);
    expect(() => studentConfig(teacher, numItems, { tailDim: 8, headItems: 1000 })).toThrow(/1 to 999/);
  });
});
