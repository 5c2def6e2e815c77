import type { InferenceSession } from "onnxruntime-node";
import { RecshipError } from "../errors.js";
import { onnxRuntime } from "../onnx/ort-runtime.js";
import { checkSequenceLength, firstRunFailure } from "../onnx/sequence-input.js";

export const INPUT_NAME = "item_seq";
export const OUTPUT_NAMES = ["scores", "top_items", "top_scores", "user_embedding"] as const;
export type OutputName = (typeof OUTPUT_NAMES)[number];

/** One ORT run's outputs, row-major, for `rows` histories; an output not fetched is undefined. */
export interface ModelOutputs {
  rows: number;
  /** [rows, numItems]; column j = dense item j+1. */
  scores?: Float32Array;
  /** [rows, topK]; dense item ids. */
  topItems?: BigInt64Array;
  topScores?: Float32Array;
  /** [rows, hidden]. */
  userEmbedding?: Float32Array;
}

/** An output a caller reads; throws (a bug, not a user error) when the batch did not fetch it. */
export function fetched<T>(value: T | undefined, name: OutputName): T {
  if (value === undefined) throw new Error(`the model output ${name} was read but not fetched`);
  return value;
}

export interface ModelShape {
  maxlen: number;
  numItems: number;
  topK: number;
  hidden: number;
}

/** An exported recommender's session: runs [rows, maxlen] int64 histories, checks the signature once. */
export class ModelRunner {
  private constructor(
    private readonly session: InferenceSession,
    readonly shape: ModelShape,
  ) {}

  /**
   * Checks the input/output names and the input's length, then learns numItems, topK and hidden
   * from one run (a model exported with another vocabulary than items.txt is refused here).
   * `manifest` is the bundle.json that gave maxlen, named when the model disagrees with it.
   */
  static async open(
    session: InferenceSession,
    maxlen: number,
    vocabularySize: number,
    where: string,
    manifest?: string,
  ): Promise<ModelRunner> {
    try {
      if (!session.inputNames.includes(INPUT_NAME)) {
        throw new RecshipError(`the model has no "${INPUT_NAME}" input (inputs: ${session.inputNames.join(", ")})`, {
          where,
          fix: "serve a recship ONNX export (run convert on the bundle)",
        });
      }
      const missing = OUTPUT_NAMES.filter((n) => !session.outputNames.includes(n));
      if (missing.length) {
        throw new RecshipError(`the model lacks the output(s) ${missing.join(", ")}`, { where, fix: "serve a recship ONNX export" });
      }
      const origin = { model: where, manifest };
      checkSequenceLength(session, maxlen, origin);
      const probe = new ModelRunner(session, { maxlen, numItems: 0, topK: 0, hidden: 0 });
      const out = await probe.run(new BigInt64Array(maxlen), 1).catch((error: unknown) => {
        throw firstRunFailure(error, maxlen, origin);
      });
      const shape: ModelShape = {
        maxlen,
        numItems: fetched(out.scores, "scores").length,
        topK: fetched(out.topItems, "top_items").length,
        hidden: fetched(out.userEmbedding, "user_embedding").length,
      };
      if (shape.numItems !== vocabularySize) {
        throw new RecshipError(`the model scores ${shape.numItems} items but items.txt lists ${vocabularySize}`, {
          where,
          fix: "serve the model with the bundle it was exported from",
        });
      }
      return new ModelRunner(session, shape);
    } catch (error) {
      // a model refused at load time releases its session here, in the main thread and in a worker alike
      await session.release().catch(() => undefined);
      throw error;
    }
  }

  /** Runs [rows, maxlen] histories; `fetch` limits the outputs copied out of ORT (default: all). */
  async run(input: BigInt64Array, rows: number, fetch?: ReadonlySet<OutputName>): Promise<ModelOutputs> {
    const tensor = new (onnxRuntime().Tensor)("int64", input, [rows, this.shape.maxlen]);
    const names = fetch ? OUTPUT_NAMES.filter((n) => fetch.has(n)) : [...OUTPUT_NAMES];
    const out = await this.session.run({ [INPUT_NAME]: tensor }, names);
    return {
      rows,
      scores: out.scores?.data as Float32Array | undefined,
      topItems: out.top_items?.data as BigInt64Array | undefined,
      topScores: out.top_scores?.data as Float32Array | undefined,
      userEmbedding: out.user_embedding?.data as Float32Array | undefined,
    };
  }

  release(): Promise<void> {
    return this.session.release();
  }
}

/** Left-pads one history (dense ids, oldest first) into `out` at row `row`, keeping the last maxlen items. */
export function writeHistoryRow(out: BigInt64Array, row: number, maxlen: number, history: Int32Array): void {
  const kept = history.length > maxlen ? history.subarray(history.length - maxlen) : history;
  const start = row * maxlen;
  out.fill(0n, start, start + maxlen - kept.length);
  for (let i = 0; i < kept.length; i++) out[start + maxlen - kept.length + i] = BigInt(kept[i]);
}
