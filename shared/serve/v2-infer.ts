import { asObject, clip, describe } from "./body.js";
import type { BatchSlice } from "./batcher.js";
import { badRequest, HttpError } from "./http-error.js";
import { formatBytes } from "./limits.js";
import { fetched, INPUT_NAME, OUTPUT_NAMES, type ModelShape, type OutputName } from "./model-runner.js";

/** Open Inference Protocol (KServe V2) tensor datatypes of the model's signature. */
const OUTPUT_DATATYPES: Record<OutputName, "FP32" | "INT64"> = {
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
  /** Upper bound of the answer's JSON size in bytes (see responseBytes), known before the model runs. */
  responseBytes: number;
}

export interface InferLimits {
  maxRows: number;
  maxResponseBytes: number;
}

/**
 * Parses and checks a V2 infer request against the model: one input `item_seq`, datatype
 * INT64, shape [batch, maxlen], data flat (batch×maxlen numbers) or nested [batch][maxlen],
 * whole numbers in [0, numItems]. A malformed request is a 400 naming the problem; one over a
 * limit (rows, or the size of the answer it asks for) a 413 naming the limit, before any work.
 */
export function parseInferRequest(body: unknown, shape: ModelShape, limits: InferLimits): InferRequest {
  const o = asObject(body);
  if (o.id !== undefined && typeof o.id !== "string") throw badRequest(`"id" must be a string, got ${describe(o.id)}`);
  checkNoBinaryOutput(o.parameters);
  const t = singleInput(o.inputs);
  if (t.datatype !== "INT64") throw badRequest(`input "${INPUT_NAME}" has datatype INT64, got ${describe(t.datatype)}`);
  if (t.parameters !== undefined && asObject(t.parameters, "inputs[0].parameters").binary_data_size !== undefined) {
    throw badRequest("binary tensor data is not supported; send the data as a JSON array");
  }
  const rows = checkedRows(t.shape, shape.maxlen, limits.maxRows);
  const outputs = parseOutputs(o.outputs);
  const bytes = responseBytes(rows, shape, outputs);
  if (bytes > limits.maxResponseBytes) {
    throw new HttpError(
      413,
      `the outputs asked for (${outputs.join(", ")}) for ${rows} rows make an answer of up to ${formatBytes(bytes)}, ` +
        `more than the limit of ${formatBytes(limits.maxResponseBytes)} (--max-response-bytes); ` +
        `ask for fewer rows, or only top_items and top_scores ("outputs": [{"name": "top_items"}, {"name": "top_scores"}])`,
    );
  }
  const input = fillInput(t.data, rows, shape.maxlen, shape.numItems);
  return { ...(o.id !== undefined ? { id: o.id as string } : {}), rows, input, outputs, responseBytes: bytes };
}

function checkNoBinaryOutput(parameters: unknown): void {
  if (parameters === undefined) return;
  const p = asObject(parameters, '"parameters"');
  if (p.binary_data_output !== undefined && p.binary_data_output !== false) {
    throw badRequest("binary tensor data is not supported; ask for JSON outputs (binary_data_output false)");
  }
}

/** The request's one input tensor, named item_seq. */
function singleInput(inputs: unknown): Record<string, unknown> {
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw badRequest(`"inputs" must be a non-empty array of tensors, got ${describe(inputs)}`);
  }
  if (inputs.length > 1) throw badRequest(`the model has one input, "${INPUT_NAME}"; got ${inputs.length} inputs`);
  const t = asObject(inputs[0], "inputs[0]");
  if (t.name === undefined) throw badRequest(`inputs[0] has no "name"; the model's input is "${INPUT_NAME}"`);
  if (t.name !== INPUT_NAME) throw badRequest(`unknown input ${describe(t.name)}; the model's input is "${INPUT_NAME}"`);
  return t;
}

/** The batch size of a [batch, maxlen] shape: 400 when malformed, 413 past the row limit. */
function checkedRows(dims: unknown, maxlen: number, maxRows: number): number {
  if (!Array.isArray(dims) || dims.length !== 2 || !dims.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
    throw badRequest(`input "${INPUT_NAME}" has shape [batch, ${maxlen}], got ${clip(JSON.stringify(dims) ?? "nothing", 60)}`);
  }
  const [rows, cols] = dims as number[];
  if (cols !== maxlen) {
    throw badRequest(
      `input "${INPUT_NAME}" has shape [batch, ${maxlen}] (maxlen ${maxlen}), got [${rows}, ${cols}]; left-pad histories with 0`,
    );
  }
  if (rows < 1) throw badRequest(`batch size must be 1 to ${maxRows}, got ${rows}`);
  if (rows > maxRows) {
    throw new HttpError(
      413,
      `batch size ${rows} is more than the limit of ${maxRows} rows (--max-infer-rows); split the batch into smaller requests`,
    );
  }
  return rows;
}

/** The input's data, flat or nested exactly as its shape says, as [rows, cols] int64. */
function fillInput(data: unknown, rows: number, cols: number, numItems: number): BigInt64Array {
  if (data === undefined) throw badRequest(`input "${INPUT_NAME}" has no "data"`);
  if (!Array.isArray(data)) throw badRequest(`input "${INPUT_NAME}" data must be an array, got ${describe(data)}`);
  const out = new BigInt64Array(rows * cols);
  if (!data.some(Array.isArray)) {
    if (data.length !== out.length) {
      throw badRequest(`input "${INPUT_NAME}" of shape [${rows}, ${cols}] needs ${out.length} values, got ${data.length}`);
    }
    data.forEach((v, i) => (out[i] = itemId(v, `data[${i}]`, numItems)));
    return out;
  }
  if (data.length !== rows) {
    throw badRequest(
      `input "${INPUT_NAME}" data is nested with ${data.length} rows but its shape is [${rows}, ${cols}]; nest it as [${rows}][${cols}] or send it flat`,
    );
  }
  data.forEach((row: unknown, r) => {
    if (!Array.isArray(row)) throw badRequest(`input "${INPUT_NAME}" data mixes numbers and arrays (data[${r}]); nest every row or none`);
    if (row.some(Array.isArray)) throw badRequest(`input "${INPUT_NAME}" data is nested deeper than its 2 dimensions`);
    if (row.length !== cols) {
      throw badRequest(
        `input "${INPUT_NAME}" data[${r}] holds ${row.length} values but its shape [${rows}, ${cols}] needs rows of ${cols}`,
      );
    }
    row.forEach((v, c) => (out[r * cols + c] = itemId(v, `data[${r}][${c}]`, numItems)));
  });
  return out;
}

function itemId(v: unknown, where: string, numItems: number): bigint {
  if (typeof v !== "number" || !Number.isInteger(v)) {
    throw badRequest(`input "${INPUT_NAME}" ${where} must be a whole number (INT64), got ${describe(v)}`);
  }
  if (v < 0 || v > numItems) {
    throw badRequest(`input "${INPUT_NAME}" ${where} = ${v} is not an item: ids run from 1 to ${numItems}, 0 is padding`);
  }
  return BigInt(v);
}

function parseOutputs(value: unknown): OutputName[] {
  if (value === undefined) return [...OUTPUT_NAMES];
  if (!Array.isArray(value) || value.length === 0)
    throw badRequest(`"outputs" must be a non-empty array of {"name": ...}, got ${describe(value)}`);
  const names = value.map((o, i) => {
    const name = asObject(o, `outputs[${i}]`).name;
    if (name === undefined) throw badRequest(`outputs[${i}] has no "name"; the model's outputs are ${OUTPUT_NAMES.join(", ")}`);
    if (!OUTPUT_NAMES.includes(name as OutputName)) {
      throw badRequest(`unknown output ${describe(name)}; the model's outputs are ${OUTPUT_NAMES.join(", ")}`);
    }
    return name as OutputName;
  });
  if (new Set(names).size !== names.length) throw badRequest(`"outputs" names an output twice`);
  return names;
}

function outputWidth(shape: ModelShape): Record<OutputName, number> {
  return { scores: shape.numItems, top_items: shape.topK, top_scores: shape.topK, user_embedding: shape.hidden };
}

/** Longest JSON text of one FP32 value and its comma: sign, 17 digits, point, exponent ("-1.1754943508222875e-38,"). */
const FP32_JSON_BYTES = 24;
/** The answer's envelope and each output's name, datatype and shape, generously. */
const ENVELOPE_BYTES = 512;
const OUTPUT_HEADER_BYTES = 128;

/** Upper bound of the JSON answer's size for `rows` rows and these outputs: checked against the limit before the model runs. */
function responseBytes(rows: number, shape: ModelShape, names: readonly OutputName[]): number {
  const width = outputWidth(shape);
  const itemBytes = String(shape.numItems).length + 1;
  return names.reduce(
    (n, name) => n + OUTPUT_HEADER_BYTES + rows * width[name] * (OUTPUT_DATATYPES[name] === "INT64" ? itemBytes : FP32_JSON_BYTES),
    ENVELOPE_BYTES,
  );
}

/** Values per piece of a streamed answer (~80 KB of JSON for FP32): the event loop serves others between pieces. */
const VALUES_PER_PIECE = 4096;

/**
 * The V2 infer answer as JSON text in pieces: `{"model_name": ..., "outputs": [{..., "data": [...]}]}`
 * with each output's data cut into VALUES_PER_PIECE values, so a large answer is written as it is
 * formatted instead of being built whole in memory. Joined, the pieces are the same text as
 * JSON.stringify of the whole answer.
 */
export function* inferResponsePieces(
  envelope: { model_name: string; model_version: string; id?: string },
  slice: BatchSlice,
  shape: ModelShape,
  names: readonly OutputName[],
): Generator<string> {
  yield `${JSON.stringify(envelope).slice(0, -1)},"outputs":[`;
  const width = outputWidth(shape);
  for (const [i, name] of names.entries()) {
    const w = width[name];
    const values = outputValues(slice.outputs, name).subarray(slice.offset * w, (slice.offset + slice.rows) * w);
    yield `${i > 0 ? "," : ""}{"name":"${name}","datatype":"${OUTPUT_DATATYPES[name]}","shape":[${slice.rows},${w}],"data":[`;
    for (let from = 0; from < values.length; from += VALUES_PER_PIECE) {
      const piece = values.subarray(from, from + VALUES_PER_PIECE);
      const text = JSON.stringify(piece instanceof BigInt64Array ? Array.from(piece, Number) : Array.from(piece));
      yield `${from > 0 ? "," : ""}${text.slice(1, -1)}`;
    }
    yield "]}";
  }
  yield "]}";
}

function outputValues(outputs: BatchSlice["outputs"], name: OutputName): Float32Array | BigInt64Array {
  if (name === "top_items") return fetched(outputs.topItems, name);
  if (name === "scores") return fetched(outputs.scores, name);
  return fetched(name === "top_scores" ? outputs.topScores : outputs.userEmbedding, name);
}

/** GET /v2/models/{name}: the model's metadata. */
export function modelMetadata(name: string, version: string, shape: ModelShape) {
  return {
    name,
    versions: [version],
    platform: "onnx_onnxv1",
    inputs: [{ name: INPUT_NAME, datatype: "INT64", shape: [-1, shape.maxlen] }],
    outputs: [
      { name: "scores", datatype: "FP32", shape: [-1, shape.numItems] },
      { name: "top_items", datatype: "INT64", shape: [-1, shape.topK] },
      { name: "top_scores", datatype: "FP32", shape: [-1, shape.topK] },
      { name: "user_embedding", datatype: "FP32", shape: [-1, shape.hidden] },
    ],
  };
}
