import { endianness } from "node:os";
import { DataType, type ElemType, type OnnxProto } from "./proto.js";

const LITTLE_ENDIAN_HOST = endianness() === "LE";

function elementCount(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function checkCount(name: string, dims: number[], length: number): void {
  if (elementCount(dims) !== length) {
    throw new Error(`tensor ${name}: ${length} values do not fill shape [${dims.join(", ")}]`);
  }
}

/** float32 values as little-endian bytes (ONNX raw_data is always little-endian). */
export function float32Bytes(values: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return out;
}

export function int64Bytes(values: ArrayLike<number | bigint>): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, BigInt(values[i]), true);
  return out;
}

function boolBytes(values: ArrayLike<boolean | number>): Uint8Array {
  return Uint8Array.from(values as ArrayLike<number>, (v) => (v ? 1 : 0));
}

/** A named initializer with its values in raw_data. */
export function floatTensor(name: string, dims: number[], values: Float32Array): OnnxProto.ITensorProto {
  checkCount(name, dims, values.length);
  return { name, dims, dataType: DataType.FLOAT, rawData: float32Bytes(values) };
}

function int64Tensor(name: string, dims: number[], values: ArrayLike<number | bigint>): OnnxProto.ITensorProto {
  checkCount(name, dims, values.length);
  return { name, dims, dataType: DataType.INT64, rawData: int64Bytes(values) };
}

/** Whole numbers in [0, 65535] as UINT16, else as INT32 (small index tables: 2 or 4 bytes a value instead of int64's 8). */
export function compactIndexTensor(name: string, dims: number[], values: ArrayLike<number>): OnnxProto.ITensorProto {
  checkCount(name, dims, values.length);
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0) throw new Error(`tensor ${name}: ${v} is not a non-negative whole number`);
    max = Math.max(max, v);
  }
  const narrow = max <= 0xffff;
  const out = new Uint8Array(values.length * (narrow ? 2 : 4));
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) {
    if (narrow) view.setUint16(i * 2, values[i], true);
    else view.setInt32(i * 4, values[i], true);
  }
  return { name, dims, dataType: narrow ? DataType.UINT16 : DataType.INT32, rawData: out };
}

function boolTensor(name: string, dims: number[], values: ArrayLike<boolean | number>): OnnxProto.ITensorProto {
  checkCount(name, dims, values.length);
  return { name, dims, dataType: DataType.BOOL, rawData: boolBytes(values) };
}

export function tensorOf(
  type: ElemType,
  name: string,
  dims: number[],
  values: ArrayLike<number | bigint | boolean>,
): OnnxProto.ITensorProto {
  if (type === "float") return floatTensor(name, dims, Float32Array.from(values as ArrayLike<number>));
  if (type === "int64") return int64Tensor(name, dims, values as ArrayLike<number | bigint>);
  return boolTensor(name, dims, values as ArrayLike<boolean | number>);
}

/** Reads a float32 tensor's values from raw_data (or from `external`, the bytes it points at). */
export function readFloatTensor(tensor: OnnxProto.ITensorProto, external?: Uint8Array): Float32Array {
  if (tensor.dataType !== DataType.FLOAT) throw new Error(`tensor ${tensor.name} is not float32`);
  const bytes = external ?? tensor.rawData;
  if (!bytes) return Float32Array.from(tensor.floatData ?? []);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}
