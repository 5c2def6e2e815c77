import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import type { ModelOutputs, ModelShape, OutputName } from "./model-runner.js";
import type { FromWorker, ModelWorkerData, ToWorker } from "./model-worker.js";
import type { Device } from "./ort-session.js";
import { besideModule } from "../util/beside.js";
import type { RowQueueBuffers } from "./row-queue.js";

/** What the server needs of a model runner, in process or in worker threads. */
export interface Runner {
  readonly shape: ModelShape;
  run(input: BigInt64Array, rows: number, fetch?: ReadonlySet<OutputName>): Promise<ModelOutputs>;
  release(): Promise<void>;
}

interface Pending {
  resolve(outputs: ModelOutputs): void;
  reject(error: unknown): void;
  worker: Worker;
}

/** Where a model worker's code is: the dist bundle's dispatcher, or the TypeScript entry under tsx. */
function workerScript(): { script: string; execArgv?: string[] } {
  if (globalThis.RECSHIP_ENTRY !== undefined) {
    // inside dist/recship/: this code sits in a chunk next to the bundle's entry
    return { script: besideModule("./index.js", import.meta.url) };
  }
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  return { script: besideModule("./model-worker-main.ts", import.meta.url), execArgv: ["--import", tsx] };
}

/**
 * Runs the model in worker threads, each with its own onnxruntime session, so that HTTP
 * parsing, JSON and top-k selection on the main thread overlap with inference. `run` hands a
 * batch to an idle worker (the batcher sends at most `workers` at once; more wait here).
 */
export class WorkerRunner implements Runner {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly idle: Worker[];
  private readonly waiting: { resolve(worker: Worker): void; reject(error: unknown): void }[] = [];
  private readonly alive: Set<Worker>;
  private released = false;
  private pullHandler: ((message: Extract<FromWorker, { type: "pulled" | "pull-failed" }>) => void) | undefined;
  private pullDeath: ((error: unknown) => void) | undefined;

  private constructor(
    private readonly workers: Worker[],
    readonly shape: ModelShape,
  ) {
    this.idle = [...workers];
    this.alive = new Set(workers);
    for (const worker of workers) {
      worker.on("message", (message: FromWorker) => this.onMessage(worker, message));
      worker.on("error", (error) => this.failWorker(worker, error));
      worker.on("exit", (code) => {
        if (!this.released) this.failWorker(worker, new Error(`a model worker exited (code ${code})`));
      });
    }
  }

  static async open(options: {
    modelPath: string;
    device: Device;
    threads?: number;
    maxlen: number;
    vocabularySize: number;
    /** The bundle.json maxlen came from. */
    manifest?: string;
    workers: number;
    log: Logger;
  }): Promise<{ runner: WorkerRunner; device: Device }> {
    const { script, execArgv } = workerScript();
    const data: ModelWorkerData = {
      recshipEntry: "model-worker",
      modelPath: options.modelPath,
      device: options.device,
      threads: options.threads,
      maxlen: options.maxlen,
      vocabularySize: options.vocabularySize,
      ...(options.manifest ? { manifest: options.manifest } : {}),
    };
    const workers: Worker[] = [];
    const started = Array.from({ length: options.workers }, (_, i) => {
      const worker = new Worker(script, { workerData: data, ...(execArgv ? { execArgv } : {}) });
      workers.push(worker);
      return new Promise<{ shape: ModelShape; device: Device }>((resolve, reject) => {
        const onMessage = (message: FromWorker) => {
          if (message.type === "log") {
            // every worker says the same: the first one speaks for all
            if (i === 0) options.log[message.level](message.message);
          } else if (message.type === "ready") {
            worker.off("message", onMessage);
            worker.off("exit", onExit);
            resolve({ shape: message.shape, device: message.device });
          } else if (message.type === "failed") {
            reject(rebuildError(message));
          }
        };
        const onExit = (code: number) => reject(new Error(`a model worker exited while loading the model (code ${code})`));
        worker.on("message", onMessage);
        worker.once("error", reject);
        worker.once("exit", onExit);
      });
    });
    try {
      const ready = await Promise.all(started);
      return { runner: new WorkerRunner(workers, ready[0].shape), device: ready[0].device };
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
  }

  async run(input: BigInt64Array, rows: number, fetch?: ReadonlySet<OutputName>): Promise<ModelOutputs> {
    if (this.released) throw new Error("the model runner was released");
    if (this.alive.size === 0) throw new Error("every model worker thread has died (see the errors logged before)");
    const worker = this.idle.pop() ?? (await new Promise<Worker>((resolve, reject) => this.waiting.push({ resolve, reject })));
    const id = this.nextId++;
    const owned = input.byteOffset === 0 && input.byteLength === input.buffer.byteLength;
    const message: ToWorker = { type: "run", id, input, rows, ...(fetch ? { fetch: [...fetch] } : {}) };
    return new Promise<ModelOutputs>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, worker });
      // the batch's input is not read again here: move it instead of copying it
      worker.postMessage(message, owned ? [input.buffer as ArrayBuffer] : []);
    });
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await Promise.all(
      this.workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => void worker.terminate().then(() => resolve()), 5_000);
            worker.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            worker.postMessage({ type: "release" } satisfies ToWorker);
          }),
      ),
    );
  }

  /**
   * Hands the model to a shared row queue: the (single) worker takes rows from it whenever it is
   * free and reports each run to `handler`. `run` is not used afterwards.
   */
  startPull(
    queue: RowQueueBuffers,
    maxBatch: number,
    handler: (message: Extract<FromWorker, { type: "pulled" | "pull-failed" }>) => void,
    onDeath: (error: unknown) => void,
  ): void {
    if (this.workers.length !== 1) throw new Error("a shared row queue serves one model worker");
    this.pullHandler = handler;
    this.pullDeath = onDeath;
    this.workers[0].postMessage({ type: "pull", queue, maxBatch } satisfies ToWorker);
  }

  private onMessage(worker: Worker, message: FromWorker): void {
    if (message.type === "pulled" || message.type === "pull-failed") {
      this.pullHandler?.(message);
      return;
    }
    if (message.type !== "done" && message.type !== "failed") return;
    if (message.id === null) return;
    const job = this.pending.get(message.id);
    if (!job) return;
    this.pending.delete(message.id);
    if (message.type === "done") job.resolve(message.outputs);
    else job.reject(rebuildError(message));
    this.giveBack(worker);
  }

  private giveBack(worker: Worker): void {
    const next = this.waiting.shift();
    if (next) next.resolve(worker);
    else this.idle.push(worker);
  }

  private failWorker(worker: Worker, error: unknown): void {
    this.pullDeath?.(error);
    for (const [id, job] of this.pending) {
      if (job.worker !== worker) continue;
      this.pending.delete(id);
      job.reject(error);
    }
    const at = this.idle.indexOf(worker);
    if (at >= 0) this.idle.splice(at, 1);
    this.alive.delete(worker);
    if (this.alive.size === 0) for (const w of this.waiting.splice(0)) w.reject(error);
  }
}

function rebuildError(message: Extract<FromWorker, { type: "failed" }>): Error {
  if (message.recship) return new RecshipError(message.message);
  const error = new Error(message.message);
  if (message.stack) error.stack = message.stack;
  return error;
}
