import { asObject, describe } from "./body.js";
import type { BatchSlice } from "./batcher.js";
import { badRequest } from "./http-error.js";
import { fetched, INPUT_NAME, OUTPUT_NAMES, type ModelShape, type OutputName } from "./model-runner.js";

/** Open Inference Protocol (KServe V2) tensor datatypes of the model's signature. */
export const OUTPUT_DATATYPES: Record<OutputName, "FP32" | "INT64"> = {
  scores: "FP32",
  top_items: "INT64",
  top_scores: "FP32",
  user_embedding: "FP32",
};

export interface InferRequest {
  id?: string;
  rows: number;
  /** [rows, maxlen], dense item ids checked to lie in [0, numItems]. */
  input: BigInt64Array;
  outputs: OutputName[];
}

/**
 * Parses and checks a V2 infer request against the model: one input `item_seq`, datatype
 * INT64, shape [batch, maxlen], data flat or nested row-major with exactly batch×maxlen whole
 * numbers in [0, numItems]. Every refusal is a 400 naming the problem.
 */
export function parseInferRequest(body: unknown, shape: ModelShape, limits: { maxRows: number; maxOutputValues: number }): InferRequest {
  const { maxRows } = limits;
  const o = asObject(body);
  if (o.id !== undefined && typeof o.id !== "string") throw badRequest(`"id" must be a string, got ${describe(o.id)}`);
  if (o.parameters !== undefined) {
    const p = asObject(o.parameters, '"parameters"');
    if (p.binary_data_output !== undefined && p.binary_data_output !== false) {
      throw badRequest("binary tensor data is not supported; ask for JSON outputs (binary_data_output false)");
    }
  }
  if (!Array.isArray(o.inputs) || o.inputs.length === 0) {
    throw badRequest(`"inputs" must be a non-empty array of tensors, got ${describe(o.inputs)}`);
  }
  if (o.inputs.length > 1) {
    throw badRequest(`the model has one input, "${INPUT_NAME}"; got ${o.inputs.length} inputs`);
  }
  const t = asObject(o.inputs[0], "inputs[0]");
  if (t.name !== INPUT_NAME) throw badRequest(`unknown input ${describe(t.name)}; the model's input is "${INPUT_NAME}"`);
  if (t.datatype !== "INT64") throw badRequest(`input "${INPUT_NAME}" has datatype INT64, got ${describe(t.datatype)}`);
  if (t.parameters !== undefined && asObject(t.parameters, "inputs[0].parameters").binary_data_size !== undefined) {
    throw badRequest("binary tensor data is not supported; send the data as a JSON array");
  }
  const dims = t.shape;
  if (!Array.isArray(dims) || dims.length !== 2 || !dims.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
    throw badRequest(`input "${INPUT_NAME}" has shape [batch, ${shape.maxlen}], got ${JSON.stringify(dims) ?? "nothing"}`);
  }
  const [rows, cols] = dims as number[];
  if (cols !== shape.maxlen) {
    throw badRequest(
      `input "${INPUT_NAME}" has shape [batch, ${shape.maxlen}] (maxlen ${shape.maxlen}), got [${rows}, ${cols}]; left-pad histories with 0`,
    );
  }
  if (rows < 1 || rows > maxRows) throw badRequest(`batch size must be 1 to ${maxRows}, got ${rows}`);
  const input = new BigInt64Array(rows * cols);
  if (t.data === undefined) throw badRequest(`input "${INPUT_NAME}" has no "data"`);
  const filled = flattenInto(t.data, input, shape.numItems);
  if (filled !== input.length) {
    throw badRequest(`input "${INPUT_NAME}" of shape [${rows}, ${cols}] needs ${input.length} values, got ${filled}`);
  }
  const outputs = parseOutputs(o.outputs);
  const values = outputs.reduce((n, name) => n + rows * outputWidth(shape)[name], 0);
  if (values > limits.maxOutputValues) {
    throw badRequest(
      `the requested outputs hold ${values} values for ${rows} rows, more than the limit of ${limits.maxOutputValues}; ` +
        `ask for fewer rows, or only top_items and top_scores ("outputs": [{"name": "top_items"}, {"name": "top_scores"}])`,
    );
  }
  return { ...(o.id !== undefined ? { id: o.id as string } : {}), rows, input, outputs };
}

function flattenInto(data: unknown, out: BigInt64Array, numItems: number): number {
  let n = 0;
  const visit = (v: unknown, depth: number): void => {
    if (Array.isArray(v)) {
      if (depth >= 2) throw badRequest(`input "${INPUT_NAME}" data is nested deeper than its 2 dimensions`);
      for (const x of v) visit(x, depth + 1);
      return;
    }
    if (depth === 0) throw badRequest(`input "${INPUT_NAME}" data must be an array, got ${describe(v)}`);
    if (typeof v !== "number" || !Number.isInteger(v)) {
      throw badRequest(`input "${INPUT_NAME}" data[${n}] must be a whole number (INT64), got ${describe(v)}`);
    }
    if (v < 0 || v > numItems) {
      throw badRequest(`input "${INPUT_NAME}" data[${n}] = ${v} is not an item: ids run from 1 to ${numItems}, 0 is padding`);
    }
    if (n >= out.length) {
      n++;
      return;
    }
    out[n++] = BigInt(v);
  };
  visit(data, 0);
  return n;
}

function parseOutputs(value: unknown): OutputName[] {
  if (value === undefined) return [...OUTPUT_NAMES];
  if (!Array.isArray(value) || value.length === 0)
    throw badRequest(`"outputs" must be a non-empty array of {"name": ...}, got ${describe(value)}`);
  const names = value.map((o, i) => {
    const name = asObject(o, `outputs[${i}]`).name;
    if (!OUTPUT_NAMES.includes(name as OutputName)) {
      throw badRequest(`unknown output ${describe(name)}; the model's outputs are ${OUTPUT_NAMES.join(", ")}`);
    }
    return name as OutputName;
  });
  if (new Set(names).size !== names.length) throw badRequest(`"outputs" names an output twice`);
  return names;
}

export interface TensorJson {
  name: string;
  datatype: string;
  shape: number[];
  data: number[];
}

/** The requested outputs of a request's rows, as V2 JSON tensors. */
export function inferOutputs(slice: BatchSlice, shape: ModelShape, names: OutputName[]): TensorJson[] {
  const { outputs, offset, rows } = slice;
  const width: Record<OutputName, number> = {
    scores: shape.numItems,
    top_items: shape.topK,
    top_scores: shape.topK,
    user_embedding: shape.hidden,
  };
  return names.map((name) => {
    const w = width[name];
    const from = offset * w;
    const to = (offset + rows) * w;
    const data =
      name === "top_items"
        ? Array.from(fetched(outputs.topItems, name).subarray(from, to), Number)
        : Array.from(
            fetched(name === "scores" ? outputs.scores : name === "top_scores" ? outputs.topScores : outputs.userEmbedding, name).subarray(
              from,
              to,
            ),
          );
    return { name, datatype: OUTPUT_DATATYPES[name], shape: [rows, w], data };
  });
}

function outputWidth(shape: ModelShape): Record<OutputName, number> {
  return { scores: shape.numItems, top_items: shape.topK, top_scores: shape.topK, user_embedding: shape.hidden };
}

/** GET /v2/models/{name}: the model's metadata. */
export function modelMetadata(name: string, version: string, shape: ModelShape) {
  return {
    name,
    versions: [version],
    platform: "onnxruntime_onnx",
    inputs: [{ name: INPUT_NAME, datatype: "INT64", shape: [-1, shape.maxlen] }],
    outputs: [
      { name: "scores", datatype: "FP32", shape: [-1, shape.numItems] },
      { name: "top_items", datatype: "INT64", shape: [-1, shape.topK] },
      { name: "top_scores", datatype: "FP32", shape: [-1, shape.topK] },
      { name: "user_embedding", datatype: "FP32", shape: [-1, shape.hidden] },
    ],
  };
}
