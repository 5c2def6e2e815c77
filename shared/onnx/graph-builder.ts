import { AttributeType, ELEM_TYPES, type ElemType, type OnnxProto } from "./proto.js";
import { tensorOf } from "./tensor.js";

/** A dimension: a fixed size, or a symbolic name such as "batch". */
export type Dim = number | string;

export type AttrValue = { int: number } | { ints: number[] } | { float: number } | { string: string };

/** Tagged attribute values, so an integer-valued float is never mistaken for an int. */
export const attr = {
  int: (v: number): AttrValue => ({ int: v }),
  ints: (v: number[]): AttrValue => ({ ints: v }),
  float: (v: number): AttrValue => ({ float: v }),
  string: (v: string): AttrValue => ({ string: v }),
};

export interface NodeOptions {
  /** Node name (made unique); outputs are named after it. */
  name?: string;
  attributes?: Record<string, AttrValue>;
  /** Explicit output names (e.g. graph outputs), or how many outputs to name automatically. */
  outputs?: string[] | number;
}

export interface ValueSignature {
  name: string;
  type: ElemType;
  dims: Dim[];
}

function valueInfo(v: ValueSignature): OnnxProto.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: ELEM_TYPES[v.type].dataType,
        shape: { dim: v.dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function attribute(name: string, value: AttrValue): OnnxProto.IAttributeProto {
  if ("int" in value) return { name, type: AttributeType.INT, i: value.int };
  if ("ints" in value) return { name, type: AttributeType.INTS, ints: value.ints };
  if ("float" in value) return { name, type: AttributeType.FLOAT, f: value.float };
  return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value.string) };
}

/**
 * Builds an ONNX GraphProto node by node. Every value name is unique and defined before
 * use (nodes are added in topological order by construction); `build()` checks both, so a
 * mapping bug fails at export time rather than as an obscure onnxruntime load error.
 */
export class GraphBuilder {
  private readonly nodes: OnnxProto.INodeProto[] = [];
  private readonly initializers: OnnxProto.ITensorProto[] = [];
  private readonly inputs: ValueSignature[] = [];
  private readonly outputs: ValueSignature[] = [];
  private readonly values = new Set<string>();
  private readonly nodeNames = new Set<string>();
  private readonly constants = new Map<string, string>();

  constructor(readonly name: string) {}

  private claimValue(name: string): string {
    if (this.values.has(name)) throw new Error(`graph ${this.name}: value "${name}" is defined twice`);
    this.values.add(name);
    return name;
  }

  private uniqueNodeName(base: string): string {
    let name = base;
    for (let i = 1; this.nodeNames.has(name) || this.values.has(`${name}/out`) || this.values.has(`${name}/out0`); i++)
      name = `${base}_${i}`;
    this.nodeNames.add(name);
    return name;
  }

  input(name: string, type: ElemType, dims: Dim[]): string {
    this.inputs.push({ name: this.claimValue(name), type, dims });
    return name;
  }

  /** Declares a graph output; `name` must be produced by a node (use NodeOptions.outputs). */
  output(name: string, type: ElemType, dims: Dim[]): void {
    this.outputs.push({ name, type, dims });
  }

  initializer(tensor: OnnxProto.ITensorProto): string {
    if (!tensor.name) throw new Error("an initializer needs a name");
    this.initializers.push(tensor);
    return this.claimValue(tensor.name);
  }

  /** A small constant initializer, shared between uses with equal hint, type, shape and values. */
  constant(type: ElemType, dims: number[], values: ArrayLike<number | bigint | boolean>, hint = "const"): string {
    // small constants (scalars, shapes, axes) are shared; large ones are unique anyway
    const key = values.length <= 64 ? `${hint}|${type}|${dims.join(",")}|${Array.from(values as ArrayLike<unknown>).join(",")}` : undefined;
    const known = key && this.constants.get(key);
    if (known) return known;
    let name = hint;
    for (let i = 1; this.values.has(name); i++) name = `${hint}_${i}`;
    this.initializer(tensorOf(type, name, dims, values));
    if (key) this.constants.set(key, name);
    return name;
  }

  scalar(type: ElemType, value: number | boolean, hint?: string): string {
    return this.constant(type, [], [value as number], hint ?? `${type}_${String(value).replace(/[^0-9a-zA-Z.-]/g, "_")}`);
  }

  /** 1-D int64 constant (shapes, axes, perms). */
  ints(values: number[], hint = "ints"): string {
    return this.constant("int64", [values.length], values, hint);
  }

  /** Adds a node; returns its output names. */
  node(opType: string, inputs: string[], options: NodeOptions = {}): string[] {
    for (const i of inputs) {
      if (i !== "" && !this.values.has(i)) throw new Error(`graph ${this.name}: ${opType} uses "${i}" before it is defined`);
    }
    const name = this.uniqueNodeName(options.name ?? opType);
    const outputs =
      typeof options.outputs === "object"
        ? options.outputs
        : options.outputs === undefined || options.outputs === 1
          ? [`${name}/out`]
          : Array.from({ length: options.outputs }, (_, i) => `${name}/out${i}`);
    for (const o of outputs) this.claimValue(o);
    this.nodes.push({
      name,
      opType,
      input: inputs,
      output: outputs,
      attribute: Object.entries(options.attributes ?? {}).map(([k, v]) => attribute(k, v)),
    });
    return outputs;
  }

  /** A single-output node. */
  op(opType: string, inputs: string[], options: Omit<NodeOptions, "outputs"> & { output?: string } = {}): string {
    return this.node(opType, inputs, { ...options, outputs: options.output ? [options.output] : 1 })[0];
  }

  signature(): { inputs: ValueSignature[]; outputs: ValueSignature[] } {
    return { inputs: [...this.inputs], outputs: [...this.outputs] };
  }

  build(docString?: string): OnnxProto.IGraphProto {
    for (const o of this.outputs) {
      if (!this.values.has(o.name)) throw new Error(`graph ${this.name}: output "${o.name}" is never produced`);
    }
    return {
      name: this.name,
      ...(docString ? { docString } : {}),
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs.map(valueInfo),
      output: this.outputs.map(valueInfo),
    };
  }
}
