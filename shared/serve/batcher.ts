import type { ModelOutputs, OutputName } from "./model-runner.js";

/** A request's rows inside a batch's outputs: rows [offset, offset + rows). */
export interface BatchSlice {
  outputs: ModelOutputs;
  offset: number;
  rows: number;
}

/** What the server needs of a batcher (MicroBatcher: window batching; PullBatcher: the shared queue). */
export interface Batcher {
  submit(input: BigInt64Array, rows: number, needs?: readonly OutputName[]): Promise<BatchSlice>;
  /** Resolves when nothing is queued or running. */
  idle(): Promise<void>;
  /** Shutting down: queued requests go out without waiting for company (where anything waits). */
  flushNow?(): void;
  /** After idle(), before the runner is released: stops whatever pulls work (where anything does). */
  stop?(): void;
}

export interface BatcherOptions {
  /** Most rows in one run (a single request with more rows runs alone). */
  maxBatch: number;
  /** How long the first queued request waits for company while the model is idle. */
  maxDelayMs: number;
  /**
   * How many requests are on their way to submit() (being read or parsed). When it is 0 there
   * is nobody to wait for: an idle model runs the queue at once instead of after maxDelayMs.
   * Without it the batcher always waits the full window.
   */
  othersInFlight?: () => number;
  /** Most runs in flight at once (default 1; one per model worker thread). */
  concurrency?: number;
  /** Called after every run: rows, requests, seconds the run took. */
  onBatch?: (rows: number, requests: number, seconds: number) => void;
}

interface Job {
  input: BigInt64Array;
  rows: number;
  /** The outputs this request reads; undefined = all. */
  needs: readonly OutputName[] | undefined;
  resolve(slice: BatchSlice): void;
  reject(error: unknown): void;
}

/**
 * Dynamic micro-batching: requests arriving together share one model run. While the model is
 * idle, the first request waits at most maxDelayMs for company, less when maxBatch rows are
 * queued or no other request is on its way; while a run is in flight, arrivals queue and go
 * out together as soon as it ends. One run at a time by default (onnxruntime already spreads a
 * run over the cores); `concurrency` runs at once when the model has several worker threads.
 */
export class MicroBatcher implements Batcher {
  private queue: Job[] = [];
  private queuedRows = 0;
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  /** When the first request of the batch being formed began to wait for company. */
  private windowStart: number | undefined;
  private flushing = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    /** Runs the model on [rows, maxlen] histories, fetching `fetch` (undefined = every output). */
    private readonly run: (input: BigInt64Array, rows: number, fetch?: ReadonlySet<OutputName>) => Promise<ModelOutputs>,
    private readonly maxlen: number,
    private readonly options: BatcherOptions,
  ) {}

  /**
   * Queues `rows` histories ([rows, maxlen] int64) and resolves with their slice of a batch's
   * outputs. `needs` names the outputs the caller reads: a batch fetches only the union of its
   * requests' needs (the full score matrix is 48 KB a row for 12k items, and most requests only
   * read the model's top-k).
   */
  submit(input: BigInt64Array, rows: number, needs?: readonly OutputName[]): Promise<BatchSlice> {
    return new Promise<BatchSlice>((resolve, reject) => {
      this.queue.push({ input, rows, needs, resolve, reject });
      this.queuedRows += rows;
      this.schedule();
    });
  }

  /** From now on, queued requests go out without waiting for company (used when shutting down). */
  flushNow(): void {
    this.flushing = true;
    this.schedule();
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.inFlight === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  get pendingRows(): number {
    return this.queuedRows;
  }

  private get saturated(): boolean {
    return this.inFlight >= (this.options.concurrency ?? 1);
  }

  private schedule(): void {
    if (this.saturated || this.queue.length === 0) return;
    if (this.queuedRows >= this.options.maxBatch || this.flushing) {
      this.dispatch();
      return;
    }
    if (this.options.maxDelayMs <= 0 || this.options.othersInFlight?.() === 0) {
      // a macrotask later, so requests read in the same turn of the event loop still join
      this.immediate ??= setImmediate(() => {
        this.immediate = undefined;
        if (this.options.maxDelayMs <= 0 || this.options.othersInFlight?.() === 0) this.dispatch();
        else this.schedule();
      });
      return;
    }
    if (this.options.othersInFlight) {
      this.watchForCompany();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.dispatch();
    }, this.options.maxDelayMs);
  }

  /**
   * The model is idle and other requests are being read: wait for them one turn of the event
   * loop at a time, while the queue keeps growing, and at most maxDelayMs. Under load a loop turn
   * reads every request that has arrived, so the batch goes out as soon as a turn brings nobody,
   * instead of the model idling out the whole window (a slow upload does not hold it up either).
   */
  private watchForCompany(): void {
    if (this.immediate) return;
    this.windowStart ??= performance.now();
    const queued = this.queue.length;
    this.immediate = setImmediate(() => {
      this.immediate = undefined;
      if (this.saturated || this.queue.length === 0) return;
      const waited = performance.now() - this.windowStart!;
      if (this.queue.length === queued || this.options.othersInFlight!() === 0 || waited >= this.options.maxDelayMs) this.dispatch();
      else this.watchForCompany();
    });
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    this.windowStart = undefined;
  }

  private dispatch(): void {
    if (this.saturated || this.queue.length === 0) return;
    this.clearTimer();
    const jobs: Job[] = [];
    let rows = 0;
    while (this.queue.length && (jobs.length === 0 || rows + this.queue[0].rows <= this.options.maxBatch)) {
      const job = this.queue.shift()!;
      jobs.push(job);
      rows += job.rows;
    }
    this.queuedRows -= rows;
    this.inFlight++;
    const input = jobs.length === 1 ? jobs[0].input : new BigInt64Array(rows * this.maxlen);
    if (jobs.length > 1) {
      let at = 0;
      for (const job of jobs) {
        input.set(job.input, at * this.maxlen);
        at += job.rows;
      }
    }
    const fetch = jobs.some((job) => !job.needs) ? undefined : new Set(jobs.flatMap((job) => job.needs!));
    const started = performance.now();
    this.run(input, rows, fetch).then(
      (outputs) => {
        this.options.onBatch?.(rows, jobs.length, (performance.now() - started) / 1000);
        // the model first: what queued during this run goes out before this batch's answers are
        // written, so the model does not sit idle while the event loop sends them
        this.finish();
        let offset = 0;
        for (const job of jobs) {
          job.resolve({ outputs, offset, rows: job.rows });
          offset += job.rows;
        }
      },
      (error: unknown) => {
        for (const job of jobs) job.reject(error);
        this.finish();
      },
    );
  }

  private finish(): void {
    this.inFlight--;
    if (this.queue.length === 0) {
      if (this.inFlight > 0) return;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
      return;
    }
    // whatever queued during the run has waited long enough: go now
    this.dispatch();
  }
}
