import { jensenShannonDistance, lInfinityDistance } from "../../stats/divergence.js";
import { hashString } from "../../util/hash64.js";
import type { DataScan } from "./scan.js";

export const PROFILE_FILE = "data-profile.json";
const TOP_ITEMS = 1000;
/** Lower edges of the history-length buckets: [1], [2], ..., [501, 1000], [1001, ∞). */
export const LENGTH_EDGES = [1, 2, 3, 4, 5, 6, 8, 11, 16, 21, 31, 51, 101, 201, 501, 1001];

/**
 * What a model's training data looked like, small enough for the bundle (data-profile.json):
 * the next run's data is compared with it. Items are kept as the top 1000 with counts plus a
 * 32-bit hash of every id (4 bytes an item) to tell new items from known ones.
 */
export interface DataProfile {
  schemaVersion: 1;
  createdAt: string;
  source: { file: string; format: string; sha256: string };
  rows: number;
  users: number;
  items: number;
  /** Rows per event type (empty without an event column). */
  events: Record<string, number>;
  /** The most frequent items, most frequent first: [id, events]. */
  topItems: [string, number][];
  /** Users per history-length bucket (LENGTH_EDGES). */
  lengths: number[];
  /** Sorted 32-bit hashes of every item id, base64 (little-endian Uint32Array). */
  itemHashes: string;
}

function itemHashes(ids: readonly string[]): Uint32Array {
  const hashes = new Uint32Array(ids.length);
  for (let i = 0; i < ids.length; i++) hashes[i] = hashString(ids[i])[0];
  return hashes.sort();
}

function lengthHistogram(userEvents: Int32Array, users: number): number[] {
  const counts = new Array<number>(LENGTH_EDGES.length).fill(0);
  for (let u = 0; u < users; u++) {
    let b = LENGTH_EDGES.length - 1;
    while (b > 0 && userEvents[u] < LENGTH_EDGES[b]) b--;
    counts[b]++;
  }
  return counts;
}

/** Item indexes by event count, most frequent first (ties: first seen first). */
function itemsByPopularity(scan: DataScan): Int32Array {
  const order = Int32Array.from({ length: scan.items }, (_, i) => i);
  return order.sort((a, b) => scan.itemEvents[b] - scan.itemEvents[a] || a - b);
}

export function profileOf(scan: DataScan, source: DataProfile["source"], now = new Date()): DataProfile {
  const top = itemsByPopularity(scan).subarray(0, TOP_ITEMS);
  const hashes = itemHashes(scan.itemIds);
  return {
    schemaVersion: 1,
    createdAt: now.toISOString(),
    source,
    rows: scan.rows,
    users: scan.users,
    items: scan.items,
    events: Object.fromEntries(scan.events),
    topItems: Array.from(top, (i) => [scan.itemIds[i], scan.itemEvents[i]]),
    lengths: lengthHistogram(scan.userEvents, scan.users),
    itemHashes: Buffer.from(hashes.buffer, hashes.byteOffset, hashes.byteLength).toString("base64"),
  };
}

/** Share of the scan's events on items whose id the profile never had (by hash). */
export function newItemShare(scan: DataScan, base: DataProfile): { share: number; first?: { item: string; line: number } } {
  const buffer = Buffer.from(base.itemHashes, "base64");
  const known = new Uint32Array(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength));
  let events = 0;
  let first: { item: string; line: number } | undefined;
  for (let i = 0; i < scan.items; i++) {
    const h = hashString(scan.itemIds[i])[0];
    let lo = 0;
    let hi = known.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (known[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    if (known[lo] === h) continue;
    events += scan.itemEvents[i];
    if (!first || scan.itemFirstLine[i] < first.line) first = { item: scan.itemIds[i], line: scan.itemFirstLine[i] };
  }
  return { share: scan.rows > 0 ? events / scan.rows : 0, first };
}

/** The figures the drift checks bound, baseline profile vs now, and the series the report charts. */
export interface DriftFigures {
  rowChange: number;
  userChange: number;
  itemChange: number;
  popularityJs: number;
  popularityLinf: number;
  /** The item whose share moved most. */
  movedItem: { item: string; before: number; after: number };
  lengthJs: number;
  eventMixLinf: number;
  /** The baseline's top items and their shares, before and now (charts). */
  topShares: { items: string[]; before: number[]; after: number[] };
  lengthShares: { before: number[]; after: number[] };
}

const change = (now: number, before: number) => (before > 0 ? Math.abs(now / before - 1) : now > 0 ? 1 : 0);

/** Popularity over the baseline's top items plus one bin for the rest; L∞ over both profiles' top items. */
function popularityDrift(now: DataProfile, base: DataProfile, nowEvents: (item: string) => number) {
  const nowCount = { get: nowEvents };
  const baseCount = new Map(base.topItems);
  const ids = base.topItems.map(([id]) => id);
  const before = [...ids.map((id) => baseCount.get(id)!), 0];
  const after = [...ids.map((id) => nowCount.get(id) ?? 0), 0];
  before[ids.length] = base.rows - before.reduce((s, c) => s + c, 0);
  after[ids.length] = now.rows - after.reduce((s, c) => s + c, 0);
  const union = [...new Set([...ids, ...now.topItems.map(([id]) => id)])];
  let moved = { item: "", before: 0, after: 0 };
  for (const id of union) {
    const b = (baseCount.get(id) ?? 0) / Math.max(1, base.rows);
    const a = (nowCount.get(id) ?? 0) / Math.max(1, now.rows);
    if (Math.abs(a - b) > Math.abs(moved.after - moved.before)) moved = { item: id, before: b, after: a };
  }
  return { js: jensenShannonDistance(before, after), linf: Math.abs(moved.after - moved.before), moved };
}

function eventMix(now: DataProfile, base: DataProfile): number {
  const names = [...new Set([...Object.keys(now.events), ...Object.keys(base.events)])];
  if (names.length === 0) return 0;
  return lInfinityDistance(
    names.map((n) => base.events[n] ?? 0),
    names.map((n) => now.events[n] ?? 0),
  );
}

/**
 * Drift from the baseline profile. `nowEvents` gives the exact event count of any item now (the
 * validator has them all); from a profile alone, items outside its top 1000 count as 0.
 */
export function driftFigures(now: DataProfile, base: DataProfile, nowEvents?: (item: string) => number): DriftFigures {
  const top1000 = new Map(now.topItems);
  const events = nowEvents ?? ((id: string) => top1000.get(id) ?? 0);
  const popularity = popularityDrift(now, base, events);
  const share = (counts: number[]) => {
    const total = counts.reduce((s, c) => s + c, 0) || 1;
    return counts.map((c) => c / total);
  };
  const top = base.topItems.slice(0, 20);
  return {
    rowChange: change(now.rows, base.rows),
    userChange: change(now.users, base.users),
    itemChange: change(now.items, base.items),
    popularityJs: popularity.js,
    popularityLinf: popularity.linf,
    movedItem: popularity.moved,
    lengthJs: jensenShannonDistance(base.lengths, now.lengths),
    eventMixLinf: eventMix(now, base),
    topShares: {
      items: top.map(([id]) => id),
      before: top.map(([, c]) => c / Math.max(1, base.rows)),
      after: top.map(([id]) => events(id) / Math.max(1, now.rows)),
    },
    lengthShares: { before: share(base.lengths), after: share(now.lengths) },
  };
}
