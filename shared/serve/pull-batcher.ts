import type { Batcher, BatchSlice } from "./batcher.js";
import type { ModelOutputs, OutputName } from "./model-runner.js";
import type { FromWorker } from "./model-worker.js";
import { createRowQueue, needsMask, RowQueueWriter, seqDiff } from "./row-queue.js";
import type { WorkerRunner } from "./worker-runner.js";

interface Waiting {
  input: BigInt64Array;
  rows: number;
  mask: number;
  resolve(slice: BatchSlice): void;
  reject(error: unknown): void;
}

interface Queued {
  first: number;
  rows: number;
  resolve(slice: BatchSlice): void;
  reject(error: unknown): void;
}

/**
 * Continuous batching through a shared row queue, for a model in one worker thread: each
 * request's rows go into shared memory as they arrive, and the worker takes everything queued
 * (whole requests, up to maxBatch rows) the moment its previous run ends, without waiting for
 * this thread's event loop, which may be busy answering the previous run. At low load a request
 * runs at once (the worker is waiting); under load the batches are what arrived during a run.
 */
export class PullBatcher implements Batcher {
  private readonly writer: RowQueueWriter;
  private readonly queued: Queued[] = [];
  private readonly overflow: Waiting[] = [];
  private idleWaiters: (() => void)[] = [];
  private dead: unknown;
  private readonly capacity: number;

  constructor(
    runner: WorkerRunner,
    maxlen: number,
    private readonly options: {
      maxBatch: number;
      /** Rows the shared queue holds at least (rounded up to a power of two; a request must fit, more wait here). */
      capacity: number;
      onBatch?: (rows: number, requests: number, seconds: number) => void;
    },
  ) {
    const buffers = createRowQueue(options.capacity, maxlen);
    this.capacity = buffers.capacity;
    this.writer = new RowQueueWriter(buffers);
    runner.startPull(
      buffers,
      options.maxBatch,
      (message) => this.onRun(message),
      (error) => this.die(error),
    );
  }

  submit(input: BigInt64Array, rows: number, needs?: readonly OutputName[]): Promise<BatchSlice> {
    return new Promise<BatchSlice>((resolve, reject) => {
      if (this.dead !== undefined) {
        reject(this.dead);
        return;
      }
      if (rows > this.capacity) {
        reject(new Error(`a request of ${rows} rows exceeds the model queue's ${this.capacity}`));
        return;
      }
      const job: Waiting = { input, rows, mask: needsMask(needs), resolve, reject };
      if (this.overflow.length > 0 || this.writer.free < rows) this.overflow.push(job);
      else this.enqueue(job);
    });
  }

  idle(): Promise<void> {
    if (this.queued.length === 0 && this.overflow.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops the worker's pulling (before the runner is released). */
  stop(): void {
    this.writer.stop();
  }

  private enqueue(job: Waiting): void {
    const first = this.writer.append(job.input, job.rows, job.mask);
    this.queued.push({ first, rows: job.rows, resolve: job.resolve, reject: job.reject });
  }

  private onRun(message: Extract<FromWorker, { type: "pulled" | "pull-failed" }>): void {
    // the requests whose rows the run took: those starting before its end (sequence numbers wrap)
    const done: Queued[] = [];
    while (this.queued.length > 0 && seqDiff(this.queued[0].first, message.first) < message.rows) done.push(this.queued.shift()!);
    if (message.type === "pulled") {
      this.options.onBatch?.(message.rows, done.length, message.seconds);
      const outputs: ModelOutputs = message.outputs;
      for (const job of done) job.resolve({ outputs, offset: seqDiff(job.first, message.first), rows: job.rows });
    } else {
      const error = new Error(message.message);
      if (message.stack) error.stack = message.stack;
      for (const job of done) job.reject(error);
    }
    while (this.overflow.length > 0 && this.writer.free >= this.overflow[0].rows) this.enqueue(this.overflow.shift()!);
    if (this.queued.length === 0 && this.overflow.length === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private die(error: unknown): void {
    this.dead = error;
    for (const job of this.queued.splice(0)) job.reject(error);
    for (const job of this.overflow.splice(0)) job.reject(error);
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
