import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { RecshipError } from "../../errors.js";
import { AttributeType, DataLocation, DataType, decodeModel, toNumber, type OnnxProto } from "../../onnx/proto.js";
import { dimsOf, tensorValues } from "./tensors.js";

export const MS_DOMAIN = "com.microsoft";

export type Attr = { int: number } | { ints: number[] } | { float: number } | { string: string };

function attribute(name: string, value: Attr): OnnxProto.IAttributeProto {
  if ("int" in value) return { name, type: AttributeType.INT, i: value.int };
  if ("ints" in value) return { name, type: AttributeType.INTS, ints: value.ints };
  if ("string" in value) return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value.string) };
  return { name, type: AttributeType.FLOAT, f: value.float };
}

export function intAttr(node: OnnxProto.INodeProto, name: string, fallback: number): number {
  const a = node.attribute?.find((x) => x.name === name);
  return a ? toNumber(a.i) : fallback;
}

/** Reads a model file, pulling any external-data tensors inline (compressed variants are small). */
export async function readModelFile(path: string): Promise<OnnxProto.ModelProto> {
  if (!existsSync(path)) throw new RecshipError(`the model file ${path} does not exist`, { fix: "run convert-onnx on the bundle first" });
  const model = decodeModel(await readFile(path));
  const files = new Map<string, Buffer>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation !== DataLocation.EXTERNAL) continue;
    const entry = (k: string) => t.externalData?.find((e) => e.key === k)?.value ?? "";
    const location = entry("location");
    if (!files.has(location)) {
      const file = join(dirname(path), location);
      if (!existsSync(file)) throw new RecshipError(`the external-data file "${location}" of ${path} is missing`, { where: path });
      files.set(location, await readFile(file));
    }
    const data = files.get(location)!;
    const offset = Number(entry("offset") || 0);
    const length = entry("length") ? Number(entry("length")) : data.byteLength - offset;
    t.rawData = new Uint8Array(data.subarray(offset, offset + length));
    t.dataLocation = DataLocation.DEFAULT;
    t.externalData = [];
  }
  return model;
}

/**
 * A mutable view of an ONNX model for graph rewrites: nodes in order, initializers by name,
 * unique-name allocation, consumer lookup and opset bookkeeping. Rewrites replace a node by
 * nodes that only use values defined earlier, so the node order stays topological; `toModel`
 * re-sorts anyway and drops initializers nothing uses.
 */
export class EditableGraph {
  nodes: OnnxProto.INodeProto[];
  readonly initializers = new Map<string, OnnxProto.ITensorProto>();
  private readonly names = new Set<string>();
  private readonly opsets = new Map<string, number>();
  private readonly metadata = new Map<string, string>();

  constructor(private readonly source: OnnxProto.IModelProto) {
    const graph = source.graph ?? {};
    this.nodes = (graph.node ?? []).map((n) => ({ ...n, input: [...(n.input ?? [])], output: [...(n.output ?? [])] }));
    for (const t of graph.initializer ?? []) {
      this.initializers.set(t.name ?? "", t);
      this.names.add(t.name ?? "");
    }
    for (const v of [...(graph.input ?? []), ...(graph.output ?? [])]) this.names.add(v.name ?? "");
    for (const n of this.nodes) {
      this.names.add(n.name ?? "");
      for (const o of n.output ?? []) this.names.add(o);
    }
    for (const o of source.opsetImport ?? []) this.opsets.set(o.domain ?? "", toNumber(o.version));
    for (const p of source.metadataProps ?? []) this.metadata.set(p.key ?? "", p.value ?? "");
  }

  get opset(): number {
    return this.opsets.get("") ?? this.opsets.get("ai.onnx") ?? 17;
  }

  useDomain(domain: string, version: number): void {
    this.opsets.set(domain, Math.max(version, this.opsets.get(domain) ?? 0));
  }

  setMetadata(key: string, value: string): void {
    this.metadata.set(key, value);
  }

  getMetadata(key: string): string | undefined {
    return this.metadata.get(key);
  }

  get inputs(): OnnxProto.IValueInfoProto[] {
    return this.source.graph?.input ?? [];
  }

  get outputs(): OnnxProto.IValueInfoProto[] {
    return this.source.graph?.output ?? [];
  }

  /** A fresh value or node name starting with `base`. */
  unique(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  initializer(name: string): OnnxProto.ITensorProto | undefined {
    return this.initializers.get(name);
  }

  /** A float32 initializer's dims and values, or undefined when `name` is not one. */
  floatInitializer(name: string): { dims: number[]; values: Float32Array } | undefined {
    const t = this.initializers.get(name);
    if (!t || t.dataType !== DataType.FLOAT) return undefined;
    return { dims: dimsOf(t), values: tensorValues(t) as Float32Array };
  }

  /** Adds an initializer under a fresh name derived from its own; returns the name used. */
  addInitializer(tensor: OnnxProto.ITensorProto): string {
    const name = this.unique(tensor.name ?? "init");
    this.initializers.set(name, { ...tensor, name });
    return name;
  }

  /** Replaces an initializer's data in place (same name). */
  setInitializer(tensor: OnnxProto.ITensorProto): void {
    if (!tensor.name || !this.initializers.has(tensor.name)) throw new Error(`no initializer ${tensor.name}`);
    this.initializers.set(tensor.name, tensor);
  }

  producer(value: string): OnnxProto.INodeProto | undefined {
    return this.nodes.find((n) => n.output?.includes(value));
  }

  consumers(value: string): OnnxProto.INodeProto[] {
    return this.nodes.filter((n) => n.input?.includes(value));
  }

  /** A node description; `outputs` are either given names or a count of fresh ones. */
  makeNode(
    opType: string,
    inputs: string[],
    options: { outputs?: string[] | number; name?: string; domain?: string; attributes?: Record<string, Attr> } = {},
  ): OnnxProto.INodeProto {
    const name = this.unique(options.name ?? opType);
    const count = typeof options.outputs === "number" ? options.outputs : 1;
    const outputs =
      typeof options.outputs === "object"
        ? options.outputs
        : Array.from({ length: count }, (_, i) => this.unique(`${name}/out${count > 1 ? i : ""}`));
    return {
      name,
      opType,
      ...(options.domain ? { domain: options.domain } : {}),
      input: inputs,
      output: outputs,
      attribute: Object.entries(options.attributes ?? {}).map(([k, v]) => attribute(k, v)),
    };
  }

  /** Replaces `node` (by identity) with `replacement`, in its place. */
  replace(node: OnnxProto.INodeProto, replacement: OnnxProto.INodeProto[]): void {
    const at = this.nodes.indexOf(node);
    if (at < 0) throw new Error(`node ${node.name} is not in the graph`);
    this.nodes.splice(at, 1, ...replacement);
  }

  /** Inserts nodes right before `before` (or at the start). */
  insertBefore(before: OnnxProto.INodeProto | undefined, nodes: OnnxProto.INodeProto[]): void {
    const at = before ? this.nodes.indexOf(before) : 0;
    this.nodes.splice(Math.max(0, at), 0, ...nodes);
  }

  /** Renames every use of value `from` (node inputs) to `to`. */
  rewire(from: string, to: string): void {
    for (const n of this.nodes) n.input = (n.input ?? []).map((i) => (i === from ? to : i));
  }

  /** Nodes in a topological order (stable: the current order where it already is one). */
  private sorted(): OnnxProto.INodeProto[] {
    const available = new Set<string>([...this.initializers.keys(), ...this.inputs.map((i) => i.name ?? ""), ""]);
    const pending = [...this.nodes];
    const out: OnnxProto.INodeProto[] = [];
    while (pending.length > 0) {
      const i = pending.findIndex((n) => (n.input ?? []).every((x) => available.has(x)));
      if (i < 0) throw new Error(`graph rewrite left a cycle or an undefined value near node ${pending[0].name}`);
      const [n] = pending.splice(i, 1);
      for (const o of n.output ?? []) available.add(o);
      out.push(n);
    }
    return out;
  }

  toModel(): OnnxProto.IModelProto {
    const nodes = this.sorted();
    const used = new Set(nodes.flatMap((n) => n.input ?? []));
    for (const o of this.outputs) used.add(o.name ?? "");
    const initializer = [...this.initializers.values()].filter((t) => used.has(t.name ?? ""));
    return {
      ...this.source,
      opsetImport: [...this.opsets.entries()].map(([domain, version]) => ({ domain, version })),
      graph: { ...this.source.graph, node: nodes, initializer, valueInfo: [] },
      metadataProps: [...this.metadata.entries()].map(([key, value]) => ({ key, value })),
    };
  }
}
