import type { SliceName } from "./rules.js";

/** Per-user slice membership: history length (cold/warm/heavy) and target popularity (head/tail). */
export interface UserSlices {
  /** 0 cold, 1 warm, 2 heavy, per case. */
  length: Uint8Array;
  /** 0 head, 1 tail, per case. */
  target: Uint8Array;
  /** Items in the head (the most popular `headShare` of the catalogue by interactions). */
  headItems: number;
}

export interface SliceOptions {
  /** Cold: at most this many history items. */
  coldMax: number;
  /** Heavy: at least this many history items. */
  heavyMin: number;
  /** Share of the catalogue (most popular first) that is the head. */
  headShare: number;
}

/**
 * Slices users by the length of the history the model sees and by the popularity of their
 * target item (head: the most popular `headShare` of items by interaction count, ties by id).
 */
export function sliceUsers(
  historyLengths: ArrayLike<number>,
  targets: ArrayLike<number>,
  popularity: Float64Array,
  options: SliceOptions,
): UserSlices {
  const numItems = popularity.length - 1;
  const byPopularity = Array.from({ length: numItems }, (_, i) => i + 1).sort((a, b) => popularity[b] - popularity[a] || a - b);
  const headItems = Math.max(1, Math.round(numItems * options.headShare));
  const isHead = new Uint8Array(numItems + 1);
  for (let r = 0; r < headItems && r < byPopularity.length; r++) isHead[byPopularity[r]] = 1;
  const n = historyLengths.length;
  const length = new Uint8Array(n);
  const target = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const h = historyLengths[i];
    length[i] = h <= options.coldMax ? 0 : h >= options.heavyMin ? 2 : 1;
    target[i] = isHead[targets[i]] ? 0 : 1;
  }
  return { length, target, headItems };
}

/** Case indexes that belong to a slice. */
export function sliceMembers(slices: UserSlices, name: SliceName): Int32Array {
  const n = slices.length.length;
  if (name === "all") return Int32Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const keep =
      name === "cold"
        ? slices.length[i] === 0
        : name === "warm"
          ? slices.length[i] === 1
          : name === "heavy"
            ? slices.length[i] === 2
            : name === "head"
              ? slices.target[i] === 0
              : slices.target[i] === 1;
    if (keep) out.push(i);
  }
  return Int32Array.from(out);
}

export function sliceLabel(name: SliceName, options: SliceOptions): string {
  switch (name) {
    case "all":
      return "all users";
    case "cold":
      return `cold users (≤ ${options.coldMax} items)`;
    case "warm":
      return `warm users (${options.coldMax + 1}–${options.heavyMin - 1} items)`;
    case "heavy":
      return `heavy users (≥ ${options.heavyMin} items)`;
    case "head":
      return `head targets (top ${Math.round(options.headShare * 100)}% items)`;
    case "tail":
      return "tail targets";
  }
}
