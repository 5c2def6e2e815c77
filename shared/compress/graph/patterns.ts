import { DataType, toNumber, type OnnxProto } from "../../onnx/proto.js";
import { tensorValues } from "./tensors.js";
import { intAttr, type EditableGraph } from "./editable-graph.js";

/** A MatMul whose right-hand side is a constant 2-D float weight [in, out]. */
export interface WeightMatMul {
  node: OnnxProto.INodeProto;
  input: string;
  weight: string;
  rows: number;
  cols: number;
}

/** Where the tied output projection reads the table: Gemm(user, Slice(table, start..end on axis 0), transB=1). */
interface TiedOutput {
  gemm: OnnxProto.INodeProto;
  slice?: OnnxProto.INodeProto;
  /** Rows of the table the scores cover: [start, end). */
  start: number;
  end: number;
  alpha: number;
}

/** An embedding table: Gather(table, ids, axis 0) lookups, and the tied output projection if there is one. */
export interface EmbeddingTable {
  name: string;
  rows: number;
  cols: number;
  gathers: OnnxProto.INodeProto[];
  tied?: TiedOutput;
}

function constInts(g: EditableGraph, name: string | undefined): number[] | undefined {
  if (!name) return undefined;
  const t = g.initializer(name);
  return t ? Array.from(tensorValues(t), Number) : undefined;
}

export function weightMatMuls(g: EditableGraph): WeightMatMul[] {
  const out: WeightMatMul[] = [];
  for (const node of g.nodes) {
    if (node.opType !== "MatMul" || (node.domain ?? "") !== "") continue;
    const [input, weight] = node.input ?? [];
    const w = g.initializer(weight);
    if (!w || w.dataType !== DataType.FLOAT || (w.dims ?? []).length !== 2) continue;
    const [rows, cols] = (w.dims ?? []).map((d) => toNumber(d));
    out.push({ node, input, weight, rows, cols });
  }
  return out;
}

function tiedOutput(g: EditableGraph, table: string, rows: number, consumer: OnnxProto.INodeProto): TiedOutput | undefined {
  const asGemm = (gemm: OnnxProto.INodeProto, slice: OnnxProto.INodeProto | undefined, start: number, end: number) => {
    if (gemm.opType !== "Gemm" || intAttr(gemm, "transB", 0) !== 1 || intAttr(gemm, "transA", 0) !== 0) return undefined;
    if ((gemm.input ?? [])[1] !== (slice ? slice.output![0] : table) || (gemm.input ?? []).length > 2) return undefined;
    const alphaAttr = gemm.attribute?.find((a) => a.name === "alpha");
    return { gemm, slice, start, end, alpha: alphaAttr?.f ?? 1 };
  };
  if (consumer.opType === "Gemm") return asGemm(consumer, undefined, 0, rows);
  if (consumer.opType !== "Slice" || consumer.input?.[0] !== table) return undefined;
  const [starts, ends, axes, steps] = [2, 3, 4, 5].map((i) => constInts(g, consumer.input?.[i - 1]));
  if (!starts || !ends || starts.length !== 1 || (axes && axes[0] !== 0) || (steps && steps[0] !== 1)) return undefined;
  const users = g.consumers(consumer.output![0]);
  if (users.length !== 1) return undefined;
  const clampRow = (v: number) => Math.max(0, Math.min(rows, v < 0 ? v + rows : v));
  return asGemm(users[0], consumer, clampRow(starts[0]), clampRow(ends[0]));
}

/**
 * Embedding tables: 2-D float initializers read by Gather on axis 0. Every other use of the
 * table must be the tied output projection (Gemm against the table, or a row slice of it,
 * with transB = 1), else the table is not rewritable and is left out.
 */
export function embeddingTables(g: EditableGraph): EmbeddingTable[] {
  const out: EmbeddingTable[] = [];
  const seen = new Set<string>();
  for (const node of g.nodes) {
    if (node.opType !== "Gather" || intAttr(node, "axis", 0) !== 0) continue;
    const table = node.input?.[0] ?? "";
    const t = g.initializer(table);
    if (seen.has(table) || !t || t.dataType !== DataType.FLOAT || (t.dims ?? []).length !== 2) continue;
    seen.add(table);
    const [rows, cols] = (t.dims ?? []).map((d) => toNumber(d));
    const gathers: OnnxProto.INodeProto[] = [];
    let tied: TiedOutput | undefined;
    let ok = true;
    for (const c of g.consumers(table)) {
      if (c.opType === "Gather" && c.input?.[0] === table && intAttr(c, "axis", 0) === 0) gathers.push(c);
      else if (!tied && (tied = tiedOutput(g, table, rows, c))) continue;
      else ok = false;
    }
    if (ok) out.push({ name: table, rows, cols, gathers, ...(tied ? { tied } : {}) });
  }
  return out;
}
