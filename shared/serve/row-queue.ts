import { OUTPUT_NAMES, type OutputName } from "./model-runner.js";

/**
 * A queue of history rows in shared memory between the server's main thread (the producer) and
 * one model worker thread (the consumer), so that the model takes the next rows the moment a run
 * ends instead of waiting for the main thread's event loop to send them.
 *
 * Layout: `control` [written, taken, stop], `rows` [capacity, maxlen] int64 ring, `needs` a bit
 * per output per row, `jobRows` the row count of the request that starts at a row (0 for its
 * other rows): a run never splits a request. `written` and `taken` count rows as int32 and wrap
 * around after 2³¹ (days at 10k requests/s): every comparison is a wrapped difference
 * (`seqDiff`), and the capacity is a power of two so that `seq & (capacity − 1)` stays the slot
 * across the wrap.
 */
export interface RowQueueBuffers {
  control: SharedArrayBuffer;
  rows: SharedArrayBuffer;
  needs: SharedArrayBuffer;
  jobRows: SharedArrayBuffer;
  /** A power of two. */
  capacity: number;
  maxlen: number;
}

export const WRITTEN = 0;
export const TAKEN = 1;
const STOP = 2;

/** a − b for int32 sequence numbers that may have wrapped around. */
export const seqDiff = (a: number, b: number): number => (a - b) | 0;

/** A queue of at least `minCapacity` rows (rounded up to a power of two). */
export function createRowQueue(minCapacity: number, maxlen: number): RowQueueBuffers {
  const capacity = 2 ** Math.ceil(Math.log2(Math.max(1, minCapacity)));
  return {
    control: new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT),
    rows: new SharedArrayBuffer(capacity * maxlen * BigInt64Array.BYTES_PER_ELEMENT),
    needs: new SharedArrayBuffer(capacity),
    jobRows: new SharedArrayBuffer(capacity * Int32Array.BYTES_PER_ELEMENT),
    capacity,
    maxlen,
  };
}

export function needsMask(needs: readonly OutputName[] | undefined): number {
  if (!needs) return (1 << OUTPUT_NAMES.length) - 1;
  let mask = 0;
  for (const n of needs) mask |= 1 << OUTPUT_NAMES.indexOf(n);
  return mask;
}

function maskOutputs(mask: number): Set<OutputName> {
  return new Set(OUTPUT_NAMES.filter((_, i) => mask & (1 << i)));
}

/** One end of a queue: typed views of its shared buffers. */
abstract class QueueEnd {
  protected readonly control: Int32Array;
  protected readonly rows: BigInt64Array;
  protected readonly needs: Uint8Array;
  protected readonly jobRows: Int32Array;

  constructor(readonly buffers: RowQueueBuffers) {
    this.control = new Int32Array(buffers.control);
    this.rows = new BigInt64Array(buffers.rows);
    this.needs = new Uint8Array(buffers.needs);
    this.jobRows = new Int32Array(buffers.jobRows);
  }

  protected slot(seq: number): number {
    return seq & (this.buffers.capacity - 1);
  }
}

/** The producer side (main thread). */
export class RowQueueWriter extends QueueEnd {
  /** Free rows: capacity minus rows written and not yet taken. */
  get free(): number {
    return this.buffers.capacity - seqDiff(Atomics.load(this.control, WRITTEN), Atomics.load(this.control, TAKEN));
  }

  /** Appends a request's rows ([rows, maxlen]); the caller checked `free`. Returns its first row's sequence number. */
  append(input: BigInt64Array, rows: number, mask: number): number {
    const { maxlen } = this.buffers;
    const first = Atomics.load(this.control, WRITTEN);
    for (let r = 0; r < rows; r++) {
      const slot = this.slot(first + r);
      this.rows.set(input.subarray(r * maxlen, (r + 1) * maxlen), slot * maxlen);
      this.needs[slot] = mask;
      this.jobRows[slot] = r === 0 ? rows : 0;
    }
    Atomics.store(this.control, WRITTEN, (first + rows) | 0);
    Atomics.notify(this.control, WRITTEN);
    return first;
  }

  stop(): void {
    Atomics.store(this.control, STOP, 1);
    Atomics.notify(this.control, WRITTEN);
  }
}

/** What the consumer took for one run. */
export interface TakenRows {
  first: number;
  rows: number;
  input: BigInt64Array;
  fetch: Set<OutputName>;
}

/** The consumer side (the model worker). */
export class RowQueueReader extends QueueEnd {
  /**
   * Blocks until rows are queued (or stop), then takes whole requests up to maxBatch rows (one
   * bigger request alone). Undefined when stopped.
   */
  take(maxBatch: number): TakenRows | undefined {
    const { maxlen } = this.buffers;
    for (;;) {
      if (Atomics.load(this.control, STOP)) return undefined;
      const written = Atomics.load(this.control, WRITTEN);
      const taken = Atomics.load(this.control, TAKEN);
      const available = seqDiff(written, taken);
      if (available === 0) {
        Atomics.wait(this.control, WRITTEN, written);
        continue;
      }
      let rows = 0;
      while (rows < available) {
        const size = this.jobRows[this.slot(taken + rows)];
        if (rows > 0 && rows + size > maxBatch) break;
        rows += size;
      }
      const input = new BigInt64Array(rows * maxlen);
      let mask = 0;
      for (let r = 0; r < rows; r++) {
        const slot = this.slot(taken + r);
        input.set(this.rows.subarray(slot * maxlen, (slot + 1) * maxlen), r * maxlen);
        mask |= this.needs[slot];
      }
      Atomics.store(this.control, TAKEN, (taken + rows) | 0);
      return { first: taken, rows, input, fetch: maskOutputs(mask) };
    }
  }
}
