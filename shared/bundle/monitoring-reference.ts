import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Ajv } from "ajv";
import { RecshipError } from "../errors.js";
import { sha256Of } from "./bundle-io.js";
import { verifyNamedFile } from "./bundle-files.js";
import type { BundleManifest } from "./manifest.js";

/**
 * What the model recommended to validation users, for production monitoring: the distribution of
 * the first item's score, of the popularity of the recommended items and the catalogue share
 * they cover, with the same fixed buckets as the server's histograms (a PSI between the two is
 * then a sum over buckets), and each item's training interactions (how the server places a
 * recommended item in the popularity ranking). Recorded in bundle.json as artifacts.monitoring.
 */
export interface MonitoringReference {
  schema: 1;
  /** Validation users it summarises. */
  users: number;
  /** Items of each list it counts: the first LIST_LENGTH of each answer, as the server does. */
  listLength: number;
  /** Share of users whose first recommendation's score fell in each bucket (upper bounds, then +Inf). */
  topScore: { buckets: number[]; shares: number[] };
  /** Share of the recommended items whose popularity (see popularityShares) fell in each bucket. */
  popularity: { buckets: number[]; shares: number[] };
  /** Distinct items among the first `requests` users' lists, as a share of the catalogue. */
  coverage: { requests: number; distinctShare: number };
  /** Training interactions of each item, in items.txt order (dense item i at index i - 1). */
  itemCounts: number[];
}

export const MONITORING_ARTIFACT = "monitoring";
const MONITORING_FILE = "monitoring-reference.json";

/** Items of an answer the popularity and coverage statistics count (answers are k = 10 by default). */
export const LIST_LENGTH = 10;

/** Upper bounds of the score buckets (logits), shared by the server's score histograms and the reference. */
export const SCORE_BUCKETS: readonly number[] = [-10, -5, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 30, 50];

/**
 * Upper bounds of the popularity buckets. An item's popularity is the share of the catalogue
 * that is more popular than it: 0 for the most popular item, near 1 for the least.
 */
export const POPULARITY_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5];

/** Requests the coverage window holds at most (the reference counts as many users when it has them). */
export const COVERAGE_REQUESTS = 1000;

/** Per item (index i = dense item i + 1), the share of the catalogue with strictly more interactions. */
export function popularityShares(counts: ArrayLike<number>): Float32Array {
  const n = counts.length;
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => counts[b] - counts[a]);
  const out = new Float32Array(n);
  let above = 0;
  for (let r = 0; r < n; r++) {
    if (r > 0 && counts[order[r]] !== counts[order[r - 1]]) above = r;
    out[order[r]] = above / n;
  }
  return out;
}

/** The index of the bucket `value` falls in (value ≤ bound, Prometheus's `le`); buckets.length for +Inf. */
export function bucketOf(value: number, buckets: readonly number[]): number {
  let i = 0;
  while (i < buckets.length && value > buckets[i]) i++;
  return i;
}

/** Counts as shares of their total (all zero when there is nothing to share). */
function shares(counts: Float64Array): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  return Array.from(counts, (c) => (total ? Number((c / total).toPrecision(6)) : 0));
}

/**
 * The reference from the model's lists for validation users: `lists` holds `listLength` dense
 * ids per user (0 where a list is shorter), `topScores` each user's first score.
 */
export function buildMonitoringReference(
  lists: Int32Array,
  topScores: Float32Array,
  itemCounts: ArrayLike<number>,
  listLength = LIST_LENGTH,
): MonitoringReference {
  const users = topScores.length;
  const popularity = popularityShares(itemCounts);
  const scoreCounts = new Float64Array(SCORE_BUCKETS.length + 1);
  for (const s of topScores) scoreCounts[bucketOf(s, SCORE_BUCKETS)]++;
  const popularityCounts = new Float64Array(POPULARITY_BUCKETS.length + 1);
  const requests = Math.min(COVERAGE_REQUESTS, users);
  const seen = new Uint8Array(itemCounts.length + 1);
  let distinct = 0;
  for (let u = 0; u < users; u++) {
    for (let j = u * listLength; j < (u + 1) * listLength; j++) {
      const item = lists[j];
      if (item < 1) continue;
      popularityCounts[bucketOf(popularity[item - 1], POPULARITY_BUCKETS)]++;
      if (u < requests && !seen[item]) {
        seen[item] = 1;
        distinct++;
      }
    }
  }
  return {
    schema: 1,
    users,
    listLength,
    topScore: { buckets: [...SCORE_BUCKETS], shares: shares(scoreCounts) },
    popularity: { buckets: [...POPULARITY_BUCKETS], shares: shares(popularityCounts) },
    coverage: { requests, distinctShare: itemCounts.length ? distinct / itemCounts.length : 0 },
    itemCounts: Array.from(itemCounts),
  };
}

const histogram = (bounds: readonly number[]) => ({
  type: "object",
  required: ["buckets", "shares"],
  properties: {
    buckets: { type: "array", items: { type: "number" }, minItems: bounds.length, maxItems: bounds.length },
    shares: {
      type: "array",
      items: { type: "number", minimum: 0, maximum: 1 },
      minItems: bounds.length + 1,
      maxItems: bounds.length + 1,
    },
  },
});

const validate = new Ajv({ strict: false }).compile({
  type: "object",
  required: ["schema", "users", "listLength", "topScore", "popularity", "coverage", "itemCounts"],
  properties: {
    schema: { const: 1 },
    users: { type: "integer", minimum: 1 },
    listLength: { type: "integer", minimum: 1 },
    topScore: histogram(SCORE_BUCKETS),
    popularity: histogram(POPULARITY_BUCKETS),
    coverage: {
      type: "object",
      required: ["requests", "distinctShare"],
      properties: { requests: { type: "integer", minimum: 1 }, distinctShare: { type: "number", minimum: 0, maximum: 1 } },
    },
    itemCounts: { type: "array", items: { type: "number", minimum: 0 } },
  },
});

/** Checks a parsed reference: its shape, buckets equal to this recship's, one count per item. */
function checkMonitoringReference(value: unknown, items: number, where: string): MonitoringReference {
  const fix = "re-create it with train-model (the file is damaged, edited, or from another recship)";
  if (!validate(value)) {
    const e = validate.errors![0];
    throw new RecshipError(`invalid monitoring reference: ${e.instancePath || "(top level)"} ${e.message}`, { where, fix });
  }
  const ref = value as MonitoringReference;
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  if (!same(ref.topScore.buckets, SCORE_BUCKETS) || !same(ref.popularity.buckets, POPULARITY_BUCKETS)) {
    throw new RecshipError("the monitoring reference's buckets differ from the server's histograms", { where, fix });
  }
  if (ref.itemCounts.length !== items) {
    throw new RecshipError(`the monitoring reference counts ${ref.itemCounts.length} items; the vocabulary has ${items}`, { where, fix });
  }
  return ref;
}

/** Writes the reference into a bundle work folder; its artifacts.monitoring entry. */
export async function writeMonitoringReference(dir: string, ref: MonitoringReference): Promise<BundleManifest["artifacts"][string]> {
  const text = `${JSON.stringify(ref)}\n`;
  await writeFile(join(dir, MONITORING_FILE), text);
  return { file: MONITORING_FILE, sha256: sha256Of(text), bytes: Buffer.byteLength(text), createdAt: new Date().toISOString() };
}

/** The bundle's reference, checked (and its checksum, when `verify`), or undefined for a bundle written without one. */
export async function readMonitoringReference(
  dir: string,
  manifest: BundleManifest,
  verify = true,
): Promise<MonitoringReference | undefined> {
  const entry = manifest.artifacts[MONITORING_ARTIFACT];
  if (!entry) return undefined;
  const named = { field: `artifacts.${MONITORING_ARTIFACT}`, file: entry.file, sha256: entry.sha256 };
  if (verify) await verifyNamedFile(dir, named);
  const path = join(dir, entry.file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new RecshipError(`cannot read the monitoring reference: ${(error as Error).message}`, {
      where: path,
      fix: "re-create the bundle with train-model",
    });
  }
  return checkMonitoringReference(parsed, manifest.vocabulary.items, path);
}
