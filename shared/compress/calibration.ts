import { RecshipError } from "../errors.js";
import { DataType, encodeModel } from "../onnx/proto.js";
import { Rng } from "../util/random.js";
import type { EditableGraph } from "./graph/editable-graph.js";
import type { ActivationRange } from "./methods/matmul-int8.js";
import { openSession, sequenceInput } from "./ort-session.js";

export type CalibrationMethod = "minmax" | "percentile";

export interface CalibrationOptions {
  /** How many validation histories to run (default 512). */
  size: number;
  seed: number;
  maxlen: number;
  /** Percentile calibration keeps this central share of the values (default 99.99%). */
  percentile: number;
  batchSize?: number;
}

export interface CalibrationResult {
  sequences: number;
  /** Which histories were used (indexes into the candidates), for lineage and the determinism test. */
  picked: number[];
  /** Per activation: the min-max range and the percentile range. */
  ranges: Map<string, { minmax: ActivationRange; percentile: ActivationRange; values: number }>;
}

/**
 * Picks `size` calibration histories: a seeded sample of the non-empty validation histories
 * (all of them when there are fewer), in a fixed order.
 */
export function pickCalibration(histories: Int32Array[], size: number, seed: number): number[] {
  const candidates = histories.map((h, i) => (h.length > 0 ? i : -1)).filter((i) => i >= 0);
  if (candidates.length === 0) {
    throw new RecshipError("static quantization needs calibration histories, and the evaluation data has no non-empty one", {
      fix: "check the bundle's evaluation data",
    });
  }
  const rng = new Rng(`calibration:${seed}`);
  rng.shuffle(candidates);
  return candidates.slice(0, Math.min(size, candidates.length)).sort((a, b) => a - b);
}

const BINS = 4096;

/** Values at real (non-padding) positions: rows of a [B, L, ...] tensor whose input item is not 0. */
function realRows(data: Float32Array, dims: readonly number[], input: BigInt64Array, maxlen: number): Float32Array[] {
  const batch = dims[0];
  if (dims.length < 3 || (dims[1] !== maxlen && dims[1] !== 1)) return [data];
  const width = data.length / (batch * dims[1]);
  const rows: Float32Array[] = [];
  for (let b = 0; b < batch; b++) {
    for (let p = 0; p < dims[1]; p++) {
      const position = dims[1] === 1 ? maxlen - 1 : p;
      if (input[b * maxlen + position] === 0n) continue;
      const offset = (b * dims[1] + p) * width;
      rows.push(data.subarray(offset, offset + width));
    }
  }
  return rows;
}

/** The graph with the requested activations as extra outputs, so one run returns them. */
function withOutputs(g: EditableGraph, values: string[]) {
  const model = g.toModel();
  const known = new Set((model.graph?.output ?? []).map((o) => o.name));
  model.graph!.output = [
    ...(model.graph?.output ?? []),
    ...values.filter((v) => !known.has(v)).map((name) => ({ name, type: { tensorType: { elemType: DataType.FLOAT } } })),
  ];
  return model;
}

/** Each activation's min, max and count of real-position values. */
function minMaxVisitor(values: string[]) {
  const lo = new Map(values.map((v) => [v, Infinity]));
  const hi = new Map(values.map((v) => [v, -Infinity]));
  const counts = new Map(values.map((v) => [v, 0]));
  const visit = (name: string, rows: Float32Array[]) => {
    let a = lo.get(name)!;
    let b = hi.get(name)!;
    let n = counts.get(name)!;
    for (const r of rows) {
      for (let i = 0; i < r.length; i++) {
        const x = r[i];
        if (x < a) a = x;
        if (x > b) b = x;
      }
      n += r.length;
    }
    lo.set(name, a);
    hi.set(name, b);
    counts.set(name, n);
  };
  return { lo, hi, counts, visit };
}

/** The edges that keep `percentile` % of a histogram's mass between them, half the rest cut from each tail. */
function percentileRange(h: Float64Array, min: number, max: number, n: number, percentile: number): { min: number; max: number } {
  const tail = (1 - percentile / 100) / 2;
  const width = (max - min) / BINS;
  let acc = 0;
  let lowEdge = min;
  for (let i = 0; i < BINS; i++) {
    if (acc + h[i] > tail * n) {
      lowEdge = min + i * width;
      break;
    }
    acc += h[i];
  }
  acc = 0;
  let highEdge = max;
  for (let i = BINS - 1; i >= 0; i--) {
    if (acc + h[i] > tail * n) {
      highEdge = min + (i + 1) * width;
      break;
    }
    acc += h[i];
  }
  return { min: Math.max(min, lowEdge), max: Math.min(max, highEdge) };
}

/**
 * Runs the graph on the calibration histories and records, for each requested activation, its
 * min-max range and a percentile range (from a 4096-bin histogram between the min and max),
 * over real positions only: padded positions never reach the outputs, so their values should
 * not widen the ranges. Two passes (min-max, then histogram); deterministic for a seed.
 */
export async function calibrate(
  g: EditableGraph,
  values: string[],
  histories: Int32Array[],
  options: CalibrationOptions,
): Promise<CalibrationResult> {
  const picked = pickCalibration(histories, options.size, options.seed);
  const session = await openSession(encodeModel(withOutputs(g, values)), { threads: 1, optimization: "basic" }, "calibration graph");
  const batchSize = options.batchSize ?? 64;
  const run = async (visit: (name: string, rows: Float32Array[]) => void) => {
    for (let s = 0; s < picked.length; s += batchSize) {
      const part = picked.slice(s, s + batchSize).map((i) => histories[i]);
      const input = sequenceInput(part, options.maxlen);
      const out = await session.run({ item_seq: input }, values);
      for (const name of values) {
        const t = out[name];
        visit(name, realRows(t.data as Float32Array, t.dims.map(Number), input.data as BigInt64Array, options.maxlen));
      }
    }
  };
  try {
    const { lo, hi, counts, visit } = minMaxVisitor(values);
    await run(visit);
    const hist = new Map(values.map((v) => [v, new Float64Array(BINS)]));
    await run((name, rows) => {
      const h = hist.get(name)!;
      const a = lo.get(name)!;
      const width = (hi.get(name)! - a) / BINS || 1;
      for (const r of rows) for (let i = 0; i < r.length; i++) h[Math.min(BINS - 1, Math.floor((r[i] - a) / width))]++;
    });
    const ranges: CalibrationResult["ranges"] = new Map();
    for (const name of values) {
      const [a, b, n] = [lo.get(name)!, hi.get(name)!, counts.get(name)!];
      if (n === 0 || !Number.isFinite(a)) throw new Error(`calibration saw no values of ${name}`);
      ranges.set(name, {
        minmax: { min: a, max: b },
        percentile: percentileRange(hist.get(name)!, a, b, n, options.percentile),
        values: n,
      });
    }
    return { sequences: picked.length, picked, ranges };
  } finally {
    await session.release();
  }
}
