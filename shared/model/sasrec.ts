import * as tf from "@tensorflow/tfjs";
import { RecshipError } from "../errors.js";
import { Rng } from "../util/random.js";
import type { SasrecConfig } from "./config.js";
import { gelu, layerNorm, mm } from "./ops.js";
import { hashedDropout } from "./dropout.js";
import { filterMatrix, filterWeightTable } from "./frequency-filter.js";

/**
 * SASRec (Kang & McAuley, ICDM 2018) in raw tfjs ops: item + learned position embeddings,
 * causal self-attention blocks (pre- or post-LN), item-embedding-tied output scores.
 *
 * Sequences are left-padded with item 0. Position p of a length-L batch uses position
 * embedding maxlen-L+p, and attention masks padded keys, so a sequence gives exactly the
 * same output whatever the padding: training on length-bucketed batches equals inference
 * on full [batch, maxlen] inputs (which is what the exported ONNX model takes).
 */
export type Params = Map<string, tf.Variable>;

export interface ParamSpec {
  name: string;
  shape: number[];
  init: "normal" | "glorot" | "zeros" | "ones" | "codes";
  std?: number;
  /** false: fixed values stored with the weights (a quantized table's codes), never trained. */
  trainable?: boolean;
}

export function paramSpecs(config: SasrecConfig, numItems: number): ParamSpec[] {
  const d = config.hidden;
  const specs: ParamSpec[] = [
    ...itemTableSpecs(config, numItems),
    { name: "pos_emb", shape: [config.maxlen, d], init: "normal", std: 0.02 },
  ];
  for (let b = 0; b < config.blocks; b++) {
    const p = `block${b}.`;
    specs.push({ name: `${p}ln1.gamma`, shape: [d], init: "ones" }, { name: `${p}ln1.beta`, shape: [d], init: "zeros" });
    for (const w of ["q", "k", "v", "o"]) {
      specs.push({ name: `${p}attn.w${w}`, shape: [d, d], init: "glorot" }, { name: `${p}attn.b${w}`, shape: [d], init: "zeros" });
    }
    if (config.frequencyFilter) specs.push({ name: `${p}filter.beta`, shape: [d], init: "ones" });
    specs.push(
      { name: `${p}ln2.gamma`, shape: [d], init: "ones" },
      { name: `${p}ln2.beta`, shape: [d], init: "zeros" },
      { name: `${p}ffn.w1`, shape: [d, config.ffnDim], init: "glorot" },
      { name: `${p}ffn.b1`, shape: [config.ffnDim], init: "zeros" },
      { name: `${p}ffn.w2`, shape: [config.ffnDim, d], init: "glorot" },
      { name: `${p}ffn.b2`, shape: [d], init: "zeros" },
    );
  }
  if (config.norm === "pre") {
    specs.push({ name: "final_ln.gamma", shape: [d], init: "ones" }, { name: "final_ln.beta", shape: [d], init: "zeros" });
  }
  return specs;
}

/**
 * The item table's tensors: `item_emb` [items + 1, d]; or, for a product-quantized table,
 * `item_codebooks` [subspaces × centroids, d / subspaces] (the codewords of subspace m are rows
 * m·centroids…) and `item_codes` [items + 1, subspaces], each item's codeword row per subspace.
 */
function itemTableSpecs(config: SasrecConfig, numItems: number): ParamSpec[] {
  const d = config.hidden;
  const pq = config.itemTable;
  if (!pq) return [{ name: "item_emb", shape: [numItems + 1, d], init: "normal", std: 1 / Math.sqrt(d) }];
  const { subspaces, centroids } = pq;
  if (!Number.isInteger(subspaces) || subspaces < 1 || d % subspaces !== 0 || !Number.isInteger(centroids) || centroids < 2) {
    throw new RecshipError(
      `a product-quantized item table needs subspaces dividing the hidden size ${d} and at least 2 centroids, got ${subspaces} subspaces, ${centroids} centroids`,
    );
  }
  return [
    { name: "item_codebooks", shape: [subspaces * centroids, d / subspaces], init: "normal", std: 1 / Math.sqrt(d) },
    { name: "item_codes", shape: [numItems + 1, subspaces], init: "codes", trainable: false },
  ];
}

/** Values the optimizer changes: every tensor but fixed indexes (a quantized table's codes). */
export function isLearned(spec: ParamSpec): boolean {
  return spec.trainable !== false;
}

/**
 * The full [items + 1, d] item table: the dense one, or the quantized one assembled from each
 * item's codewords. Differentiable in the codewords.
 */
export function itemTable(params: Params): tf.Tensor2D {
  const dense = params.get("item_emb");
  if (dense) return dense as tf.Tensor2D;
  const codes = params.get("item_codes")!;
  const rows = codes.shape[0]!;
  const gathered = tf.gather(params.get("item_codebooks")!, tf.cast(codes, "int32"));
  return tf.reshape(gathered, [rows, -1]) as tf.Tensor2D;
}

/** Initial values from a seeded generator (Box-Muller normals, Glorot uniform), so a seed fixes the model. */
export function initialValues(specs: ParamSpec[], seed: number): Map<string, Float32Array> {
  const rng = new Rng(`init:${seed}`);
  const normal = () => {
    const u = 1 - rng.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  };
  const values = new Map<string, Float32Array>();
  for (const s of specs) {
    const size = s.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(size);
    if (s.init === "ones") v.fill(1);
    else if (s.init === "codes") {
      // item i takes codeword i mod centroids of each subspace (a start; students fit them to the teacher)
      const [rows, subspaces] = s.shape;
      const centroids = specs.find((b) => b.name === "item_codebooks")!.shape[0] / subspaces;
      for (let r = 0; r < rows; r++) for (let m = 0; m < subspaces; m++) v[r * subspaces + m] = m * centroids + (r % centroids);
    } else if (s.init === "normal") for (let i = 0; i < size; i++) v[i] = normal() * (s.std ?? 0.02);
    else if (s.init === "glorot") {
      const limit = Math.sqrt(6 / (s.shape[0] + s.shape[1]));
      for (let i = 0; i < size; i++) v[i] = (rng.next() * 2 - 1) * limit;
    }
    if (s.name === "item_emb") v.fill(0, 0, s.shape[1]); // padding row
    values.set(s.name, v);
  }
  return values;
}

export interface ForwardOptions {
  training: boolean;
  /** Seeds for the dropout masks of this call (training only). */
  dropoutSeed?: number;
  /** Row of the global batch this batch starts at (a worker's slice), so its dropout masks match the whole batch's. */
  rowOffset?: number;
}

/**
 * Builds the additive attention mask [B, 1, L, L]: 0 where query i may look at key j
 * (j ≤ i and key j is an item), -1e9 elsewhere.
 */
function attentionMask(items: Int32Array, batch: number, length: number): tf.Tensor4D {
  const mask = new Float32Array(batch * length * length);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < length; i++) {
      const row = (b * length + i) * length;
      for (let j = 0; j < length; j++) {
        mask[row + j] = j <= i && items[b * length + j] !== 0 ? 0 : -1e9;
      }
    }
  }
  return tf.tensor4d(mask, [batch, 1, length, length]);
}

/** Hidden states [B, L, d] for left-padded item ids [B, L]. */
export function forward(
  params: Params,
  config: SasrecConfig,
  items: Int32Array,
  batch: number,
  length: number,
  options: ForwardOptions,
): tf.Tensor3D {
  const d = config.hidden;
  const h = config.heads;
  const dk = d / h;
  const p = (name: string) => params.get(name)!;
  const key = options.training ? { seed: options.dropoutSeed ?? 0, rowOffset: options.rowOffset ?? 0 } : undefined;
  const drop = hashedDropout(key, config.dropout, batch);

  const ids = tf.tensor2d(items, [batch, length], "int32");
  const positions = tf.range(config.maxlen - length, config.maxlen, 1, "int32");
  let x: tf.Tensor = tf.add(tf.mul(tf.gather(itemTable(params), ids), Math.sqrt(d)), tf.gather(p("pos_emb"), positions));
  x = drop(x);
  const mask = attentionMask(items, batch, length);
  const flat = (t: tf.Tensor) => tf.reshape(t, [batch * length, -1]);
  const dense = (t: tf.Tensor, w: string, bias: string) => tf.add(mm(flat(t), p(w)), p(bias));
  const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [batch, length, h, dk]), [0, 2, 1, 3]);

  const attention = (input: tf.Tensor, prefix: string) => {
    const q = heads(dense(input, `${prefix}attn.wq`, `${prefix}attn.bq`));
    const k = heads(dense(input, `${prefix}attn.wk`, `${prefix}attn.bk`));
    const v = heads(dense(input, `${prefix}attn.wv`, `${prefix}attn.bv`));
    const kT = tf.transpose(k, [0, 1, 3, 2]);
    const scores = tf.add(tf.mul(mm(q, kT), 1 / Math.sqrt(dk)), mask);
    const probs = drop(tf.softmax(scores));
    const context = tf.reshape(tf.transpose(mm(probs, v), [0, 2, 1, 3]), [batch, length, d]);
    return tf.reshape(dense(context, `${prefix}attn.wo`, `${prefix}attn.bo`), [batch, length, d]);
  };
  const ffn = (input: tf.Tensor, prefix: string) => {
    const inner = dense(input, `${prefix}ffn.w1`, `${prefix}ffn.b1`);
    const act = config.activation === "gelu" ? gelu(inner) : tf.relu(inner);
    return tf.reshape(tf.add(mm(drop(act), p(`${prefix}ffn.w2`)), p(`${prefix}ffn.b2`)), [batch, length, d]);
  };
  const ln = (t: tf.Tensor, name: string) => layerNorm(t, p(`${name}.gamma`), p(`${name}.beta`), config.layerNormEpsilon);

  const mix = tokenMixer(config, params, items, batch, length, attention);
  for (let b = 0; b < config.blocks; b++) {
    const prefix = `block${b}.`;
    if (config.norm === "pre") {
      x = tf.add(x, drop(mix(ln(x, `${prefix}ln1`), prefix)));
      x = tf.add(x, drop(ffn(ln(x, `${prefix}ln2`), prefix)));
    } else {
      x = ln(tf.add(x, drop(mix(x, prefix))), `${prefix}ln1`);
      x = ln(tf.add(x, drop(ffn(x, prefix))), `${prefix}ln2`);
    }
  }
  if (config.norm === "pre") x = ln(x, "final_ln");
  return x as tf.Tensor3D;
}

type Mixer = (input: tf.Tensor, prefix: string) => tf.Tensor;

/** The filter's weight table per (maxlen, cutoff): computed once, not on every forward pass. */
const filterTables = new Map<string, Float32Array>();
function cachedFilterTable(maxlen: number, cutoff: number): Float32Array {
  const key = `${maxlen}:${cutoff}`;
  let table = filterTables.get(key);
  if (!table) filterTables.set(key, (table = filterWeightTable(maxlen, cutoff)));
  return table;
}

/**
 * What mixes positions in a block: self-attention alone, or with the frequency filter
 * α·(low + β²⊙(y − low)) + (1 − α)·attention(y), where low = M·y is the causal low-pass of y.
 */
function tokenMixer(config: SasrecConfig, params: Params, items: Int32Array, batch: number, length: number, attention: Mixer): Mixer {
  const filter = config.frequencyFilter;
  if (!filter) return attention;
  const table = cachedFilterTable(config.maxlen, filter.cutoff);
  const lowPass = tf.tensor3d(filterMatrix(items, batch, length, config.maxlen, table), [batch, length, length]);
  return (y, prefix) => {
    const low = mm(lowPass, y);
    const high = tf.mul(tf.sub(y, low), tf.square(params.get(`${prefix}filter.beta`)!));
    return tf.add(tf.mul(tf.add(low, high), filter.alpha), tf.mul(attention(y, prefix), 1 - filter.alpha));
  };
}

/** Output embeddings transposed, [d, numItems] (item 1 in column 0): the tied output layer. */
export function outputMatrix(params: Params): tf.Tensor2D {
  const e = itemTable(params);
  return tf.transpose(tf.slice(e, [1, 0], [e.shape[0]! - 1, e.shape[1]!])) as tf.Tensor2D;
}

export function countParameters(params: Params): number {
  let n = 0;
  // a quantized table's codes count too: they are values the model stores
  for (const v of params.values()) n += v.size;
  return n;
}
