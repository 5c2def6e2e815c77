import { RecshipError } from "../errors.js";
import type { SasrecConfig } from "../model/config.js";
import { paramSpecs } from "../model/sasrec.js";
import { filterWeightTable } from "../model/frequency-filter.js";
import { attr, GraphBuilder } from "./graph-builder.js";
import { DataType } from "./proto.js";
import { compactIndexTensor, floatTensor } from "./tensor.js";

export interface SasrecGraphOptions {
  /** Length of the top_items / top_scores outputs. */
  topK: number;
  /** Where the weights came from, for error messages. */
  where?: string;
}

export const SASREC_SIGNATURE_DOC =
  "input item_seq int64 [batch, maxlen]: dense item ids (items.txt line numbers, 1-based), oldest first, left-padded with 0. " +
  "outputs: scores float [batch, n_items] (column j = item j+1), top_items int64 [batch, k] (dense item ids, best first), " +
  "top_scores float [batch, k], user_embedding float [batch, hidden] (final hidden state at the last position).";

/** Checks that every parameter the config implies is present with the right size. */
function checkSasrecWeights(config: SasrecConfig, numItems: number, weights: Map<string, Float32Array>, where?: string): void {
  for (const spec of paramSpecs(config, numItems)) {
    const values = weights.get(spec.name);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    if (!values) {
      throw new RecshipError(`the weights have no tensor "${spec.name}", which the model config needs`, {
        where,
        fix: "the weights and bundle.json do not belong together; re-create the bundle with train-model",
      });
    }
    if (values.length !== size) {
      throw new RecshipError(
        `tensor "${spec.name}" holds ${values.length} values; the model config needs shape [${spec.shape.join(", ")}] (${size} values)`,
        {
          where,
          fix: "the weights and bundle.json do not belong together; re-create the bundle with train-model",
        },
      );
    }
  }
}

/**
 * SASRec as an ONNX graph, reproducing `forward()` in shared/model/sasrec.ts for a full
 * [batch, maxlen] input (positions 0..maxlen-1). The attention mask is computed in the graph
 * from the input: key j is visible to query i when j ≤ i and item j ≠ 0.
 *
 * Only the last position feeds the outputs, so the last block computes its queries, its
 * feed-forward layer and the final LayerNorm for that position alone (keys and values
 * still cover the whole sequence): row-wise identical, about 1/blocks less work.
 */
export function sasrecGraph(
  config: SasrecConfig,
  numItems: number,
  weights: Map<string, Float32Array>,
  options: SasrecGraphOptions,
): GraphBuilder {
  checkSasrecWeights(config, numItems, weights, options.where);
  if (!Number.isInteger(options.topK) || options.topK < 1 || options.topK > numItems) {
    throw new RecshipError(`top-k ${options.topK} is out of range: the model scores ${numItems} items`, {
      where: options.where,
      fix: `pass a top-k between 1 and ${numItems}`,
    });
  }
  const w = new SasrecWriter(config, numItems, weights);
  const seq = w.g.input("item_seq", "int64", ["batch", config.maxlen]);
  let x = w.embed(seq);
  const keyValid = w.keyValid(seq);
  const mask = config.blocks > 1 ? w.causalMask(keyValid) : "";
  const lowPass = config.frequencyFilter ? w.lowPassMatrix(seq) : undefined;
  for (let b = 0; b < config.blocks; b++) {
    const last = b === config.blocks - 1;
    const mixer = {
      mask: last ? w.lastRowMask(keyValid) : mask,
      lowPass: lowPass && last ? w.lastPosition(lowPass, "filter/last_row") : lowPass,
    };
    x = w.block(x, `block${b}`, mixer, last);
  }
  if (config.norm === "pre") x = w.layerNorm(x, "final_ln");
  w.outputs(x, options.topK);
  return w.g;
}

/** What a block mixes positions with: the additive attention mask, and the filter's low-pass rows when there is one. */
interface Mixer {
  mask: string;
  lowPass?: string;
}

/** The graph's pieces, one method per layer; `p(name)` is a parameter's initializer. */
class SasrecWriter {
  readonly g = new GraphBuilder("sasrec");
  private readonly params = new Map<string, string>();
  private readonly d: number;
  private readonly h: number;
  private readonly dk: number;
  private readonly L: number;

  constructor(
    private readonly config: SasrecConfig,
    private readonly numItems: number,
    weights: Map<string, Float32Array>,
  ) {
    this.d = config.hidden;
    this.h = config.heads;
    this.dk = config.hidden / config.heads;
    this.L = config.maxlen;
    for (const { name, shape } of paramSpecs(config, numItems)) {
      const tensor =
        name === "item_codes" ? compactIndexTensor(name, shape, weights.get(name)!) : floatTensor(name, shape, weights.get(name)!);
      this.params.set(name, this.g.initializer(tensor));
    }
    if (config.itemTable) this.params.set("item_emb", quantizedItemTable(this.g, this.params, this.d));
  }

  p(name: string): string {
    return this.params.get(name)!;
  }

  /** item_emb[ids]·√d + pos_emb[0..L-1] */
  embed(seq: string): string {
    const { g } = this;
    const gathered = g.op("Gather", [this.p("item_emb"), seq], { name: "embed/gather", attributes: { axis: attr.int(0) } });
    const scaled = g.op("Mul", [gathered, g.scalar("float", Math.fround(Math.sqrt(this.d)), "sqrt_hidden")], { name: "embed/scale" });
    return g.op("Add", [scaled, this.p("pos_emb")], { name: "embed/add_positions" });
  }

  /** [batch, 1, 1, L]: true where the key is an item, not padding. */
  keyValid(seq: string): string {
    const { g } = this;
    const isPad = g.op("Equal", [seq, g.scalar("int64", 0, "padding_id")], { name: "mask/is_padding" });
    return g.op("Unsqueeze", [g.op("Not", [isPad], { name: "mask/is_item" }), g.ints([1, 2], "axes_1_2")], { name: "mask/keys" });
  }

  /** Additive attention mask, 0 where key j is visible to query i (j ≤ i, item j ≠ 0), -1e9 elsewhere. */
  causalMask(keyValid: string): string {
    const { g, L } = this;
    const causal = new Uint8Array(L * L);
    for (let i = 0; i < L; i++) for (let j = 0; j <= i; j++) causal[i * L + j] = 1;
    const causalMask = g.constant("bool", [1, 1, L, L], causal, "causal_lower_triangle");
    const visible = g.op("And", [causalMask, keyValid], { name: "mask/visible" });
    return g.op("Where", [visible, this.zero(), this.blocked()], { name: "mask/additive" });
  }

  /** The last query row sees every earlier position: only padding is masked. */
  lastRowMask(keyValid: string): string {
    return this.g.op("Where", [keyValid, this.zero(), this.blocked()], { name: "mask/additive_last_row" });
  }

  private zero(): string {
    return this.g.scalar("float", 0, "mask_visible");
  }

  private blocked(): string {
    return this.g.scalar("float", -1e9, "mask_blocked");
  }

  /**
   * The causal low-pass operator M [batch, L, L] of frequency-filter.ts from the input: with
   * `start` the sequence's padding count, M[t][s] = table[(t − start)·L + (t − s)] where
   * start ≤ s ≤ t, else 0.
   */
  lowPassMatrix(seq: string): string {
    const { g, L } = this;
    const table = g.constant("float", [L * L], filterWeightTable(L, this.config.frequencyFilter!.cutoff), "filter_weight_table");
    const isPad = g.op("Cast", [g.op("Equal", [seq, g.scalar("int64", 0, "padding_id")], { name: "filter/is_padding" })], {
      name: "filter/padding_int",
      attributes: { to: attr.int(DataType.INT64) },
    });
    const padCount = g.op("ReduceSum", [isPad, g.ints([1], "axis_1")], { name: "filter/start", attributes: { keepdims: attr.int(1) } });
    const start = g.op("Reshape", [padCount, g.ints([-1, 1, 1], "shape_b11")], { name: "filter/start_b11" });
    const t = new BigInt64Array(L * L);
    const lag = new BigInt64Array(L * L);
    const causal = new Uint8Array(L * L);
    const s = new BigInt64Array(L);
    for (let i = 0; i < L; i++) {
      s[i] = BigInt(i);
      for (let j = 0; j < L; j++) {
        t[i * L + j] = BigInt(i);
        lag[i * L + j] = BigInt(i - j);
        causal[i * L + j] = j <= i ? 1 : 0;
      }
    }
    const row = g.op(
      "Mul",
      [
        g.op("Sub", [g.constant("int64", [1, L, L], t, "filter_t"), start], { name: "filter/items_before" }),
        g.scalar("int64", L, "filter_L"),
      ],
      {
        name: "filter/row_offset",
      },
    );
    const index = g.op(
      "Max",
      [g.op("Add", [row, g.constant("int64", [1, L, L], lag, "filter_lag")], { name: "filter/index" }), g.scalar("int64", 0, "int64_zero")],
      {
        name: "filter/index_clamped",
      },
    );
    const weights = g.op("Gather", [table, index], { name: "filter/weights", attributes: { axis: attr.int(0) } });
    const notPadding = g.op("GreaterOrEqual", [g.constant("int64", [1, 1, L], s, "filter_s"), start], { name: "filter/key_is_item" });
    const valid = g.op("And", [g.constant("bool", [1, L, L], causal, "filter_causal"), notPadding], { name: "filter/valid" });
    return g.op("Where", [valid, weights, this.zero()], { name: "filter/low_pass" });
  }

  /** α·(low + β²⊙(y − low)) + (1 − α)·attention, low = M·y (M: the low-pass rows of the queries). */
  filterMix(query: string, input: string, attended: string, lowPass: string, prefix: string): string {
    const { g } = this;
    const alpha = this.config.frequencyFilter!.alpha;
    const low = g.op("MatMul", [lowPass, input], { name: `${prefix}/filter/low` });
    const beta = this.p(`${prefix}.filter.beta`);
    const betaSq = g.op("Mul", [beta, beta], { name: `${prefix}/filter/beta_sq` });
    const high = g.op("Mul", [g.op("Sub", [query, low], { name: `${prefix}/filter/high_raw` }), betaSq], { name: `${prefix}/filter/high` });
    const filtered = g.op("Add", [low, high], { name: `${prefix}/filter/out` });
    const a = g.op("Mul", [filtered, g.scalar("float", Math.fround(alpha), `${prefix}_alpha`)], { name: `${prefix}/filter/weighted` });
    const b = g.op("Mul", [attended, g.scalar("float", Math.fround(1 - alpha), `${prefix}_one_minus_alpha`)], {
      name: `${prefix}/attn/weighted`,
    });
    return g.op("Add", [a, b], { name: `${prefix}/mix` });
  }

  /** Self-attention, with the frequency filter beside it when the model has one. */
  mix(query: string, input: string, mixer: Mixer, queries: number, prefix: string): string {
    const attended = this.attention(query, input, mixer.mask, queries, prefix);
    return mixer.lowPass ? this.filterMix(query, input, attended, mixer.lowPass, prefix) : attended;
  }

  /** input·W + b */
  dense(input: string, w: string, b: string, name: string): string {
    return this.g.op("Add", [this.g.op("MatMul", [input, this.p(w)], { name: `${name}/matmul` }), this.p(b)], { name: `${name}/bias` });
  }

  /** [batch, length, d] → [batch, heads, length, dk] (or its transpose, by `perm`). */
  splitHeads(t: string, length: number, perm: number[], name: string): string {
    const { g, h, dk } = this;
    const reshaped = g.op("Reshape", [t, g.ints([0, length, h, dk], `shape_heads_${length}`)], { name: `${name}/reshape` });
    return g.op("Transpose", [reshaped], { name: `${name}/transpose`, attributes: { perm: attr.ints(perm) } });
  }

  /** Multi-head attention: softmax(Q·Kᵀ/√dk + mask)·V, heads merged, then the output projection. */
  attention(queryInput: string, kvInput: string, mask: string, queries: number, prefix: string): string {
    const { g, L, d } = this;
    const head = (input: string, which: "q" | "k" | "v", length: number, perm: number[]) =>
      this.splitHeads(
        this.dense(input, `${prefix}.attn.w${which}`, `${prefix}.attn.b${which}`, `${prefix}/attn/${which}`),
        length,
        perm,
        `${prefix}/attn/${which}_heads`,
      );
    const q = head(queryInput, "q", queries, [0, 2, 1, 3]);
    const kT = head(kvInput, "k", L, [0, 2, 3, 1]);
    const v = head(kvInput, "v", L, [0, 2, 1, 3]);
    const raw = g.op("MatMul", [q, kT], { name: `${prefix}/attn/scores` });
    const scaled = g.op("Mul", [raw, g.scalar("float", Math.fround(1 / Math.sqrt(this.dk)), "inv_sqrt_head_dim")], {
      name: `${prefix}/attn/scale`,
    });
    const masked = g.op("Add", [scaled, mask], { name: `${prefix}/attn/mask` });
    const probs = g.op("Softmax", [masked], { name: `${prefix}/attn/softmax`, attributes: { axis: attr.int(-1) } });
    const context = g.op("MatMul", [probs, v], { name: `${prefix}/attn/context` });
    const transposed = g.op("Transpose", [context], {
      name: `${prefix}/attn/merge_transpose`,
      attributes: { perm: attr.ints([0, 2, 1, 3]) },
    });
    const merged = g.op("Reshape", [transposed, g.ints([0, queries, d], `shape_merge_${queries}`)], {
      name: `${prefix}/attn/merge_reshape`,
    });
    return this.dense(merged, `${prefix}.attn.wo`, `${prefix}.attn.bo`, `${prefix}/attn/out`);
  }

  /** ReLU, or exact GELU 0.5·x·(1 + erf(x/√2)) in the order ops.ts computes it (opset 17 has no Gelu). */
  activation(t: string, prefix: string): string {
    const { g } = this;
    if (this.config.activation === "relu") return g.op("Relu", [t], { name: `${prefix}/relu` });
    const half = g.op("Mul", [t, g.scalar("float", 0.5, "half")], { name: `${prefix}/gelu_half` });
    const scaled = g.op("Mul", [t, g.scalar("float", Math.fround(Math.SQRT1_2), "inv_sqrt2")], { name: `${prefix}/gelu_scale` });
    const erf = g.op("Erf", [scaled], { name: `${prefix}/gelu_erf` });
    return g.op("Mul", [half, g.op("Add", [erf, g.scalar("float", 1, "one")], { name: `${prefix}/gelu_add_one` })], {
      name: `${prefix}/gelu`,
    });
  }

  /** act(t·W1 + b1)·W2 + b2 */
  ffn(t: string, prefix: string): string {
    const inner = this.activation(this.dense(t, `${prefix}.ffn.w1`, `${prefix}.ffn.b1`, `${prefix}/ffn/inner`), `${prefix}/ffn`);
    return this.dense(inner, `${prefix}.ffn.w2`, `${prefix}.ffn.b2`, `${prefix}/ffn/out`);
  }

  /** LayerNorm over the hidden axis with the parameter's γ and β. */
  layerNorm(t: string, name: string): string {
    return this.g.op("LayerNormalization", [t, this.p(`${name}.gamma`), this.p(`${name}.beta`)], {
      name: name.replace(/\./g, "/"),
      attributes: { axis: attr.int(-1), epsilon: attr.float(this.config.layerNormEpsilon) },
    });
  }

  /** t[:, L-1:L, :] */
  lastPosition(t: string, name: string): string {
    const { g, L } = this;
    return g.op("Slice", [t, g.ints([L - 1], "last_position_start"), g.ints([L], "last_position_end"), g.ints([1], "axis_1")], { name });
  }

  /** One Transformer block, pre- or post-norm; the last computes its queries for the last position alone. */
  block(x: string, prefix: string, mixer: Mixer, last: boolean): string {
    const { g } = this;
    const queries = last ? 1 : this.L;
    if (this.config.norm === "pre") {
      const normed = this.layerNorm(x, `${prefix}.ln1`);
      const query = last ? this.lastPosition(normed, `${prefix}/last_position`) : normed;
      const residual = last ? this.lastPosition(x, `${prefix}/last_position_residual`) : x;
      const attended = g.op("Add", [residual, this.mix(query, normed, mixer, queries, prefix)], { name: `${prefix}/attn_residual` });
      return g.op("Add", [attended, this.ffn(this.layerNorm(attended, `${prefix}.ln2`), prefix)], { name: `${prefix}/ffn_residual` });
    }
    const query = last ? this.lastPosition(x, `${prefix}/last_position`) : x;
    const attended = this.layerNorm(
      g.op("Add", [query, this.mix(query, x, mixer, queries, prefix)], { name: `${prefix}/attn_residual` }),
      `${prefix}.ln1`,
    );
    return this.layerNorm(g.op("Add", [attended, this.ffn(attended, prefix)], { name: `${prefix}/ffn_residual` }), `${prefix}.ln2`);
  }

  /** The user embedding, scores against the tied item embeddings (padding row dropped), and the top k. */
  outputs(x: string, topK: number): void {
    const { g, numItems } = this;
    const user = g.op("Squeeze", [x, g.ints([1], "axis_1")], { name: "user_embedding", output: "user_embedding" });
    const items = g.op(
      "Slice",
      [this.p("item_emb"), g.ints([1], "first_item"), g.ints([numItems + 1], "items_end"), g.ints([0], "axis_0")],
      {
        name: "output/items",
      },
    );
    const scores = g.op("Gemm", [user, items], { name: "output/scores", output: "scores", attributes: { transB: attr.int(1) } });
    const [, topIndex] = g.node("TopK", [scores, g.ints([topK], "k")], {
      name: "output/top_k",
      outputs: ["top_scores", "output/top_k/index"],
      attributes: { axis: attr.int(-1), largest: attr.int(1), sorted: attr.int(1) },
    });
    g.op("Add", [topIndex, g.scalar("int64", 1, "int64_one")], { name: "output/top_items", output: "top_items" });
    g.output("scores", "float", ["batch", numItems]);
    g.output("top_items", "int64", ["batch", topK]);
    g.output("top_scores", "float", ["batch", topK]);
    g.output("user_embedding", "float", ["batch", this.d]);
  }
}

/**
 * A product-quantized item table as graph nodes: Reshape(Gather(item_codebooks, Cast(item_codes)),
 * [items + 1, hidden]). Both inputs are initializers, so onnxruntime folds it into one constant
 * table when the session loads: inference costs what a dense table costs, the file holds the
 * codewords and the codes.
 */
function quantizedItemTable(g: GraphBuilder, params: Map<string, string>, hidden: number): string {
  // codes are stored as uint16 (int32 past 65535): Gather wants int32/int64 indices
  const codes = g.op("Cast", [params.get("item_codes")!], { name: "item_table/codes", attributes: { to: attr.int(DataType.INT64) } });
  const rows = g.op("Gather", [params.get("item_codebooks")!, codes], {
    name: "item_table/codewords",
    attributes: { axis: attr.int(0) },
  });
  return g.op("Reshape", [rows, g.ints([-1, hidden], "item_table_shape")], { name: "item_table/rows" });
}
