/**
 * 64-bit hashing without an object per key: two independent 32-bit hashes of a string (or of a
 * few numbers) and an open-addressing set of such pairs in one Uint32Array. Used where a log of
 * millions of rows is checked for repeats in one pass (10 M keys: 128 MB at most, collisions
 * about 1 in 10^6 over the whole log).
 */
const hashPair = new Uint32Array(2);

/** Two 32-bit hashes of `text` (FNV-1a and a multiplicative mix with another seed) into hashPair. */
export function hashString(text: string): Uint32Array {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  hashPair[0] = fmix(a);
  hashPair[1] = fmix(b ^ text.length);
  return hashPair;
}

const float = new Float64Array(1);
const floatWords = new Uint32Array(float.buffer);

/** Two 32-bit hashes of two whole numbers and a float (e.g. user, item, time) into hashPair. */
export function hashNumbers(x: number, y: number, z: number): Uint32Array {
  float[0] = z;
  let a = fmix(Math.imul(x ^ 0x9e3779b9, 0x85ebca6b) ^ y);
  a = fmix(a ^ floatWords[0]) ^ floatWords[1];
  let b = fmix(Math.imul(y ^ 0x7f4a7c15, 0xc2b2ae35) ^ x);
  b = fmix(b ^ floatWords[1]) ^ Math.imul(floatWords[0], 0x27d4eb2f);
  hashPair[0] = fmix(a);
  hashPair[1] = fmix(b);
  return hashPair;
}

/** murmur3's finaliser: spreads every input bit over the output. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * 64-bit hashes to dense indexes 0, 1, 2, ... in the order they are first added (open addressing
 * in typed arrays, grown by doubling). Keys are not kept: two keys with the same 64-bit hash
 * are one key (about 1 in 10^7 for 10^6 distinct keys).
 */
export class Hash64Index {
  private slots: Uint32Array;
  private values: Int32Array;
  private mask: number;
  size = 0;
  /** Whether the last `add` added a new key. */
  added = false;

  constructor(capacity = 1 << 12) {
    let n = 16;
    while (n < capacity * 2) n *= 2;
    this.slots = new Uint32Array(n * 2);
    this.values = new Int32Array(n);
    this.mask = n - 1;
  }

  /** The key's index, or -1. */
  indexOf(pair: Uint32Array): number {
    const hi = pair[0];
    const lo = (pair[1] | 1) >>> 0;
    for (let s = (hi ^ Math.imul(lo, 0x9e3779b1)) & this.mask; ; s = (s + 1) & this.mask) {
      const h = this.slots[2 * s];
      const l = this.slots[2 * s + 1];
      if (h === hi && l === lo) return this.values[s];
      if (h === 0 && l === 0) return -1;
    }
  }

  /** The key's index, adding it (as the next index) when it is new. */
  add(pair: Uint32Array): number {
    const hi = pair[0];
    const lo = (pair[1] | 1) >>> 0; // (0, 0) marks an empty slot
    const { slots, mask } = this;
    for (let s = (hi ^ Math.imul(lo, 0x9e3779b1)) & mask; ; s = (s + 1) & mask) {
      const h = slots[2 * s];
      const l = slots[2 * s + 1];
      if (h === hi && l === lo) {
        this.added = false;
        return this.values[s];
      }
      if (h === 0 && l === 0) {
        slots[2 * s] = hi;
        slots[2 * s + 1] = lo;
        this.values[s] = this.size;
        this.added = true;
        if (++this.size * 10 > (mask + 1) * 7) this.grow();
        return this.size - 1;
      }
    }
  }

  private grow(): void {
    const [oldSlots, oldValues] = [this.slots, this.values];
    const n = (this.mask + 1) * 2;
    this.slots = new Uint32Array(n * 2);
    this.values = new Int32Array(n);
    this.mask = n - 1;
    for (let o = 0; o < oldValues.length; o++) {
      const hi = oldSlots[2 * o];
      const lo = oldSlots[2 * o + 1];
      if (hi === 0 && lo === 0) continue;
      let s = (hi ^ Math.imul(lo, 0x9e3779b1)) & this.mask;
      while (this.slots[2 * s] !== 0 || this.slots[2 * s + 1] !== 0) s = (s + 1) & this.mask;
      this.slots[2 * s] = hi;
      this.slots[2 * s + 1] = lo;
      this.values[s] = oldValues[o];
    }
  }
}
