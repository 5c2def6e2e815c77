import { createHash } from "node:crypto";
import { RecshipError } from "../errors.js";

export interface TensorEntry {
  name: string;
  shape: number[];
  dtype: "float32";
  /** Byte offset in the weights file. */
  offset: number;
}

/** Concatenates float32 tensors (little-endian) into one buffer, with their index. */
export function encodeWeights(
  values: Map<string, Float32Array>,
  shapes: Map<string, number[]>,
): { data: Buffer; tensors: TensorEntry[]; sha256: string } {
  let size = 0;
  for (const v of values.values()) size += v.byteLength;
  const data = Buffer.alloc(size);
  const tensors: TensorEntry[] = [];
  let offset = 0;
  for (const [name, v] of values) {
    const shape = shapes.get(name);
    if (!shape) throw new Error(`no shape for ${name}`);
    Buffer.from(v.buffer, v.byteOffset, v.byteLength).copy(data, offset);
    tensors.push({ name, shape, dtype: "float32", offset });
    offset += v.byteLength;
  }
  return { data, tensors, sha256: createHash("sha256").update(data).digest("hex") };
}

/** Reads tensors back, checking the file's size and checksum against the index. */
export function decodeWeights(data: Buffer, tensors: TensorEntry[], sha256: string | undefined, where: string): Map<string, Float32Array> {
  let expected = 0;
  for (const t of tensors) expected = Math.max(expected, t.offset + 4 * t.shape.reduce((a, b) => a * b, 1));
  if (data.byteLength < expected) {
    throw new RecshipError(`the weights file is truncated: ${data.byteLength} bytes, the manifest needs ${expected}`, {
      where,
      fix: "re-run train-model, or restore the bundle from its artifact",
    });
  }
  if (sha256 && createHash("sha256").update(data).digest("hex") !== sha256) {
    throw new RecshipError("the weights file does not match the checksum in bundle.json (corrupted or replaced)", {
      where,
      fix: "re-run train-model, or restore the bundle from its artifact",
    });
  }
  const out = new Map<string, Float32Array>();
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const copy = new Float32Array(n);
    const bytes = new Uint8Array(copy.buffer);
    bytes.set(data.subarray(t.offset, t.offset + 4 * n));
    out.set(t.name, copy);
  }
  return out;
}
