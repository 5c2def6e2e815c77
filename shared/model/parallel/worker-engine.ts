import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { RecshipError } from "../../errors.js";
import { besideModule } from "../../util/beside.js";
import { packInto, unpack, type FlatLayout } from "../flat-params.js";
import type { DistillSetup } from "../distill-objective.js";
import { abortBarrier, BARRIER_INTS } from "./barrier.js";
import { sliceStep, stepRows, type StepInput } from "./gradients.js";
import { engineLayout, fixedValues, type EngineOptions, type OptimizerState, type TrainingEngine } from "./engine.js";
import { updatePlan } from "./update-plan.js";
import type { FromTrainWorker, SharedBuffers, ToTrainWorker, TrainWorkerData } from "./protocol.js";

/** Where a training worker's code is: the dist bundle's dispatcher, or the TypeScript entry under tsx. */
function workerScript(): { script: string; execArgv?: string[] } {
  if (globalThis.RECSHIP_ENTRY !== undefined) return { script: besideModule("./index.js", import.meta.url) };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  return { script: besideModule("./train-worker-main.ts", import.meta.url), execArgv: ["--import", tsx] };
}

function workerError(message: Extract<FromTrainWorker, { type: "failed" }>): Error {
  if (message.user) return new RecshipError(message.message);
  const error = new Error(`a training worker failed: ${message.message}`);
  if (message.stack) error.stack = `${error.message}\n(worker) ${message.stack}`;
  return error;
}

/** Rows [start, end) of a `rows`-row batch for worker `k` of `n`: as even as whole rows allow. */
export function rowSplit(rows: number, k: number, n: number): [number, number] {
  return [Math.floor((k * rows) / n), Math.floor(((k + 1) * rows) / n)];
}

/**
 * Data-parallel training over worker threads, each with its own tfjs engine. The weights, Adam's
 * moments and one gradient row per worker live in SharedArrayBuffers: a step sends each worker
 * its rows of the global batch (a few KB), the workers exchange nothing else, and each reads
 * the updated weights straight from shared memory.
 */
export class WorkerEngine implements TrainingEngine {
  readonly layout: FlatLayout;
  readonly numItems: number;
  /** Scoring batches in flight at once during evaluation: one per worker. */
  readonly concurrency: number;
  private readonly weights: Float32Array;
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private readonly fixed: Map<string, Float32Array>;
  private readonly control: Int32Array;
  private steps = 0;
  private learningRate: number;
  private nextId = 1;
  private readonly idle: Worker[];
  private readonly waiting: ((worker: Worker) => void)[] = [];
  private failure: Error | undefined;
  /** Per worker, its requests in the order sent: a worker answers them in that order. */
  private readonly pending = new Map<Worker, ((message: FromTrainWorker) => boolean)[]>();

  private constructor(
    private readonly workersList: Worker[],
    layout: FlatLayout,
    shared: SharedBuffers,
    fixed: Map<string, Float32Array>,
    numItems: number,
    private readonly distill: DistillSetup | undefined,
    learningRate: number,
    private readonly train: EngineOptions["train"],
  ) {
    this.learningRate = learningRate;
    this.layout = layout;
    this.numItems = numItems;
    this.weights = new Float32Array(shared.weights);
    this.m = new Float32Array(shared.m);
    this.v = new Float32Array(shared.v);
    this.fixed = fixed;
    this.control = new Int32Array(shared.control);
    this.idle = [...workersList];
    this.concurrency = workersList.length;
    for (const worker of workersList) {
      this.pending.set(worker, []);
      worker.on("message", (message: FromTrainWorker) => {
        if (message.type === "failed") this.fail(workerError(message));
        else if (message.type !== "log" && this.pending.get(worker)![0]?.(message)) this.pending.get(worker)!.shift();
      });
      worker.on("error", (error) => this.fail(error));
      worker.on("exit", (code) => this.fail(new Error(`a training worker exited (code ${code})`)));
    }
  }

  get workers(): number {
    return this.workersList.length;
  }

  static async open(options: EngineOptions): Promise<WorkerEngine> {
    const layout = engineLayout(options);
    const floats = (n: number) => new SharedArrayBuffer(4 * n);
    const shared: SharedBuffers = {
      weights: floats(layout.total),
      m: floats(layout.total),
      v: floats(layout.total),
      grads: floats(layout.total * options.workers),
      control: new SharedArrayBuffer(4 * BARRIER_INTS),
    };
    packInto(layout, options.values, new Float32Array(shared.weights));
    const fixed = fixedValues(layout, options.values);
    const { script, execArgv } = workerScript();
    const workers = Array.from({ length: options.workers }, (_, index) => {
      const data: TrainWorkerData = {
        recshipEntry: "train-worker",
        index,
        workers: options.workers,
        backend: options.backend,
        model: options.model,
        train: options.train,
        numItems: options.numItems,
        layout,
        adam: options.adam,
        fixed: [...fixed],
        ...(options.distill ? { distill: options.distill } : {}),
        shared,
      };
      return new Worker(script, { workerData: data, ...(execArgv ? { execArgv } : {}) });
    });
    try {
      await Promise.all(
        workers.map(
          (worker, i) =>
            new Promise<void>((resolve, reject) => {
              const onMessage = (message: FromTrainWorker) => {
                if (message.type === "log") {
                  if (i === 0) options.log[message.level](message.message); // every worker says the same
                } else if (message.type === "ready") {
                  worker.off("message", onMessage);
                  worker.off("exit", onExit);
                  resolve();
                } else if (message.type === "failed") reject(workerError(message));
              };
              const onExit = (code: number) => reject(new Error(`a training worker exited while starting (code ${code})`));
              worker.on("message", onMessage);
              worker.once("error", reject);
              worker.once("exit", onExit);
            }),
        ),
      );
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw error;
    }
    return new WorkerEngine(workers, layout, shared, fixed, options.numItems, options.distill, options.adam.learningRate, options.train);
  }

  /**
   * Posts a message to a worker and waits for its answer that `matches`; a worker failure rejects
   * it. Requests queue up at the worker: a step sent before the previous one ends starts the
   * moment it does, without a round trip through this thread.
   */
  private request<M extends FromTrainWorker>(worker: Worker, message: ToTrainWorker, matches: (m: FromTrainWorker) => m is M): Promise<M> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<M>((resolve, reject) => {
      this.rejecters.add(reject);
      this.pending.get(worker)!.push((answer) => {
        if (!matches(answer)) return false;
        this.rejecters.delete(reject);
        resolve(answer);
        return true;
      });
      worker.postMessage(message);
    });
  }

  private readonly rejecters = new Set<(error: Error) => void>();

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    abortBarrier(this.control); // a worker that died without a word must not leave the others waiting

    for (const reject of this.rejecters) reject(error);
    this.rejecters.clear();
  }

  async step(input: StepInput): Promise<number> {
    const t = ++this.steps;
    const n = this.workersList.length;
    const plan = updatePlan(this.train, this.layout, input);
    // an even row split: measured against one weighted by real targets, the workers' waits at
    // the barrier were the same (~3 ms a step, noise from the two cores' shared caches)
    const messages = this.workersList.map((_, k): ToTrainWorker => {
      const [start, end] = rowSplit(stepRows(input), k, n);
      return { type: "step", t, learningRate: this.learningRate, input: sliceStep(input, start, end, this.distill), plan };
    });
    const stepped = (m: FromTrainWorker): m is Extract<FromTrainWorker, { type: "stepped" }> => m.type === "stepped";
    const answers = await Promise.all(this.workersList.map((worker, k) => this.request(worker, messages[k], stepped)));
    return answers.reduce((sum, a) => sum + a.loss, 0);
  }

  /** Scores a batch of histories on an idle worker (the evaluator keeps `concurrency` in flight). */
  async score(histories: Int32Array[]): Promise<Float32Array> {
    if (this.failure) throw this.failure;
    const worker = this.idle.pop() ?? (await new Promise<Worker>((resolve) => this.waiting.push(resolve)));
    try {
      const id = this.nextId++;
      const scored = (m: FromTrainWorker): m is Extract<FromTrainWorker, { type: "scored" }> => m.type === "scored" && m.id === id;
      return (await this.request(worker, { type: "score", id, histories }, scored)).scores;
    } finally {
      const next = this.waiting.shift();
      if (next) next(worker);
      else this.idle.push(worker);
    }
  }

  setLearningRate(learningRate: number): void {
    this.learningRate = learningRate;
  }

  values(): Map<string, Float32Array> {
    const learned = unpack(this.layout, this.weights);
    return new Map([...this.fixed, ...learned]);
  }

  optimizerState(): OptimizerState {
    return { steps: this.steps, m: this.m.slice(), v: this.v.slice() };
  }

  async restore(values: Map<string, Float32Array>, state: OptimizerState): Promise<void> {
    packInto(this.layout, values, this.weights);
    this.m.set(state.m);
    this.v.set(state.v);
    this.steps = state.steps;
    const synced = (m: FromTrainWorker): m is Extract<FromTrainWorker, { type: "synced" }> => m.type === "synced";
    await Promise.all(this.workersList.map((worker) => this.request(worker, { type: "sync" }, synced)));
  }

  async close(): Promise<void> {
    this.failure ??= new Error("the training engine was closed");
    await Promise.all(
      this.workersList.map((w) => {
        w.removeAllListeners("exit");
        return w.terminate();
      }),
    );
  }
}
