import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";

/**
 * Kernels that @tensorflow/tfjs-backend-wasm 4.x lacks but training needs. tfjs has no
 * way to add C++ to the shipped .wasm, so these run in JavaScript directly on the wasm heap
 * (no copies through the engine); they are simple memory-bound loops.
 *
 * - UnsortedSegmentSum: the gradient of Gather, i.e. of every embedding lookup.
 */
export function registerMissingWasmKernels(): void {
  const registered = new Set(tf.getKernelsForBackend("wasm").map((k) => k.kernelName));
  if (!registered.has(tf.UnsortedSegmentSum)) {
    tf.registerKernel({
      kernelName: tf.UnsortedSegmentSum,
      backendName: "wasm",
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
        const { numSegments } = attrs as unknown as { numSegments: number };
        const wasm = backend as BackendWasm;
        const ids = segmentIds.shape.reduce((a, b) => a * b, 1);
        const inner = x.shape.slice(segmentIds.shape.length).reduce((a, b) => a * b, 1);
        const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
        const out = wasm.makeOutput(outShape, x.dtype);
        const xv = wasm.typedArrayFromHeap(x) as Float32Array | Int32Array;
        const sv = wasm.typedArrayFromHeap(segmentIds) as Int32Array;
        const ov = wasm.typedArrayFromHeap(out) as Float32Array | Int32Array;
        ov.fill(0);
        for (let i = 0; i < ids; i++) {
          const s = sv[i];
          if (s < 0 || s >= numSegments) continue;
          const src = i * inner;
          const dst = s * inner;
          for (let j = 0; j < inner; j++) ov[dst + j] += xv[src + j];
        }
        return out;
      },
    });
  }
}
