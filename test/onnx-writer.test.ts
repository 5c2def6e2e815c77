import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RecshipError } from "../shared/errors.js";
import { attr, GraphBuilder } from "../shared/onnx/graph-builder.js";
import { DataLocation, DataType, decodeModel, encodeModel } from "../shared/onnx/proto.js";
import { float32Bytes, floatTensor, int64Bytes, readFloatTensor } from "../shared/onnx/tensor.js";
import { checkOpset, irVersionFor, makeModel, splitExternalData, writeModel } from "../shared/onnx/writer.js";
import { onnxRuntime } from "../shared/onnx/ort-runtime.js";
import { tempDir } from "./helpers/tmp.js";
import { checkWithOnnx, onnxCheckerUnavailable } from "./helpers/onnx-check.js";

/** y = x·W + b over a [batch, 3] input, W [3, 2]: small enough to compute by hand. */
function tinyGraph(w: Float32Array, b: Float32Array): GraphBuilder {
  const g = new GraphBuilder("tiny");
  const x = g.input("x", "float", ["batch", 3]);
  const W = g.initializer(floatTensor("W", [3, 2], w));
  const B = g.initializer(floatTensor("B", [2], b));
  g.op("Add", [g.op("MatMul", [x, W], { name: "dense/matmul" }), B], { name: "dense/bias", output: "y" });
  g.output("y", "float", ["batch", 2]);
  return g;
}

describe("ONNX tensors", () => {
  it("stores float32 and int64 raw_data little-endian", () => {
    expect(Array.from(float32Bytes(Float32Array.of(1)))).toEqual([0, 0, 0x80, 0x3f]);
    expect(Array.from(int64Bytes([1, -2]))).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    const t = floatTensor("t", [2, 2], Float32Array.of(1.5, -2, 3.25, 0));
    expect(t.dataType).toBe(DataType.FLOAT);
    expect(Array.from(readFloatTensor(t))).toEqual([1.5, -2, 3.25, 0]);
    expect(() => floatTensor("t", [3], Float32Array.of(1, 2))).toThrow(/do not fill shape/);
  });
});

describe("graph builder", () => {
  it("names nodes uniquely and refuses values used before they are defined or defined twice", () => {
    const g = new GraphBuilder("g");
    const x = g.input("x", "float", [2]);
    const a = g.op("Relu", [x], { name: "act" });
    const b = g.op("Relu", [a], { name: "act" });
    expect(a).not.toBe(b);
    expect(() => g.op("Relu", ["nowhere"])).toThrow(/before it is defined/);
    expect(() => g.input("x", "float", [2])).toThrow(/defined twice/);
    g.output("missing", "float", [2]);
    expect(() => g.build()).toThrow(/never produced/);
  });

  it("shares equal small constants and writes typed attributes", () => {
    const g = new GraphBuilder("g");
    const x = g.input("x", "float", [2, 3]);
    expect(g.ints([1, 0], "perm")).toBe(g.ints([1, 0], "perm"));
    expect(g.scalar("float", 2, "two")).not.toBe(g.scalar("int64", 2, "two"));
    g.op("Transpose", [x], { output: "y", attributes: { perm: attr.ints([1, 0]) } });
    g.op("LeakyRelu", [x], { output: "z", attributes: { alpha: attr.float(1) } });
    const graph = g.build();
    expect(graph.node![0].attribute![0]).toMatchObject({ name: "perm", ints: [1, 0] });
    // a float attribute that happens to be a whole number stays a float
    expect(graph.node![1].attribute![0]).toMatchObject({ name: "alpha", f: 1 });
    expect(graph.node![1].attribute![0].i).toBeFalsy();
  });
});

describe("model writer", () => {
  const dir = tempDir("recship-onnx-writer-");

  it("defaults to opset 17 / IR 8, maps later opsets to their IR version and rejects unsupported ones", () => {
    const m = makeModel(tinyGraph(new Float32Array(6), new Float32Array(2)).build(), { producerName: "t", producerVersion: "0" });
    expect(m.irVersion).toBe(8);
    expect(m.opsetImport).toEqual([{ domain: "", version: 17 }]);
    expect(irVersionFor(18)).toBe(8);
    expect(irVersionFor(19)).toBe(9);
    expect(irVersionFor(21)).toBe(10);
    expect(() => checkOpset(16)).toThrow(RecshipError);
    expect(() => checkOpset(16)).toThrow(/LayerNormalization/);
    expect(() => checkOpset(22)).toThrow(/17 to 21/);
  });

  it("round-trips through protobuf encoding with metadata_props", () => {
    const m = makeModel(tinyGraph(Float32Array.of(1, 2, 3, 4, 5, 6), Float32Array.of(0.5, -0.5)).build(), {
      producerName: "recship",
      producerVersion: "9.9.9",
      metadata: { "recship.a": "1", "recship.b": "two" },
    });
    const back = decodeModel(encodeModel(m));
    expect(back.producerName).toBe("recship");
    expect(back.metadataProps.map((p) => [p.key, p.value])).toEqual([
      ["recship.a", "1"],
      ["recship.b", "two"],
    ]);
    expect(Array.from(readFloatTensor(back.graph!.initializer![0]))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("moves initializers at or above the threshold to external data, 4 KiB aligned, with location/offset/length", () => {
    const w = Float32Array.from({ length: 6 }, (_, i) => i + 1);
    const m = makeModel(tinyGraph(w, Float32Array.of(7, 8)).build(), { producerName: "t", producerVersion: "0" });
    const split = splitExternalData(m, 8, "x.data");
    expect(split.tensors).toBe(2);
    const [W, B] = split.model.graph!.initializer!;
    expect(W.dataLocation).toBe(DataLocation.EXTERNAL);
    expect(W.rawData).toBeUndefined();
    expect(W.externalData).toEqual([
      { key: "location", value: "x.data" },
      { key: "offset", value: "0" },
      { key: "length", value: "24" },
    ]);
    expect(B.externalData![1]).toEqual({ key: "offset", value: "4096" });
    expect(split.data.byteLength).toBe(4096 + 8);
    expect(Array.from(readFloatTensor(B, split.data.subarray(4096)))).toEqual([7, 8]);
    // below the threshold stays inline
    expect(splitExternalData(m, 10, "x.data").tensors).toBe(1);
    // the original model is untouched
    expect(m.graph!.initializer![0].rawData!.length).toBe(24);
  });

  it("writes a model onnxruntime runs, inline and with external data, with the same results", async () => {
    const w = Float32Array.of(1, 2, 3, 4, 5, 6);
    const m = makeModel(tinyGraph(w, Float32Array.of(0.5, -0.5)).build(), { producerName: "t", producerVersion: "0" });
    const inline = await writeModel(join(dir, "inline.onnx"), m);
    const external = await writeModel(join(dir, "ext.onnx"), m, { externalDataThresholdBytes: 0 });
    expect(inline.externalData).toBeUndefined();
    expect(external.externalData?.file).toBe("ext.onnx.data");
    expect(existsSync(join(dir, "ext.onnx.data"))).toBe(true);
    expect(external.externalData?.bytes).toBe(4096 + 8); // W at 0, B at the next 4 KiB boundary
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
    const ort = onnxRuntime();
    const x = new ort.Tensor("float32", Float32Array.of(1, 0, -1, 2, 2, 2), [2, 3]);
    const results: number[][] = [];
    for (const path of [inline.path, external.path]) {
      const session = await ort.InferenceSession.create(path);
      results.push(Array.from((await session.run({ x })).y.data as Float32Array));
      await session.release();
    }
    // [1,0,-1]·W = [1-5, 2-6] = [-4, -4]; [2,2,2]·W = [18, 24]; plus bias
    expect(results[0]).toEqual([-3.5, -4.5, 18.5, 23.5]);
    expect(results[1]).toEqual(results[0]);
  });

  it.skipIf(onnxCheckerUnavailable() !== undefined)("passes onnx.checker full_check, inline and external (Python onnx)", async () => {
    const m = makeModel(tinyGraph(new Float32Array(6).fill(0.25), Float32Array.of(1, 2)).build(), {
      producerName: "t",
      producerVersion: "0",
    });
    const a = await writeModel(join(dir, "check-inline.onnx"), m);
    const b = await writeModel(join(dir, "check-ext.onnx"), m, { externalDataThresholdBytes: 16 });
    expect(checkWithOnnx(a.path)).toMatch(/^ok/);
    expect(checkWithOnnx(b.path)).toMatch(/^ok/);
    // the checker does reject a broken model (so the passes above mean something)
    const g = new GraphBuilder("broken");
    g.op("NoSuchOp", [g.input("x", "float", [1])], { output: "y" });
    g.output("y", "float", [1]);
    const broken = await writeModel(join(dir, "broken.onnx"), makeModel(g.build(), { producerName: "t", producerVersion: "0" }));
    expect(() => checkWithOnnx(broken.path)).toThrow(/NoSuchOp/);
  });

  it("records the sha256 of what it wrote", async () => {
    const m = makeModel(tinyGraph(new Float32Array(6), new Float32Array(2)).build(), { producerName: "t", producerVersion: "0" });
    const written = await writeModel(join(dir, "sha.onnx"), m);
    expect(written.sha256).toBe(createHash("sha256").update(readFileSync(written.path)).digest("hex"));
  });
});
