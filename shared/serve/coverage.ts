/**
 * Distinct items among the first `listLength` items of the last `requests` answers: a ring of
 * those lists and a count per catalogue item, so adding an answer (and forgetting the oldest)
 * costs O(listLength) and memory is bounded by the catalogue and the window, whatever the traffic.
 */
export class CoverageWindow {
  private readonly ring: Int32Array;
  private readonly counts: Uint32Array;
  private next = 0;
  private filled = 0;
  private distinctItems = 0;

  constructor(
    readonly numItems: number,
    readonly requests: number,
    readonly listLength: number,
  ) {
    if (!(Number.isInteger(requests) && requests >= 1)) throw new RangeError(`requests must be a whole number ≥ 1, got ${requests}`);
    this.ring = new Int32Array(requests * listLength);
    this.counts = new Uint32Array(numItems + 1);
  }

  /** Answers in the window (up to `requests`). */
  get size(): number {
    return this.filled;
  }

  /** Distinct items in the window. */
  get distinct(): number {
    return this.distinctItems;
  }

  /** Distinct items as a share of the catalogue, once the window is full (NaN before: a partial window is not comparable). */
  get distinctShare(): number {
    return this.filled < this.requests ? NaN : this.distinctItems / this.numItems;
  }

  /** Adds an answer's dense ids (only the first listLength count), forgetting the oldest answer once full. */
  add(dense: ArrayLike<number>): void {
    const base = this.next * this.listLength;
    for (let j = 0; j < this.listLength; j++) {
      const old = this.ring[base + j];
      if (old > 0 && --this.counts[old] === 0) this.distinctItems--;
      const item = j < dense.length ? dense[j] : 0;
      this.ring[base + j] = item > 0 && item <= this.numItems ? item : 0;
      if (this.ring[base + j] > 0 && this.counts[item]++ === 0) this.distinctItems++;
    }
    this.next = (this.next + 1) % this.requests;
    if (this.filled < this.requests) this.filled++;
  }
}
