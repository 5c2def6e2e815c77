import { RecshipError } from "../../errors.js";
import { DataType, type OnnxProto } from "../../onnx/proto.js";
import { MS_DOMAIN, type EditableGraph } from "../graph/editable-graph.js";
import { embeddingTables, type EmbeddingTable } from "../graph/patterns.js";
import { float16Tensor, float32Tensor, int64Values, int8Tensor, roundToHalf, uint8Tensor } from "../graph/tensors.js";
import { quantizeRowBlocksInt4, quantizeRowsInt8 } from "../quant/math.js";

export interface EmbeddingQuantSummary {
  tables: { name: string; rows: number; cols: number; tiedOutput: boolean; bytesBefore: number; bytesAfter: number }[];
}

function tablesOrThrow(g: EditableGraph, method: string): EmbeddingTable[] {
  const tables = embeddingTables(g);
  if (tables.length === 0) {
    throw new RecshipError(`${method}: the model has no embedding table (a constant 2-D float Gather on axis 0) to quantize`, {
      fix: "drop this method: it applies to the item embedding of an exported recommender",
    });
  }
  return tables;
}

function safe(name: string): string {
  return name.replace(/[^0-9A-Za-z_.]/g, "_");
}

/** fp16-stored scales, cast back to float in the graph (a constant Cast: onnxruntime folds it at load). */
function halfScales(
  g: EditableGraph,
  name: string,
  dims: number[],
  values: Float32Array,
): { nodes: OnnxProto.INodeProto[]; output: string } {
  const stored = g.addInitializer(float16Tensor(name, dims, values));
  const cast = g.makeNode("Cast", [stored], { name: `${name}/to_float`, attributes: { to: { int: DataType.FLOAT } } });
  return { nodes: [cast], output: cast.output![0] };
}

/** Slice of a constant along `axis`: [start, end). */
function sliceNode(g: EditableGraph, input: string, start: number, end: number, axis: number, name: string): OnnxProto.INodeProto {
  const s = g.addInitializer(int64Values(`${name}.starts`, [1], [start]));
  const e = g.addInitializer(int64Values(`${name}.ends`, [1], [end]));
  const a = g.addInitializer(int64Values(`${name}.axes`, [1], [axis]));
  return g.makeNode("Slice", [input, s, e, a], { name });
}

/**
 * The lookup's consumer when it is only a Mul by a scalar constant (SASRec's ×√d): folding it
 * into the few gathered scales saves a pass over the gathered rows.
 */
function scalarScale(g: EditableGraph, value: string): { node: OnnxProto.INodeProto; factor: string } | undefined {
  const users = g.consumers(value);
  if (users.length !== 1 || users[0].opType !== "Mul" || (users[0].domain ?? "") !== "") return undefined;
  const other = users[0].input!.find((i) => i !== value);
  const c = other ? g.floatInitializer(other) : undefined;
  if (!other || !c || c.values.length !== 1 || users[0].input!.filter((i) => i === value).length !== 1) return undefined;
  return { node: users[0], factor: other };
}

/** Gathered per-row (or per-block) scales, times the folded scalar if there is one; returns the nodes and the output the lookup must produce. */
function lookupScales(
  g: EditableGraph,
  gather: OnnxProto.INodeProto,
  scales: string,
  prefix: string,
): { nodes: OnnxProto.INodeProto[]; scale: string; output: string; drop?: OnnxProto.INodeProto } {
  const ids = gather.input![1];
  const picked = g.makeNode("Gather", [scales, ids], { name: `${prefix}/scales`, attributes: { axis: { int: 0 } } });
  const fold = scalarScale(g, gather.output![0]);
  if (!fold) return { nodes: [picked], scale: picked.output![0], output: gather.output![0] };
  const folded = g.makeNode("Mul", [picked.output![0], fold.factor], { name: `${prefix}/scales_folded` });
  return { nodes: [picked, folded], scale: folded.output![0], output: fold.node.output![0], drop: fold.node };
}

/**
 * emb-int8: the item table row-wise symmetric int8 (one fp16-stored scale per row).
 * Lookups: Gather the int8 rows and their scales, Cast, Mul (a following ×√d is folded into
 * the scales). The tied output projection: DynamicQuantizeLinear(user) → MatMulInteger
 * against the transposed int8 rows (a constant Transpose onnxruntime folds at load) → Cast →
 * Mul(user_scale · row_scale), which onnxruntime fuses into one DynamicQuantizeMatMul.
 */
export function quantizeEmbeddingsInt8(g: EditableGraph): EmbeddingQuantSummary {
  const summary: EmbeddingQuantSummary = { tables: [] };
  for (const t of tablesOrThrow(g, "emb-int8")) {
    const w = g.floatInitializer(t.name)!;
    const { q, scales } = quantizeRowsInt8(w.values, t.rows, t.cols, roundToHalf);
    const base = safe(t.name);
    const qName = g.addInitializer(int8Tensor(`${base}.int8`, [t.rows, t.cols], q));
    const rowScales = halfScales(g, `${base}.row_scale`, [t.rows, 1], scales);
    g.insertBefore(g.nodes[0], rowScales.nodes);
    for (const gather of t.gathers) {
      const prefix = gather.name ?? "gather";
      const rows = g.makeNode("Gather", [qName, gather.input![1]], { name: `${prefix}/rows_int8`, attributes: { axis: { int: 0 } } });
      const cast = g.makeNode("Cast", [rows.output![0]], { name: `${prefix}/to_float`, attributes: { to: { int: DataType.FLOAT } } });
      const sc = lookupScales(g, gather, rowScales.output, prefix);
      const out = g.makeNode("Mul", [cast.output![0], sc.scale], { name: `${prefix}/dequantize`, outputs: [sc.output] });
      g.replace(gather, [rows, cast, ...sc.nodes, out]);
      if (sc.drop) g.nodes = g.nodes.filter((n) => n !== sc.drop);
    }
    if (t.tied) {
      const { gemm, slice, start, end, alpha } = t.tied;
      const prefix = gemm.name ?? "output";
      const rowsQ = sliceNode(g, qName, start, end, 0, `${prefix}/rows_int8`);
      const transposed = g.makeNode("Transpose", [rowsQ.output![0]], {
        name: `${prefix}/columns_int8`,
        attributes: { perm: { ints: [1, 0] } },
      });
      const flatScales = g.makeNode("Reshape", [rowScales.output, g.addInitializer(int64Values(`${base}.flat_shape`, [1], [-1]))], {
        name: `${prefix}/flat_row_scales`,
      });
      const colSlice = sliceNode(g, flatScales.output![0], start, end, 0, `${prefix}/column_scales`);
      let colScales = colSlice.output![0];
      const nodes: OnnxProto.INodeProto[] = [rowsQ, transposed, flatScales, colSlice];
      if (alpha !== 1) {
        const a = g.addInitializer(float32Tensor(`${prefix}.alpha`, [], Float32Array.of(alpha)));
        const scaled = g.makeNode("Mul", [colScales, a], { name: `${prefix}/alpha` });
        nodes.push(scaled);
        colScales = scaled.output![0];
      }
      const zero = g.addInitializer(int8Tensor(`${base}.zero_point`, [], Int8Array.of(0)));
      const dq = g.makeNode("DynamicQuantizeLinear", [gemm.input![0]], { name: `${prefix}/quantize_user`, outputs: 3 });
      const mmi = g.makeNode("MatMulInteger", [dq.output![0], transposed.output![0], dq.output![2], zero], {
        name: `${prefix}/matmul_int8`,
      });
      const cast = g.makeNode("Cast", [mmi.output![0]], { name: `${prefix}/to_float`, attributes: { to: { int: DataType.FLOAT } } });
      const scale = g.makeNode("Mul", [dq.output![1], colScales], { name: `${prefix}/scale` });
      const out = g.makeNode("Mul", [cast.output![0], scale.output![0]], { name: `${prefix}/rescale`, outputs: [gemm.output![0]] });
      g.replace(gemm, [...nodes, dq, mmi, cast, scale, out]);
      if (slice) g.nodes = g.nodes.filter((n) => n !== slice);
    }
    summary.tables.push({
      name: t.name,
      rows: t.rows,
      cols: t.cols,
      tiedOutput: Boolean(t.tied),
      bytesBefore: t.rows * t.cols * 4,
      bytesAfter: q.byteLength + scales.length * 2,
    });
  }
  return summary;
}

export const INT4_LOOKUPS = ["unpack", "gather-block-quantized"] as const;
type Int4Lookup = (typeof INT4_LOOKUPS)[number];

export interface Int4Options {
  blockSize: number;
  /** MatMulNBits accuracy_level: 0 computes in float (exact dequantization), 4 quantizes the user embedding to int8 per block. */
  accuracyLevel: number;
  /**
   * How lookups read the 4-bit rows: "unpack" (Gather the packed bytes, split the nibbles with
   * BitShift/Sub, scale: standard ops) or com.microsoft GatherBlockQuantized, which gives the
   * same values but runs about 2.5× slower than the unpack on onnxruntime 1.30's CPU provider.
   */
  lookup?: Int4Lookup;
}

/** Standard-op lookup of 4-bit rows: packed bytes → nibbles − 8 → × gathered block scales → [ids..., cols]. */
function unpackLookup(
  g: EditableGraph,
  gather: OnnxProto.INodeProto,
  data: string,
  scales: string,
  t: EmbeddingTable,
  blockSize: number,
): { nodes: OnnxProto.INodeProto[]; drop?: OnnxProto.INodeProto } {
  const prefix = gather.name ?? "gather";
  const ids = gather.input![1];
  const nb = t.cols / blockSize;
  const i64 = (name: string, v: number[]) => g.addInitializer(int64Values(name, [v.length], v));
  const four = g.addInitializer(uint8Tensor(`${prefix}.four`, [], Uint8Array.of(4)));
  const bytes = g.makeNode("Gather", [data, ids], { name: `${prefix}/rows_int4`, attributes: { axis: { int: 0 } } });
  const hi = g.makeNode("BitShift", [bytes.output![0], four], {
    name: `${prefix}/high_nibbles`,
    attributes: { direction: { string: "RIGHT" } },
  });
  const hiBack = g.makeNode("BitShift", [hi.output![0], four], {
    name: `${prefix}/high_nibbles_shifted`,
    attributes: { direction: { string: "LEFT" } },
  });
  const lo = g.makeNode("Sub", [bytes.output![0], hiBack.output![0]], { name: `${prefix}/low_nibbles` });
  const last = i64(`${prefix}.last_axis`, [-1]);
  const lo1 = g.makeNode("Unsqueeze", [lo.output![0], last], { name: `${prefix}/low_pair` });
  const hi1 = g.makeNode("Unsqueeze", [hi.output![0], last], { name: `${prefix}/high_pair` });
  const pairs = g.makeNode("Concat", [lo1.output![0], hi1.output![0]], { name: `${prefix}/nibbles`, attributes: { axis: { int: -1 } } });
  const asFloat = g.makeNode("Cast", [pairs.output![0]], { name: `${prefix}/to_float`, attributes: { to: { int: DataType.FLOAT } } });
  const blocks = g.makeNode("Reshape", [asFloat.output![0], i64(`${prefix}.blocks_shape`, [-1, nb, blockSize])], {
    name: `${prefix}/blocks`,
  });
  const centered = g.makeNode("Sub", [blocks.output![0], g.addInitializer(float32Tensor(`${prefix}.eight`, [], Float32Array.of(8)))], {
    name: `${prefix}/centered`,
  });
  const sc = lookupScales(g, gather, scales, prefix);
  const scaleBlocks = g.makeNode("Reshape", [sc.scale, i64(`${prefix}.scale_shape`, [-1, nb, 1])], { name: `${prefix}/block_scales` });
  const values = g.makeNode("Mul", [centered.output![0], scaleBlocks.output![0]], { name: `${prefix}/dequantize` });
  const idsShape = g.makeNode("Shape", [ids], { name: `${prefix}/ids_shape` });
  const outShape = g.makeNode("Concat", [idsShape.output![0], i64(`${prefix}.width`, [t.cols])], {
    name: `${prefix}/out_shape`,
    attributes: { axis: { int: 0 } },
  });
  const out = g.makeNode("Reshape", [values.output![0], outShape.output![0]], { name: `${prefix}/rows`, outputs: [sc.output] });
  return {
    nodes: [bytes, hi, hiBack, lo, lo1, hi1, pairs, asFloat, blocks, centered, ...sc.nodes, scaleBlocks, values, idsShape, outShape, out],
    drop: sc.drop,
  };
}

/**
 * The tied output projection (scores = user · tableᵀ) over the packed 4-bit table: MatMulNBits
 * on all rows (the table reshaped to [rows, blocks, bytes]), then the score columns sliced.
 */
function tiedProjectionInt4(
  g: EditableGraph,
  t: EmbeddingTable,
  packed: { data: string; scales: string; base: string; blocksPerRow: number },
  options: Int4Options,
): void {
  const { gemm, slice, start, end, alpha } = t.tied!;
  const { data, base, blocksPerRow: nb } = packed;
  const { blockSize } = options;
  g.useDomain(MS_DOMAIN, 1);
  const prefix = gemm.name ?? "output";
  const shape = (name: string, dims: number[]) => g.addInitializer(int64Values(name, [dims.length], dims));
  const b = g.makeNode("Reshape", [data, shape(`${base}.int4_blocks_shape`, [t.rows, nb, blockSize / 2])], {
    name: `${prefix}/int4_blocks`,
  });
  const s = g.makeNode("Reshape", [packed.scales, shape(`${base}.int4_scale_shape`, [t.rows * nb])], { name: `${prefix}/int4_scales` });
  let user = gemm.input![0];
  const nodes: OnnxProto.INodeProto[] = [b, s];
  if (alpha !== 1) {
    const a = g.addInitializer(float32Tensor(`${prefix}.alpha`, [], Float32Array.of(alpha)));
    const scaled = g.makeNode("Mul", [user, a], { name: `${prefix}/alpha` });
    nodes.push(scaled);
    user = scaled.output![0];
  }
  const mm = g.makeNode("MatMulNBits", [user, b.output![0], s.output![0]], {
    name: `${prefix}/matmul_int4`,
    domain: MS_DOMAIN,
    attributes: {
      K: { int: t.cols },
      N: { int: t.rows },
      bits: { int: 4 },
      block_size: { int: blockSize },
      accuracy_level: { int: options.accuracyLevel },
    },
  });
  nodes.push(mm);
  if (start === 0 && end === t.rows) {
    mm.output = [gemm.output![0]];
  } else {
    const cols = sliceNode(g, mm.output![0], start, end, 1, `${prefix}/score_columns`);
    cols.output = [gemm.output![0]];
    nodes.push(cols);
  }
  g.replace(gemm, nodes);
  if (slice) g.nodes = g.nodes.filter((n) => n !== slice);
}

/**
 * emb-int4: the item table in symmetric 4-bit blocks along each row (fp16-stored scales, the
 * default zero point 8, nothing else stored), in com.microsoft's layout. Lookups unpack the
 * gathered bytes with standard ops (or GatherBlockQuantized); the tied output projection is
 * MatMulNBits over all rows, then a slice of the score columns. One copy of the packed table
 * serves both (a constant Reshape gives MatMulNBits its [rows, blocks, bytes] shape).
 */
export function quantizeEmbeddingsInt4(g: EditableGraph, options: Int4Options): EmbeddingQuantSummary {
  const summary: EmbeddingQuantSummary = { tables: [] };
  const { blockSize } = options;
  if (!Number.isInteger(blockSize) || blockSize < 16 || (blockSize & (blockSize - 1)) !== 0) {
    throw new RecshipError(`emb-int4: the block size must be a power of 2 of at least 16, got ${blockSize}`, { fix: "use 16, 32 or 64" });
  }
  for (const t of tablesOrThrow(g, "emb-int4")) {
    if (t.cols % blockSize !== 0) {
      throw new RecshipError(`emb-int4: the embedding width ${t.cols} of "${t.name}" is not a multiple of the block size ${blockSize}`, {
        fix: "choose a block size that divides the model's hidden size (16, 32, ...)",
      });
    }
    const w = g.floatInitializer(t.name)!;
    const blocks = quantizeRowBlocksInt4(w.values, t.rows, t.cols, blockSize, roundToHalf);
    const base = safe(t.name);
    const nb = blocks.blocksPerRow;
    const data = g.addInitializer(uint8Tensor(`${base}.int4`, [t.rows, t.cols / 2], blocks.packed));
    const scales = halfScales(g, `${base}.int4_scale`, [t.rows, nb], blocks.scales);
    g.insertBefore(g.nodes[0], scales.nodes);
    for (const gather of t.gathers) {
      if (options.lookup === "gather-block-quantized") {
        g.useDomain(MS_DOMAIN, 1);
        const out = g.makeNode("GatherBlockQuantized", [data, gather.input![1], scales.output], {
          name: `${gather.name ?? "gather"}/int4`,
          domain: MS_DOMAIN,
          outputs: [gather.output![0]],
          attributes: { bits: { int: 4 }, block_size: { int: blockSize }, gather_axis: { int: 0 }, quantize_axis: { int: 1 } },
        });
        g.replace(gather, [out]);
      } else {
        const { nodes, drop } = unpackLookup(g, gather, data, scales.output, t, blockSize);
        g.replace(gather, nodes);
        if (drop) g.nodes = g.nodes.filter((n) => n !== drop);
      }
    }
    if (t.tied) tiedProjectionInt4(g, t, { data, scales: scales.output, base, blocksPerRow: nb }, options);
    summary.tables.push({
      name: t.name,
      rows: t.rows,
      cols: t.cols,
      tiedOutput: Boolean(t.tied),
      bytesBefore: t.rows * t.cols * 4,
      bytesAfter: blocks.packed.byteLength + blocks.scales.length * 2,
    });
  }
  return summary;
}
