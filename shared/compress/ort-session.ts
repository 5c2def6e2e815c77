import type { InferenceSession, Tensor } from "onnxruntime-node";
import { RecshipError } from "../errors.js";
import type { Scorer } from "../eval/evaluator.js";
import { padHistories, SERVED_OUTPUTS, type GraphOptimization } from "../onnx/ort-recommender.js";
import { createSession, onnxRuntime } from "../onnx/ort-runtime.js";

export interface SessionOptions {
  /** Intra-op threads, pinned (inter-op is always 1: the graphs are sequential). */
  threads: number;
  optimization?: GraphOptimization;
}

/** Opens a model (file path or bytes) in onnxruntime-node's CPU provider with pinned threads and no idle spinning. */
export async function openSession(model: string | Uint8Array, options: SessionOptions, where?: string): Promise<InferenceSession> {
  try {
    return await createSession(model, { threads: options.threads, optimization: options.optimization });
  } catch (cause) {
    throw new RecshipError(`onnxruntime cannot load the model: ${(cause as Error).message.split("\n")[0]}`, {
      where: where ?? (typeof model === "string" ? model : undefined),
      fix: "this is a recship bug if the model is a compressed variant recship wrote; please report it with the bundle",
      cause,
    });
  }
}

export function sequenceInput(histories: Int32Array[], maxlen: number): Tensor {
  return new (onnxRuntime().Tensor)("int64", padHistories(histories, maxlen), [histories.length, maxlen]);
}

/**
 * A Scorer over an exported recommender (`item_seq` → `scores`) for the shared evaluator,
 * in batches of `batchSize` histories.
 */
export class SessionScorer implements Scorer {
  constructor(
    private readonly session: InferenceSession,
    readonly numItems: number,
    readonly maxlen: number,
    readonly batchSize = 256,
  ) {}

  async score(histories: Int32Array[]): Promise<Float32Array> {
    const out = new Float32Array(histories.length * this.numItems);
    for (let s = 0; s < histories.length; s += this.batchSize) {
      const part = histories.slice(s, s + this.batchSize);
      const result = await this.session.run({ item_seq: sequenceInput(part, this.maxlen) }, ["scores"]);
      const scores = result.scores.data as Float32Array;
      if (scores.length !== part.length * this.numItems) {
        throw new RecshipError(`the model scores ${scores.length / part.length} items, the bundle's vocabulary holds ${this.numItems}`, {
          fix: "the model and the bundle do not belong together",
        });
      }
      out.set(scores, s * this.numItems);
    }
    return out;
  }

  /** One serving call with the outputs serving reads fetched (what latency is measured on). */
  async serve(histories: Int32Array[]): Promise<void> {
    await this.session.run({ item_seq: sequenceInput(histories, this.maxlen) }, SERVED_OUTPUTS);
  }
}
