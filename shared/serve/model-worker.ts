import { parentPort, workerData } from "node:worker_threads";
import { isRecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import { ModelRunner, OUTPUT_NAMES, type ModelOutputs, type OutputName } from "./model-runner.js";
import { openSession, type Device } from "./ort-session.js";
import { RowQueueReader, type RowQueueBuffers } from "./row-queue.js";

/** What a model worker is started with (its workerData). */
export interface ModelWorkerData {
  /** Tells the dist bundle's dispatcher to run this file's worker body. */
  recshipEntry: "model-worker";
  modelPath: string;
  device: Device;
  threads?: number;
  maxlen: number;
  vocabularySize: number;
  /** The bundle.json maxlen came from, named when the model disagrees with it. */
  manifest?: string;
}

/** Main thread → worker. */
export type ToWorker =
  | { type: "run"; id: number; input: BigInt64Array; rows: number; fetch?: OutputName[] }
  /** From now on take rows from the shared queue (one worker only), until its stop flag is set. */
  | { type: "pull"; queue: RowQueueBuffers; maxBatch: number }
  | { type: "release" };

/** Worker → main thread. */
export type FromWorker =
  | { type: "ready"; shape: ModelRunner["shape"]; device: Device }
  | { type: "log"; level: "info" | "warn"; message: string }
  | { type: "done"; id: number; outputs: ModelOutputs }
  /** A run of queue rows [first, first + rows). */
  | { type: "pulled"; first: number; rows: number; outputs: ModelOutputs; seconds: number }
  | { type: "pull-failed"; first: number; rows: number; message: string; stack?: string; recship: boolean }
  /** `recship`: a user's mistake (RecshipError, message complete with where and fix), else a bug. */
  | { type: "failed"; id: number | null; message: string; stack?: string; recship: boolean }
  | { type: "released" };

/**
 * A model worker's body: opens its own onnxruntime session on the model and runs the batches
 * the main thread posts, sending outputs back with their buffers transferred (no copy).
 * onnxruntime-node's session.run computes on the calling thread, so in the main thread every
 * run would stop the server from reading and answering HTTP requests meanwhile.
 */
export async function runModelWorker(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error("runModelWorker() runs inside a worker thread");
  const data = workerData as ModelWorkerData;
  const post = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);
  const log: Logger = {
    info: (message) => post({ type: "log", level: "info", message }),
    warn: (message) => post({ type: "log", level: "warn", message }),
    group: async (_title, fn) => fn(),
  };
  let runner: ModelRunner;
  try {
    const { session, device } = await openSession(data.modelPath, { device: data.device, threads: data.threads, log });
    runner = await ModelRunner.open(session, data.maxlen, data.vocabularySize, data.modelPath, data.manifest);
    post({ type: "ready", shape: runner.shape, device });
  } catch (error) {
    post(failure(null, error));
    port.close();
    return;
  }
  port.on("message", (message: ToWorker) => {
    if (message.type === "pull") {
      void pullLoop(runner, message.queue, message.maxBatch, post);
      return;
    }
    if (message.type === "release") {
      void runner.release().finally(() => {
        post({ type: "released" });
        port.close();
      });
      return;
    }
    const fetch = message.fetch ? new Set(message.fetch) : undefined;
    runner.run(message.input, message.rows, fetch).then(
      (outputs) => {
        post({ type: "done", id: message.id, outputs }, movableBuffers(outputs));
      },
      (error: unknown) => post(failure(message.id, error)),
    );
  });
}

/**
 * Takes the queued rows whenever the model is free and runs them, until the queue's stop flag.
 * Blocks this thread while the queue is empty (Atomics.wait): nothing else runs here meanwhile.
 */
async function pullLoop(runner: ModelRunner, queue: RowQueueBuffers, maxBatch: number, post: (m: FromWorker, t?: ArrayBuffer[]) => void) {
  const reader = new RowQueueReader(queue);
  for (;;) {
    const taken = reader.take(maxBatch);
    if (!taken) return;
    const started = performance.now();
    try {
      const outputs = await runner.run(taken.input, taken.rows, taken.fetch);
      post(
        { type: "pulled", first: taken.first, rows: taken.rows, outputs, seconds: (performance.now() - started) / 1000 },
        movableBuffers(outputs),
      );
    } catch (error) {
      const f = failure(null, error) as Extract<FromWorker, { type: "failed" }>;
      post({ type: "pull-failed", first: taken.first, rows: taken.rows, message: f.message, stack: f.stack, recship: f.recship });
    }
  }
}

/** The outputs' buffers that can move to the main thread instead of being copied. */
function movableBuffers(outputs: ModelOutputs): ArrayBuffer[] {
  return OUTPUT_NAMES.map((name) => outputBuffer(outputs, name)).filter((b): b is ArrayBuffer => b !== undefined);
}

function outputBuffer(outputs: ModelOutputs, name: OutputName): ArrayBuffer | undefined {
  const array = {
    scores: outputs.scores,
    top_items: outputs.topItems,
    top_scores: outputs.topScores,
    user_embedding: outputs.userEmbedding,
  }[name];
  // a typed array that owns its whole buffer can move to the other thread; a view is copied
  return array && array.byteOffset === 0 && array.byteLength === array.buffer.byteLength ? (array.buffer as ArrayBuffer) : undefined;
}

function failure(id: number | null, error: unknown): FromWorker {
  const e = error as Error | undefined;
  return { type: "failed", id, message: e?.message ?? String(error), stack: e?.stack, recship: isRecshipError(error) };
}
