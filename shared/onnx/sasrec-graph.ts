import { RecshipError } from "../errors.js";
import type { SasrecConfig } from "../model/config.js";
import { paramSpecs } from "../model/sasrec.js";
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
export function checkSasrecWeights(config: SasrecConfig, numItems: number, weights: Map<string, Float32Array>, where?: string): void {
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
  const d = config.hidden;
  const h = config.heads;
  const dk = d / h;
  const L = config.maxlen;
  const g = new GraphBuilder("sasrec");
  const shapes = new Map(paramSpecs(config, numItems).map((s) => [s.name, s.shape]));
  const param = (name: string) =>
    name === "item_codes"
      ? g.initializer(compactIndexTensor(name, shapes.get(name)!, weights.get(name)!))
      : g.initializer(floatTensor(name, shapes.get(name)!, weights.get(name)!));
  const params = new Map<string, string>();
  for (const name of shapes.keys()) params.set(name, param(name));
  if (config.itemTable) params.set("item_emb", quantizedItemTable(g, params, d));
  const p = (name: string) => params.get(name)!;

  const seq = g.input("item_seq", "int64", ["batch", L]);

  // embeddings: item_emb[ids]·√d + pos_emb[0..L-1]
  const gathered = g.op("Gather", [p("item_emb"), seq], { name: "embed/gather", attributes: { axis: attr.int(0) } });
  const scaled = g.op("Mul", [gathered, g.scalar("float", Math.fround(Math.sqrt(d)), "sqrt_hidden")], { name: "embed/scale" });
  let x = g.op("Add", [scaled, p("pos_emb")], { name: "embed/add_positions" });

  // additive attention masks, 0 where visible, -1e9 elsewhere
  const isPad = g.op("Equal", [seq, g.scalar("int64", 0, "padding_id")], { name: "mask/is_padding" });
  const keyValid = g.op("Unsqueeze", [g.op("Not", [isPad], { name: "mask/is_item" }), g.ints([1, 2], "axes_1_2")], { name: "mask/keys" });
  const zero = g.scalar("float", 0, "mask_visible");
  const blocked = g.scalar("float", -1e9, "mask_blocked");
  const fullMask = () => {
    const causal = new Uint8Array(L * L);
    for (let i = 0; i < L; i++) for (let j = 0; j <= i; j++) causal[i * L + j] = 1;
    const causalMask = g.constant("bool", [1, 1, L, L], causal, "causal_lower_triangle");
    return g.op("Where", [g.op("And", [causalMask, keyValid], { name: "mask/visible" }), zero, blocked], { name: "mask/additive" });
  };
  // the last query row sees every earlier position: only padding is masked
  const lastRowMask = () => g.op("Where", [keyValid, zero, blocked], { name: "mask/additive_last_row" });

  const dense = (input: string, w: string, b: string, name: string) =>
    g.op("Add", [g.op("MatMul", [input, p(w)], { name: `${name}/matmul` }), p(b)], { name: `${name}/bias` });
  const splitHeads = (t: string, length: number, perm: number[], name: string) =>
    g.op("Transpose", [g.op("Reshape", [t, g.ints([0, length, h, dk], `shape_heads_${length}`)], { name: `${name}/reshape` })], {
      name: `${name}/transpose`,
      attributes: { perm: attr.ints(perm) },
    });

  const attention = (queryInput: string, kvInput: string, mask: string, queries: number, prefix: string) => {
    const q = splitHeads(
      dense(queryInput, `${prefix}.attn.wq`, `${prefix}.attn.bq`, `${prefix}/attn/q`),
      queries,
      [0, 2, 1, 3],
      `${prefix}/attn/q_heads`,
    );
    const kT = splitHeads(
      dense(kvInput, `${prefix}.attn.wk`, `${prefix}.attn.bk`, `${prefix}/attn/k`),
      L,
      [0, 2, 3, 1],
      `${prefix}/attn/k_heads`,
    );
    const v = splitHeads(
      dense(kvInput, `${prefix}.attn.wv`, `${prefix}.attn.bv`, `${prefix}/attn/v`),
      L,
      [0, 2, 1, 3],
      `${prefix}/attn/v_heads`,
    );
    const raw = g.op("MatMul", [q, kT], { name: `${prefix}/attn/scores` });
    const scaledScores = g.op("Mul", [raw, g.scalar("float", Math.fround(1 / Math.sqrt(dk)), "inv_sqrt_head_dim")], {
      name: `${prefix}/attn/scale`,
    });
    const masked = g.op("Add", [scaledScores, mask], { name: `${prefix}/attn/mask` });
    const probs = g.op("Softmax", [masked], { name: `${prefix}/attn/softmax`, attributes: { axis: attr.int(-1) } });
    const context = g.op("MatMul", [probs, v], { name: `${prefix}/attn/context` });
    const merged = g.op(
      "Reshape",
      [
        g.op("Transpose", [context], { name: `${prefix}/attn/merge_transpose`, attributes: { perm: attr.ints([0, 2, 1, 3]) } }),
        g.ints([0, queries, d], `shape_merge_${queries}`),
      ],
      { name: `${prefix}/attn/merge_reshape` },
    );
    return dense(merged, `${prefix}.attn.wo`, `${prefix}.attn.bo`, `${prefix}/attn/out`);
  };

  const activation = (t: string, prefix: string) => {
    if (config.activation === "relu") return g.op("Relu", [t], { name: `${prefix}/relu` });
    // exact GELU 0.5·x·(1 + erf(x/√2)), in the order ops.ts computes it (opset 17 has no Gelu)
    const half = g.op("Mul", [t, g.scalar("float", 0.5, "half")], { name: `${prefix}/gelu_half` });
    const erf = g.op(
      "Erf",
      [g.op("Mul", [t, g.scalar("float", Math.fround(Math.SQRT1_2), "inv_sqrt2")], { name: `${prefix}/gelu_scale` })],
      { name: `${prefix}/gelu_erf` },
    );
    return g.op("Mul", [half, g.op("Add", [erf, g.scalar("float", 1, "one")], { name: `${prefix}/gelu_add_one` })], {
      name: `${prefix}/gelu`,
    });
  };
  const ffn = (t: string, prefix: string) =>
    dense(
      activation(dense(t, `${prefix}.ffn.w1`, `${prefix}.ffn.b1`, `${prefix}/ffn/inner`), `${prefix}/ffn`),
      `${prefix}.ffn.w2`,
      `${prefix}.ffn.b2`,
      `${prefix}/ffn/out`,
    );
  const layerNorm = (t: string, name: string) =>
    g.op("LayerNormalization", [t, p(`${name}.gamma`), p(`${name}.beta`)], {
      name: name.replace(/\./g, "/"),
      attributes: { axis: attr.int(-1), epsilon: attr.float(config.layerNormEpsilon) },
    });
  const lastPosition = (t: string, name: string) =>
    g.op("Slice", [t, g.ints([L - 1], "last_position_start"), g.ints([L], "last_position_end"), g.ints([1], "axis_1")], { name });

  const mask = config.blocks > 1 ? fullMask() : "";
  for (let b = 0; b < config.blocks; b++) {
    const prefix = `block${b}`;
    const last = b === config.blocks - 1;
    const queries = last ? 1 : L;
    const m = last ? lastRowMask() : mask;
    if (config.norm === "pre") {
      const normed = layerNorm(x, `${prefix}.ln1`);
      const query = last ? lastPosition(normed, `${prefix}/last_position`) : normed;
      const residual = last ? lastPosition(x, `${prefix}/last_position_residual`) : x;
      x = g.op("Add", [residual, attention(query, normed, m, queries, prefix)], { name: `${prefix}/attn_residual` });
      x = g.op("Add", [x, ffn(layerNorm(x, `${prefix}.ln2`), prefix)], { name: `${prefix}/ffn_residual` });
    } else {
      const query = last ? lastPosition(x, `${prefix}/last_position`) : x;
      x = layerNorm(g.op("Add", [query, attention(query, x, m, queries, prefix)], { name: `${prefix}/attn_residual` }), `${prefix}.ln1`);
      x = layerNorm(g.op("Add", [x, ffn(x, prefix)], { name: `${prefix}/ffn_residual` }), `${prefix}.ln2`);
    }
  }
  if (config.norm === "pre") x = layerNorm(x, "final_ln");

  // outputs: the user embedding, scores against the tied item embeddings (padding row dropped), top-k
  const user = g.op("Squeeze", [x, g.ints([1], "axis_1")], { name: "user_embedding", output: "user_embedding" });
  const items = g.op("Slice", [p("item_emb"), g.ints([1], "first_item"), g.ints([numItems + 1], "items_end"), g.ints([0], "axis_0")], {
    name: "output/items",
  });
  const scores = g.op("Gemm", [user, items], { name: "output/scores", output: "scores", attributes: { transB: attr.int(1) } });
  const [, topIndex] = g.node("TopK", [scores, g.ints([options.topK], "k")], {
    name: "output/top_k",
    outputs: ["top_scores", "output/top_k/index"],
    attributes: { axis: attr.int(-1), largest: attr.int(1), sorted: attr.int(1) },
  });
  g.op("Add", [topIndex, g.scalar("int64", 1, "int64_one")], { name: "output/top_items", output: "top_items" });
  g.output("scores", "float", ["batch", numItems]);
  g.output("top_items", "int64", ["batch", options.topK]);
  g.output("top_scores", "float", ["batch", options.topK]);
  g.output("user_embedding", "float", ["batch", d]);
  return g;
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
