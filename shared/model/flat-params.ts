import type { ParamSpec } from "./sasrec.js";
import { isLearned } from "./sasrec.js";

/**
 * The learned parameters laid end to end in one float32 vector: the form gradients are summed
 * in and Adam updates, shared between training workers without a copy per worker.
 */
export interface FlatLayout {
  entries: { name: string; shape: number[]; offset: number; size: number }[];
  total: number;
}

export function flatLayout(specs: ParamSpec[], learned: (spec: ParamSpec) => boolean = isLearned): FlatLayout {
  let offset = 0;
  const entries = specs.filter(learned).map((s) => {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const entry = { name: s.name, shape: s.shape, offset, size };
    offset += size;
    return entry;
  });
  return { entries, total: offset };
}

/** Copies named values into the flat vector. */
export function packInto(layout: FlatLayout, values: Map<string, Float32Array>, flat: Float32Array): void {
  for (const e of layout.entries) {
    const v = values.get(e.name);
    if (!v || v.length !== e.size) throw new Error(`parameter ${e.name}: expected ${e.size} values, got ${v?.length ?? "none"}`);
    flat.set(v, e.offset);
  }
}

/** Copies of the named slices of a flat vector. */
export function unpack(layout: FlatLayout, flat: Float32Array): Map<string, Float32Array> {
  return new Map(layout.entries.map((e) => [e.name, flat.slice(e.offset, e.offset + e.size)]));
}

/** The part [start, end) of a vector of `total` values that worker `index` of `count` owns. */
export function shardOf(total: number, index: number, count: number): [number, number] {
  const per = Math.ceil(total / count / 16) * 16; // whole cache lines of floats
  return [Math.min(total, index * per), Math.min(total, (index + 1) * per)];
}

export interface AdamSettings {
  learningRate: number;
  beta1: number;
  beta2: number;
  /** tfjs's float32 backends use 1e-7. */
  epsilon: number;
  /** Decoupled weight decay (AdamW, Loshchilov & Hutter): each value × (1 − lr·weightDecay) per step; absent or 0: none. */
  weightDecay?: number;
}

export const ADAM_DEFAULTS = { beta1: 0.9, beta2: 0.98, epsilon: 1e-7 } as const;

/**
 * Adam (Kingma & Ba) on values [start, end) at step t (1-based), with the gradient the sum of
 * `grads` (one vector per worker, added in worker order so the result is deterministic):
 * m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², w ← w − lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + ε),
 * the same arithmetic as tf.train.adam; with weightDecay (AdamW), w is first shrunk by (1 − lr·weightDecay).
 */
export function adamUpdate(
  settings: AdamSettings,
  t: number,
  range: [number, number],
  weights: Float32Array,
  m: Float32Array,
  v: Float32Array,
  grads: Float32Array[],
): void {
  const { learningRate, beta1, beta2, epsilon } = settings;
  const step = learningRate / (1 - Math.pow(beta1, t)); // lr / (1 − β1^t)
  const unbias = 1 / (1 - Math.pow(beta2, t)); // 1 / (1 − β2^t)
  const keep = 1 - learningRate * (settings.weightDecay ?? 0); // AdamW's decoupled shrink
  const [start, end] = range;
  const a = grads[0];
  const b = grads.length === 2 ? grads[1] : undefined; // the common 2-worker case without the inner loop
  for (let i = start; i < end; i++) {
    let g = b ? a[i] + b[i] : a[i];
    if (!b) for (let k = 1; k < grads.length; k++) g += grads[k][i];
    const mi = beta1 * m[i] + (1 - beta1) * g;
    const vi = beta2 * v[i] + (1 - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    weights[i] = keep * weights[i] - (step * mi) / (Math.sqrt(vi * unbias) + epsilon);
  }
}
