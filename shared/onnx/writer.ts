import { basename, dirname, join } from "node:path";
import { sha256Of, writeFileAtomic } from "../bundle/bundle-io.js";
import { RecshipError } from "../errors.js";
import { DataLocation, encodeModel, type OnnxProto } from "./proto.js";

export const DEFAULT_OPSET = 17;
/** Opsets the exporters are written for: LayerNormalization appeared in 17; nothing used changed up to 21. */
const MIN_OPSET = 17;
const MAX_OPSET = 21;

/** The lowest IR version that can carry an opset (onnx/helper.py's VERSION_TABLE). */
export function irVersionFor(opset: number): number {
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

export function checkOpset(opset: number, where?: string): number {
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new RecshipError(
      `opset ${opset} is not supported: the exporter needs ONNX opset ${MIN_OPSET} to ${MAX_OPSET} (LayerNormalization is opset ${MIN_OPSET})`,
      {
        where,
        fix: `pass an opset between ${MIN_OPSET} and ${MAX_OPSET} (default ${DEFAULT_OPSET})`,
      },
    );
  }
  return opset;
}

export interface ModelOptions {
  opset?: number;
  producerName: string;
  producerVersion: string;
  docString?: string;
  /** metadata_props (lineage): written in key order. */
  metadata?: Record<string, string>;
}

export function makeModel(graph: OnnxProto.IGraphProto, options: ModelOptions): OnnxProto.IModelProto {
  const opset = checkOpset(options.opset ?? DEFAULT_OPSET);
  return {
    irVersion: irVersionFor(opset),
    opsetImport: [{ domain: "", version: opset }],
    producerName: options.producerName,
    producerVersion: options.producerVersion,
    ...(options.docString ? { docString: options.docString } : {}),
    graph,
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
}

export interface WriteModelOptions {
  /**
   * Initializers of at least this many bytes go to an external-data file beside the model
   * (undefined: everything inline). Needed past protobuf's 2 GiB message limit.
   */
  externalDataThresholdBytes?: number;
  /** External-data file name, relative to the model's folder (default: `<model file>.data`). */
  externalDataFile?: string;
}

export interface WrittenModel {
  path: string;
  bytes: number;
  sha256: string;
  externalData?: { path: string; file: string; bytes: number; sha256: string; tensors: number };
}

/** External tensors start on 4 KiB boundaries, so onnxruntime can memory-map them. */
const EXTERNAL_ALIGNMENT = 4096;
/** protobuf cannot encode a message of 2 GiB or more. */
const PROTOBUF_LIMIT = 2 ** 31 - 1;

/**
 * Moves initializers of at least `threshold` bytes into one external-data buffer: each
 * tensor gets data_location EXTERNAL and external_data entries location/offset/length
 * (the ONNX external-data convention). Returns the model to encode and the buffer.
 */
export function splitExternalData(
  model: OnnxProto.IModelProto,
  threshold: number,
  file: string,
): { model: OnnxProto.IModelProto; data: Buffer; tensors: number } {
  const chunks: Buffer[] = [];
  let offset = 0;
  let tensors = 0;
  const initializer = (model.graph?.initializer ?? []).map((t) => {
    const raw = t.rawData;
    if (!raw || raw.length === 0 || raw.length < threshold) return t;
    const aligned = Math.ceil(offset / EXTERNAL_ALIGNMENT) * EXTERNAL_ALIGNMENT;
    if (aligned > offset) chunks.push(Buffer.alloc(aligned - offset));
    chunks.push(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength));
    const entry: OnnxProto.ITensorProto = {
      ...t,
      rawData: undefined,
      dataLocation: DataLocation.EXTERNAL,
      externalData: [
        { key: "location", value: file },
        { key: "offset", value: String(aligned) },
        { key: "length", value: String(raw.length) },
      ],
    };
    delete entry.rawData;
    offset = aligned + raw.length;
    tensors++;
    return entry;
  });
  return { model: { ...model, graph: { ...model.graph, initializer } }, data: Buffer.concat(chunks), tensors };
}

/** Encodes a model and writes it (plus its external-data file, if any) through temp files and renames. */
export async function writeModel(path: string, model: OnnxProto.IModelProto, options: WriteModelOptions = {}): Promise<WrittenModel> {
  let toEncode = model;
  let external: { data: Buffer; file: string; tensors: number } | undefined;
  if (options.externalDataThresholdBytes !== undefined) {
    const file = options.externalDataFile ?? `${basename(path)}.data`;
    const split = splitExternalData(model, options.externalDataThresholdBytes, file);
    if (split.tensors > 0) {
      toEncode = split.model;
      external = { data: split.data, file, tensors: split.tensors };
    }
  }
  const inlineBytes = (toEncode.graph?.initializer ?? []).reduce((n, t) => n + (t.rawData?.length ?? 0), 0);
  if (inlineBytes >= PROTOBUF_LIMIT) {
    throw new RecshipError(`the model's inline weights take ${inlineBytes} bytes, past protobuf's 2 GiB limit`, {
      where: path,
      fix: "set an external-data threshold (e.g. 1048576) so large weights go to a file beside the model",
    });
  }
  const bytes = Buffer.from(encodeModel(toEncode));
  let externalInfo: WrittenModel["externalData"];
  if (external) {
    const externalPath = join(dirname(path), external.file);
    await writeFileAtomic(externalPath, external.data);
    externalInfo = {
      path: externalPath,
      file: external.file,
      bytes: external.data.byteLength,
      sha256: sha256Of(external.data),
      tensors: external.tensors,
    };
  }
  await writeFileAtomic(path, bytes);
  return { path, bytes: bytes.byteLength, sha256: sha256Of(bytes), ...(externalInfo ? { externalData: externalInfo } : {}) };
}
