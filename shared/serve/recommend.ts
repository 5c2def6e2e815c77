import { asObject, describe, quoteList } from "./body.js";
import type { BatchSlice } from "./batcher.js";
import { badRequest } from "./http-error.js";
import { SERVED_OUTPUTS } from "../onnx/ort-recommender.js";
import { fetched, type OutputName } from "./model-runner.js";
import { topK } from "../eval/topk.js";

export interface RecommendRequest {
  /** The shop's item ids, oldest first. */
  items: string[];
  k: number;
  excludeSeen: boolean;
  /** `"explain": true`: the history items behind each recommendation, at most `limit` each (see explain.ts). */
  explain?: { limit: number };
}

const DEFAULT_K = 10;
const FIELDS = ["items", "k", "exclude_seen", "explain", "explain_limit"];
/** History items listed per recommended item by default, and at most. */
export const DEFAULT_EXPLAIN_LIMIT = 3;
export const MAX_EXPLAIN_LIMIT = 20;

/** `{"items": [...], "k": 10, "exclude_seen": true}`; 400s name the bad field. */
export function parseRecommend(body: unknown, limits: { maxK: number; maxItems: number }): RecommendRequest {
  const o = asObject(body);
  const unknown = Object.keys(o).filter((key) => !FIELDS.includes(key));
  if (unknown.length) throw badRequest(`unknown field(s) ${quoteList(unknown)}; accepted: ${FIELDS.join(", ")}`);
  if (!Array.isArray(o.items)) throw badRequest(`"items" must be an array of item ids (oldest first), got ${describe(o.items)}`);
  if (o.items.length > limits.maxItems) throw badRequest(`"items" holds ${o.items.length} ids; at most ${limits.maxItems} are accepted`);
  const items = o.items.map((id, i) => {
    if (typeof id === "string" && id.length > 0 && id.length <= 1000) return id;
    if (typeof id === "number" && Number.isSafeInteger(id)) return String(id);
    throw badRequest(`"items[${i}]" must be an item id (a non-empty string or a whole number), got ${describe(id)}`);
  });
  const k = o.k ?? DEFAULT_K;
  if (typeof k !== "number" || !Number.isInteger(k) || k < 1 || k > limits.maxK) {
    throw badRequest(`"k" must be a whole number from 1 to ${limits.maxK}, got ${describe(k)}`);
  }
  const excludeSeen = o.exclude_seen ?? true;
  if (typeof excludeSeen !== "boolean") throw badRequest(`"exclude_seen" must be true or false, got ${describe(excludeSeen)}`);
  const explain = parseExplain(o.explain, o.explain_limit);
  return { items, k, excludeSeen, ...(explain ? { explain } : {}) };
}

/** `"explain": true` with an optional `"explain_limit"` (1 to MAX_EXPLAIN_LIMIT); the limit alone is refused. */
function parseExplain(explain: unknown, limit: unknown): { limit: number } | undefined {
  if (explain !== undefined && typeof explain !== "boolean") throw badRequest(`"explain" must be true or false, got ${describe(explain)}`);
  if (limit === undefined) return explain ? { limit: DEFAULT_EXPLAIN_LIMIT } : undefined;
  if (!explain) throw badRequest(`"explain_limit" is only read with "explain": true`);
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_EXPLAIN_LIMIT) {
    throw badRequest(`"explain_limit" must be a whole number from 1 to ${MAX_EXPLAIN_LIMIT}, got ${describe(limit)}`);
  }
  return { limit };
}

export interface Recommendations {
  /** Dense ids, best first. */
  dense: Int32Array;
  scores: Float32Array;
  /** Whether the full score row was needed (k beyond the model's top-k output, or too many seen items in it). */
  fromScores: boolean;
}

/**
 * The outputs a recommendation reads: the model's top-k when it is sure to hold k items after
 * dropping the padding item and the seen ones, else the full score row too.
 */
export function recommendNeeds(topK: number, k: number, seenCount: number): OutputName[] {
  return k + seenCount + 1 <= topK ? [...SERVED_OUTPUTS] : [...SERVED_OUTPUTS, "scores"];
}

/**
 * The k best items for one row of a batch: from the model's top-k output when it holds k
 * items after dropping seen ones, else a partial selection over the full score row.
 */
export function selectRecommendations(
  slice: BatchSlice,
  shape: { numItems: number; topK: number },
  k: number,
  seen: ReadonlySet<number> | undefined,
): Recommendations {
  const row = slice.offset;
  const { topItems, topScores } = slice.outputs;
  if (k <= shape.topK && topItems && topScores) {
    const dense = new Int32Array(k);
    const values = new Float32Array(k);
    let n = 0;
    for (let i = row * shape.topK; i < (row + 1) * shape.topK && n < k; i++) {
      const item = Number(topItems[i]);
      if (item < 1 || seen?.has(item)) continue;
      dense[n] = item;
      values[n++] = topScores[i];
    }
    if (n === k) return { dense, scores: values, fromScores: false };
  }
  const exclude = seen && seen.size ? new Set(Array.from(seen, (d) => d - 1)) : undefined;
  const best = topK(fetched(slice.outputs.scores, "scores"), row * shape.numItems, shape.numItems, k, exclude);
  return { dense: best.columns.map((c) => c + 1), scores: best.scores, fromScores: true };
}
