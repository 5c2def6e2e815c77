import { DataType, toNumber, type OnnxProto } from "../../onnx/proto.js";
import { float32Bytes } from "../../onnx/tensor.js";

function count(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function bytesOf(values: ArrayBufferView): Uint8Array {
  return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
}

function check(name: string, dims: number[], length: number): void {
  if (count(dims) !== length) throw new Error(`tensor ${name}: ${length} values do not fill shape [${dims.join(", ")}]`);
}

export function float32Tensor(name: string, dims: number[], values: Float32Array): OnnxProto.ITensorProto {
  check(name, dims, values.length);
  return { name, dims, dataType: DataType.FLOAT, rawData: float32Bytes(values) };
}

export function int8Tensor(name: string, dims: number[], values: Int8Array): OnnxProto.ITensorProto {
  check(name, dims, values.length);
  return { name, dims, dataType: DataType.INT8, rawData: bytesOf(values) };
}

/** uint8 values, or raw packed bytes (4-bit data) when `dims` describes the packed layout. */
export function uint8Tensor(name: string, dims: number[], values: Uint8Array): OnnxProto.ITensorProto {
  check(name, dims, values.length);
  return { name, dims, dataType: DataType.UINT8, rawData: Uint8Array.from(values) };
}

export function int64Values(name: string, dims: number[], values: ArrayLike<number>): OnnxProto.ITensorProto {
  check(name, dims, values.length);
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, BigInt(values[i]), true);
  return { name, dims, dataType: DataType.INT64, rawData: out };
}

/** float32 → IEEE half bits, round to nearest even (subnormals kept, overflow to ±inf). */
export function toHalfBits(value: number): number {
  const f = new Float32Array([value]);
  const x = new Uint32Array(f.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // underflows to ±0
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++; // may carry into the exponent: still correct
  e = half >>> 10;
  return sign | (e >= 0x1f ? 0x7c00 : half);
}

export function fromHalfBits(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** Values as stored in float16 and read back (what fp16 storage does to them). */
export function roundToHalf(values: Float32Array): Float32Array {
  return Float32Array.from(values, (v) => fromHalfBits(toHalfBits(v)));
}

export function float16Tensor(name: string, dims: number[], values: Float32Array): OnnxProto.ITensorProto {
  check(name, dims, values.length);
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setUint16(i * 2, toHalfBits(values[i]), true);
  return { name, dims, dataType: DataType.FLOAT16, rawData: out };
}

export function dimsOf(tensor: OnnxProto.ITensorProto): number[] {
  return (tensor.dims ?? []).map((d) => toNumber(d));
}

/** A tensor's values as numbers (float, float16, int8, uint8, int32, int64), from raw_data or the typed fields. */
export function tensorValues(tensor: OnnxProto.ITensorProto): Float32Array | Int32Array | Float64Array {
  const n = count(dimsOf(tensor));
  const raw = tensor.rawData && tensor.rawData.length > 0 ? tensor.rawData : undefined;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : undefined;
  switch (tensor.dataType) {
    case DataType.FLOAT: {
      if (!view) return Float32Array.from(tensor.floatData ?? []);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case DataType.FLOAT16: {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = fromHalfBits(view ? view.getUint16(i * 2, true) : Number(tensor.int32Data?.[i] ?? 0));
      return out;
    }
    case DataType.INT8:
    case DataType.UINT8: {
      const signed = tensor.dataType === DataType.INT8;
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view ? (signed ? view.getInt8(i) : view.getUint8(i)) : Number(tensor.int32Data?.[i] ?? 0);
      return out;
    }
    case DataType.INT32: {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view ? view.getInt32(i * 4, true) : Number(tensor.int32Data?.[i] ?? 0);
      return out;
    }
    case DataType.INT64: {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = view ? Number(view.getBigInt64(i * 8, true)) : toNumber(tensor.int64Data?.[i]);
      return out;
    }
    default:
      throw new Error(`tensor ${tensor.name}: data type ${tensor.dataType} is not readable here`);
  }
}
