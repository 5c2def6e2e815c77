import { describe, expect, it } from "vitest";
import { createRowQueue, RowQueueReader, RowQueueWriter, seqDiff, TAKEN, WRITTEN } from "../shared/serve/row-queue.js";

const MAXLEN = 3;
const rowsOf = (...values: number[][]) => BigInt64Array.from(values.flat().map(BigInt));

describe("the shared row queue", () => {
  it("hands whole requests over in order across the int32 wrap of its counters", () => {
    const buffers = createRowQueue(5, MAXLEN);
    expect(buffers.capacity).toBe(8); // a power of two
    const control = new Int32Array(buffers.control);
    control[WRITTEN] = control[TAKEN] = 2 ** 31 - 3; // three rows before the wrap
    const writer = new RowQueueWriter(buffers);
    const reader = new RowQueueReader(buffers);
    const a = writer.append(rowsOf([1, 1, 1], [2, 2, 2]), 2, 0b0011);
    const b = writer.append(rowsOf([3, 3, 3], [4, 4, 4], [5, 5, 5]), 3, 0b0100);
    expect(writer.free).toBe(3);
    expect(seqDiff(b, a)).toBe(2);
    // at most 4 rows a run: the 3-row request does not fit after the 2-row one
    const first = reader.take(4)!;
    expect(first.first).toBe(a);
    expect(first.rows).toBe(2);
    expect([...first.input]).toEqual([1n, 1n, 1n, 2n, 2n, 2n]);
    expect([...first.fetch].sort()).toEqual(["scores", "top_items"]);
    const second = reader.take(4)!;
    expect(second.first).toBe(b);
    expect(seqDiff(second.first, first.first)).toBe(2);
    expect(second.rows).toBe(3);
    expect([...second.input]).toEqual([3n, 3n, 3n, 4n, 4n, 4n, 5n, 5n, 5n]);
    expect(control[WRITTEN]).toBeLessThan(0); // the counters did wrap
    expect(writer.free).toBe(8);
    // and the ring keeps going past the wrap
    const c = writer.append(rowsOf([6, 6, 6]), 1, 0b0001);
    const third = reader.take(4)!;
    expect(third.first).toBe(c);
    expect([...third.input]).toEqual([6n, 6n, 6n]);
    writer.stop();
    expect(reader.take(4)).toBeUndefined();
  });
});
