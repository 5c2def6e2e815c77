import { describe, expect, it } from "vitest";
import { kCoreFilter, leaveOneOut, testHistory } from "../shared/data/split.js";
import { epochBatches, historyBatch, lengthBuckets, makeBatch, trainingExamples } from "../shared/model/batches.js";
import type { InteractionLog } from "../shared/data/interaction-log.js";
import { Rng } from "../shared/util/random.js";

const log = (seqs: number[][], items: number): InteractionLog => ({
  userIds: seqs.map((_, i) => `u${i}`),
  itemIds: ["", ...Array.from({ length: items }, (_, i) => `i${i + 1}`)],
  sequences: seqs.map((s) => Int32Array.from(s)),
  interactions: seqs.reduce((a, s) => a + s.length, 0),
});

describe("leave-one-out split", () => {
  it("holds out the last item for test and the second-to-last for validation", () => {
    const s = leaveOneOut(log([[1, 2, 3, 4], [5], [2, 3], [4, 5, 1]], 5));
    expect(Array.from(s.evalUsers)).toEqual([0, 3]);
    expect(Array.from(s.train[0])).toEqual([1, 2]);
    expect(s.validTarget[0]).toBe(3);
    expect(s.testTarget[0]).toBe(4);
    expect(Array.from(testHistory(s, 0))).toEqual([1, 2, 3]);
    expect(s.singleInteractionUsers).toBe(1);
    expect(s.twoInteractionUsers).toBe(1);
    expect(Array.from(s.train[2])).toEqual([2, 3]);
  });

  it("k-core filtering repeats until every user and item has k interactions", () => {
    // item 9 appears once; removing it leaves user 2 with one interaction, which then goes too
    const filtered = kCoreFilter(
      log(
        [
          [1, 2, 3],
          [1, 2, 3],
          [9, 1],
          [3, 2, 1],
        ],
        9,
      ),
      2,
    );
    expect(filtered.userIds).toEqual(["u0", "u1", "u3"]);
    expect(filtered.itemIds).toEqual(["", "i1", "i2", "i3"]);
    expect(filtered.sequences.every((s) => s.length >= 2)).toBe(true);
  });
});

describe("batches", () => {
  it("caps sequences at maxlen keeping the most recent items", () => {
    const [ex] = trainingExamples([Int32Array.from([1, 2, 3, 4, 5, 6])], 3);
    expect(Array.from(ex)).toEqual([3, 4, 5, 6]);
    const h = historyBatch([Int32Array.from([1, 2, 3, 4, 5]), Int32Array.from([7])], 3);
    expect(h.length).toBe(3);
    expect(Array.from(h.items)).toEqual([3, 4, 5, 0, 0, 7]);
  });

  it("left-pads inputs and shifts targets by one", () => {
    const b = makeBatch([Int32Array.from([1, 2, 3]), Int32Array.from([4, 5])]);
    expect(b.length).toBe(2);
    expect(Array.from(b.items)).toEqual([1, 2, 0, 4]);
    expect(Array.from(b.targets)).toEqual([2, 3, 0, 5]);
    expect(b.tokens).toBe(3);
  });

  it("length-bucketed epochs cover every example once and respect the token budget", () => {
    const rng = new Rng(1);
    const examples = Array.from({ length: 500 }, (_, i) => Int32Array.from({ length: 2 + (i % 40) }, (_, j) => 1 + j));
    const batches = epochBatches(examples, 256, rng);
    expect(batches.reduce((a, b) => a + b.batch, 0)).toBe(500);
    expect(batches.reduce((a, b) => a + b.tokens, 0)).toBe(examples.reduce((a, s) => a + s.length - 1, 0));
    for (const b of batches) expect(b.batch * b.length <= 256 || b.batch === 1).toBe(true);
    // same seed, same batches
    const again = epochBatches(examples, 256, new Rng(1));
    expect(again.map((b) => Array.from(b.items).join())).toEqual(batches.map((b) => Array.from(b.items).join()));
  });

  it("groups by length exactly as a stable comparison sort of the shuffled order would (the counting sort keeps every run's batches)", () => {
    const examples = Array.from({ length: 3000 }, (_, i) => new Int32Array(2 + ((i * 7919) % 51)));
    const groups = lengthBuckets(examples, 512, new Rng(5));
    // the reference: the same shuffles, Array.prototype.sort (stable) by length
    const rng = new Rng(5);
    const order = Array.from(examples.keys());
    rng.shuffle(order);
    order.sort((a, b) => examples[a].length - examples[b].length);
    const expected: number[][] = [];
    let start = 0;
    while (start < order.length) {
      let end = start;
      while (end < order.length && (end - start + 1) * (examples[order[end]].length - 1) <= 512) end++;
      expected.push(order.slice(start, Math.max(end, start + 1)));
      start = Math.max(end, start + 1);
    }
    rng.shuffle(expected);
    expect(groups).toEqual(expected);
  });
});
