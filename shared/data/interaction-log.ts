/**
 * Interactions gathered row by row into growable typed arrays (no raw text kept),
 * then grouped into one time-ordered item sequence per user.
 */
export interface InteractionLog {
  /** userIds[u] is the original id of dense user u. */
  userIds: string[];
  /** itemIds[i] is the original id of dense item i; itemIds[0] is "" (padding). */
  itemIds: string[];
  /** sequences[u] holds dense item ids (1-based) of user u, oldest first. */
  sequences: Int32Array[];
  interactions: number;
}

export class InteractionCollector {
  private readonly userIndex = new Map<string, number>();
  private readonly itemIndex = new Map<string, number>();
  readonly userIds: string[] = [];
  readonly itemIds: string[] = [""];
  private users = new Int32Array(1 << 16);
  private items = new Int32Array(1 << 16);
  private times = new Float64Array(1 << 16);
  private hasTime = false;
  count = 0;

  add(user: string, item: string, time?: number): void {
    if (this.count === this.users.length) this.grow();
    let u = this.userIndex.get(user);
    if (u === undefined) {
      u = this.userIds.length;
      this.userIndex.set(user, u);
      this.userIds.push(user);
    }
    let i = this.itemIndex.get(item);
    if (i === undefined) {
      i = this.itemIds.length;
      this.itemIndex.set(item, i);
      this.itemIds.push(item);
    }
    this.users[this.count] = u;
    this.items[this.count] = i;
    if (time !== undefined) {
      this.hasTime = true;
      this.times[this.count] = time;
    } else {
      this.times[this.count] = this.count;
    }
    this.count++;
  }

  private grow(): void {
    const size = this.users.length * 2;
    const users = new Int32Array(size);
    users.set(this.users);
    const items = new Int32Array(size);
    items.set(this.items);
    const times = new Float64Array(size);
    times.set(this.times);
    this.users = users;
    this.items = items;
    this.times = times;
  }

  /** Groups rows by user (counting sort), ordering each user's rows by time, then by file order. */
  finish(): InteractionLog {
    const nUsers = this.userIds.length;
    const counts = new Int32Array(nUsers + 1);
    for (let r = 0; r < this.count; r++) counts[this.users[r] + 1]++;
    for (let u = 0; u < nUsers; u++) counts[u + 1] += counts[u];
    const order = new Int32Array(this.count);
    const cursor = counts.slice(0, nUsers);
    for (let r = 0; r < this.count; r++) order[cursor[this.users[r]]++] = r;
    const sequences: Int32Array[] = new Array(nUsers);
    for (let u = 0; u < nUsers; u++) {
      const rows = order.subarray(counts[u], counts[u + 1]);
      if (this.hasTime) {
        // rows are already in file order; a stable sort by time keeps ties in file order
        const sorted = Array.from(rows).sort((a, b) => this.times[a] - this.times[b] || a - b);
        sequences[u] = Int32Array.from(sorted, (r) => this.items[r]);
      } else {
        sequences[u] = Int32Array.from(rows, (r) => this.items[r]);
      }
    }
    return { userIds: this.userIds, itemIds: this.itemIds, sequences, interactions: this.count };
  }
}

/**
 * A log's dense item ids mapped into another vocabulary (a bundle's items.txt order): entry i is
 * the other vocabulary's id of the log's item i, 0 for padding and for an item it does not hold.
 */
export function vocabularyMap(logItemIds: readonly string[], vocabulary: readonly string[]): Int32Array {
  const dense = new Map<string, number>();
  vocabulary.forEach((id, i) => {
    if (i > 0) dense.set(id, i);
  });
  return Int32Array.from(logItemIds, (id, i) => (i === 0 ? 0 : (dense.get(id) ?? 0)));
}

/** `sequences` through an id map (vocabularyMap), the items it maps to 0 dropped, and how many were. */
export function mapSequences(sequences: readonly Int32Array[], map: Int32Array): { sequences: Int32Array[]; dropped: number } {
  let dropped = 0;
  const mapped = sequences.map((s) => {
    const out = new Int32Array(s.length);
    let n = 0;
    for (const item of s) {
      const m = map[item];
      if (m > 0) out[n++] = m;
      else dropped++;
    }
    return n === s.length ? out : out.slice(0, n);
  });
  return { sequences: mapped, dropped };
}
