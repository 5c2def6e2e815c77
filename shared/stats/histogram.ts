import type { Bucket } from "./types.js";

/** One bucket as a range (lo, hi] holding `count` observations. */
export interface Cell {
  lo: number;
  hi: number;
  count: number;
}

/** Sorted by le, made monotone (sums of increase() may dip a little, as histogram_quantile allows for). */
function normaliseBuckets(buckets: readonly Bucket[]): Bucket[] {
  const sorted = [...buckets].filter((b) => !Number.isNaN(b.le)).sort((a, b) => a.le - b.le);
  let max = 0;
  return sorted.map((b) => {
    max = Math.max(max, Number.isFinite(b.count) ? b.count : 0);
    return { le: b.le, count: max };
  });
}

/** Adds two cumulative histograms bucket by bucket (a bucket missing on one side counts as its next lower bucket there). */
export function addBuckets(a: readonly Bucket[], b: readonly Bucket[]): Bucket[] {
  const na = normaliseBuckets(a);
  const nb = normaliseBuckets(b);
  const les = [...new Set([...na, ...nb].map((x) => x.le))].sort((x, y) => x - y);
  const at = (list: Bucket[], le: number) => {
    let v = 0;
    for (const x of list) if (x.le <= le) v = x.count;
    return v;
  };
  return les.map((le) => ({ le, count: at(na, le) + at(nb, le) }));
}

/** Observations in the histogram (the +Inf bucket, else the largest). */
export function totalCount(buckets: readonly Bucket[]): number {
  const n = normaliseBuckets(buckets);
  return n.length ? n[n.length - 1].count : 0;
}

/**
 * The q-quantile as Prometheus' histogram_quantile computes it: linear interpolation inside
 * the bucket the rank falls in (from 0 for a first bucket with a positive bound); a rank in
 * the +Inf bucket answers the largest finite bound. NaN without observations.
 */
export function bucketQuantile(q: number, buckets: readonly Bucket[]): number {
  const b = normaliseBuckets(buckets);
  if (b.length < 2 || b[b.length - 1].le !== Infinity) return NaN;
  const total = b[b.length - 1].count;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let i = b.findIndex((x) => x.count >= rank);
  if (i < 0) i = b.length - 1;
  if (i === b.length - 1) return b[b.length - 2].le;
  if (i === 0 && b[0].le <= 0) return b[0].le;
  const start = i === 0 ? 0 : b[i - 1].le;
  const below = i === 0 ? 0 : b[i - 1].count;
  const inBucket = b[i].count - below;
  if (!(inBucket > 0)) return b[i].le;
  return start + (b[i].le - start) * ((rank - below) / inBucket);
}

/**
 * The buckets as ranges. The first bucket (−∞ or 0, le₀] is taken as (le₀/2, le₀] for a positive
 * bound, the +Inf bucket as (last, 2·last]: the assumptions every estimate from buckets makes,
 * stated here once.
 */
export function cellsOf(buckets: readonly Bucket[]): Cell[] {
  const b = normaliseBuckets(buckets);
  const cells: Cell[] = [];
  for (let i = 0; i < b.length; i++) {
    const count = b[i].count - (i > 0 ? b[i - 1].count : 0);
    const hi = b[i].le;
    let lo: number;
    if (i > 0) lo = b[i - 1].le;
    else if (hi > 0 && Number.isFinite(hi)) lo = hi / 2;
    else lo = hi - (b.length > 1 && Number.isFinite(b[1].le) ? b[1].le - hi : 1);
    const top = Number.isFinite(hi) ? hi : lo > 0 ? 2 * lo : lo + Math.max(1, Math.abs(lo));
    cells.push({ lo, hi: top, count });
  }
  return cells;
}

/** A point inside (lo, hi] at fraction f: uniform in log space for positive ranges (latency spans decades), else linear. */
function within(cell: Cell, f: number): number {
  if (cell.lo > 0) return cell.lo * Math.pow(cell.hi / cell.lo, f);
  return cell.lo + (cell.hi - cell.lo) * f;
}

/**
 * Stand-in samples for a bucketed distribution: each bucket's (rounded) count spread evenly
 * over its range. Above `cap` samples in all, counts are scaled down (the shape stays;
 * the caller must use the true counts for sample sizes).
 */
export function pseudoSamples(cells: readonly Cell[], cap = 100_000): Float64Array {
  const total = cells.reduce((s, c) => s + Math.max(0, c.count), 0);
  const scale = total > cap ? cap / total : 1;
  const out: number[] = [];
  for (const cell of cells) {
    const n = Math.round(Math.max(0, cell.count) * scale);
    for (let k = 0; k < n; k++) out.push(within(cell, (k + 0.5) / n));
  }
  return Float64Array.from(out);
}

/** A few weighted points per bucket (for pairwise estimates such as Hodges–Lehmann). */
export function weightedPoints(cells: readonly Cell[], perCell = 8): { value: number; weight: number }[] {
  const out: { value: number; weight: number }[] = [];
  for (const cell of cells) {
    if (!(cell.count > 0)) continue;
    for (let k = 0; k < perCell; k++) out.push({ value: within(cell, (k + 0.5) / perCell), weight: cell.count / perCell });
  }
  return out;
}
