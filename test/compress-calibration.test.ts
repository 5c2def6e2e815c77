import { describe, expect, it } from "vitest";
import { buildVariant, type BuildSettings } from "../shared/compress/build-variant.js";
import { calibrate, pickCalibration } from "../shared/compress/calibration.js";
import { EditableGraph } from "../shared/compress/graph/editable-graph.js";
import { staticQuantInputs } from "../shared/compress/methods/matmul-int8.js";
import { encodeModel } from "../shared/onnx/proto.js";
import { randomHistories, tinySasrec } from "./helpers/compress-fixture.js";

const tiny = tinySasrec({ numItems: 40, seed: 5 });
const histories = randomHistories(300, tiny.numItems, tiny.config.maxlen, 9);
const options = (seed: number, size = 100) => ({ size, seed, maxlen: tiny.config.maxlen, percentile: 99.9 });

describe("calibration", () => {
  it("picks the same histories and finds the same ranges for a seed, other histories for another seed", async () => {
    const g = new EditableGraph(tiny.model);
    const values = staticQuantInputs(g);
    // per block: attention input, context, ffn input, gelu output; the last block's queries read the last position only
    expect(values.length).toBe(9);
    const a = await calibrate(g, values, histories, options(7));
    const b = await calibrate(g, values, histories, options(7));
    expect(b.picked).toEqual(a.picked);
    expect([...b.ranges]).toEqual([...a.ranges]);
    expect(a.sequences).toBe(100);
    const c = await calibrate(g, values, histories, options(8));
    expect(c.picked).not.toEqual(a.picked);
    expect(pickCalibration(histories, 100, 7)).toEqual(a.picked);
  });

  it("never picks empty histories, and takes all when asked for more than there are", () => {
    const some = [new Int32Array(0), Int32Array.of(1, 2), new Int32Array(0), Int32Array.of(3)];
    expect(pickCalibration(some, 10, 1)).toEqual([1, 3]);
    expect(() => pickCalibration([new Int32Array(0)], 10, 1)).toThrow(/no non-empty/);
  });

  it("keeps percentile ranges inside the min-max ranges, and both include every real activation's span", async () => {
    const g = new EditableGraph(tiny.model);
    const values = staticQuantInputs(g);
    const r = await calibrate(g, values, histories, options(3, 300));
    for (const [name, { minmax, percentile, values: n }] of r.ranges) {
      expect(n, name).toBeGreaterThan(0);
      expect(minmax.min).toBeLessThan(minmax.max);
      expect(percentile.min).toBeGreaterThanOrEqual(minmax.min);
      expect(percentile.max).toBeLessThanOrEqual(minmax.max);
      expect(percentile.max - percentile.min).toBeGreaterThan(0.5 * (minmax.max - minmax.min));
    }
  });

  it("builds byte-identical static int8 variants from the same seed", async () => {
    const settings: BuildSettings = {
      calibrationHistories: histories,
      calibrationSize: 64,
      percentile: 99.99,
      maxlen: tiny.config.maxlen,
      seed: 11,
      int4BlockSize: 16,
      int4AccuracyLevel: 0,
      sparsity: 0.5,
    };
    for (const method of ["int8-qdq", "int8-qdq-pct"] as const) {
      const a = await buildVariant(tiny.model, [method], settings);
      const b = await buildVariant(tiny.model, [method], settings);
      expect(Buffer.from(encodeModel(a.model)).equals(Buffer.from(encodeModel(b.model)))).toBe(true);
      expect(a.calibration).toMatchObject({ method: method === "int8-qdq" ? "minmax" : "percentile", sequences: 64, seed: 11 });
      const other = await buildVariant(tiny.model, [method], { ...settings, seed: 12 });
      expect(other.calibration!.ranges).not.toEqual(a.calibration!.ranges);
    }
  });
});
