import type { Scorer } from "./evaluator.js";

/** Scores every item by how often it appears in the training sequences, the same for every user. */
export class PopularityScorer implements Scorer {
  private readonly counts: Float32Array;

  constructor(
    train: Iterable<Int32Array>,
    readonly numItems: number,
  ) {
    this.counts = new Float32Array(numItems);
    for (const s of train) for (const item of s) this.counts[item - 1]++;
  }

  score(histories: Int32Array[]): Float32Array {
    const out = new Float32Array(histories.length * this.numItems);
    for (let b = 0; b < histories.length; b++) out.set(this.counts, b * this.numItems);
    return out;
  }
}
