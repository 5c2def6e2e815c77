import type { InferenceSession } from "onnxruntime-node";
import { createSession, onnxRuntime, type GraphOptimization } from "./ort-runtime.js";

export type { GraphOptimization };

/**
 * The outputs a recommendation request reads in serving (`recship serve`'s /v1/recommend when
 * k + the history fit in the top-k): latency is measured fetching these, as served. The score
 * row is computed either way (TopK reads it) but not copied out of onnxruntime.
 */
export const SERVED_OUTPUTS = ["top_items", "top_scores"] as const;

/** The four outputs of an exported recommender, row-major. */
export interface RecommenderOutputs {
  batch: number;
  /** [batch, n_items]; column j = item j+1. */
  scores: Float32Array;
  /** [batch, k]; dense item ids, 1-based. */
  topItems: Int32Array;
  topScores: Float32Array;
  /** [batch, hidden]. */
  userEmbedding: Float32Array;
}

/** Left-pads histories (oldest first) to [batch, maxlen] int64, keeping the last maxlen items. */
export function padHistories(histories: Int32Array[], maxlen: number): BigInt64Array {
  const out = new BigInt64Array(histories.length * maxlen);
  histories.forEach((h, b) => {
    const kept = h.length > maxlen ? h.subarray(h.length - maxlen) : h;
    const offset = b * maxlen + (maxlen - kept.length);
    for (let i = 0; i < kept.length; i++) out[offset + i] = BigInt(kept[i]);
  });
  return out;
}

/** An exported recommender loaded in onnxruntime-node (the `item_seq` → scores/top-k/embedding signature). */
export class OnnxRecommender {
  private constructor(
    private readonly session: InferenceSession,
    readonly maxlen: number,
  ) {}

  static async load(
    path: string,
    maxlen: number,
    options: { optimization?: GraphOptimization; threads?: number } = {},
  ): Promise<OnnxRecommender> {
    const session = await createSession(path, { optimization: options.optimization, threads: options.threads });
    return new OnnxRecommender(session, maxlen);
  }

  async run(histories: Int32Array[]): Promise<RecommenderOutputs> {
    const input = new (onnxRuntime().Tensor)("int64", padHistories(histories, this.maxlen), [histories.length, this.maxlen]);
    const out = await this.session.run({ item_seq: input });
    const topItems = out.top_items.data as BigInt64Array;
    return {
      batch: histories.length,
      scores: out.scores.data as Float32Array,
      topItems: Int32Array.from(topItems, (v) => Number(v)),
      topScores: out.top_scores.data as Float32Array,
      userEmbedding: out.user_embedding.data as Float32Array,
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
