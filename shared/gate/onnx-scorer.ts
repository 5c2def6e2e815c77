import type { InferenceSession, Tensor } from "onnxruntime-node";
import { RecshipError } from "../errors.js";
import { scoreBatchRows, type Scorer } from "../eval/evaluator.js";
import { padHistories, SERVED_OUTPUTS, type GraphOptimization } from "../onnx/ort-recommender.js";
import { createSession, onnxRuntime } from "../onnx/ort-runtime.js";
import { checkSequenceLength, firstRunFailure } from "../onnx/sequence-input.js";

export interface OnnxScorerOptions {
  /** Items the model scores (its vocabulary size): the width of the `scores` output. */
  numItems: number;
  maxlen: number;
  /** onnxruntime intra-op threads (default: onnxruntime's choice, one per core). */
  threads?: number;
  optimization?: GraphOptimization;
  /** Histories per onnxruntime run (default 256). */
  batchSize?: number;
  /** The bundle.json maxlen came from, named when the model disagrees with it. */
  manifest?: string;
}

/** Refuses a model without the recommender's input and scores output, or whose input length is not bundle.json's maxlen. */
function checkSignature(session: InferenceSession, path: string, options: OnnxScorerOptions): void {
  for (const name of ["item_seq"]) {
    if (!session.inputNames.includes(name)) {
      throw new RecshipError(`the model has no "${name}" input (inputs: ${session.inputNames.join(", ")})`, {
        where: path,
        fix: "the gate runs recommenders exported by convert-onnx (item_seq → scores, top_items, top_scores, user_embedding)",
      });
    }
  }
  if (!session.outputNames.includes("scores")) {
    throw new RecshipError(`the model has no "scores" output (outputs: ${session.outputNames.join(", ")})`, {
      where: path,
      fix: "the gate needs every item's score: export with convert-onnx",
    });
  }
  checkSequenceLength(session, options.maxlen, { model: path, manifest: options.manifest });
}

/**
 * A Scorer over an exported recommender (the `item_seq` → `scores`, `top_items`, ...
 * signature) in onnxruntime-node. Evaluation fetches `scores` only, into one output tensor
 * reused from batch to batch: the returned array is valid until the next call. Worker
 * threads do not spin while idle, so a busy runner (or a second process) does not starve them.
 */
export class OnnxScorer implements Scorer {
  private buffer: Float32Array;
  private checked = false;

  private constructor(
    private readonly session: InferenceSession,
    readonly numItems: number,
    readonly maxlen: number,
    readonly batchSize: number,
    readonly path: string,
    private readonly manifest?: string,
  ) {
    this.buffer = new Float32Array(batchSize * numItems);
  }

  static async open(path: string, options: OnnxScorerOptions): Promise<OnnxScorer> {
    let session: InferenceSession;
    try {
      session = await createSession(path, { optimization: options.optimization, threads: options.threads });
    } catch (cause) {
      throw new RecshipError(`onnxruntime cannot load the model: ${(cause as Error).message.split("\n")[0]}`, {
        where: path,
        fix: "check that the file is an ONNX model written by convert-onnx (or a compressed variant of one)",
        cause,
      });
    }
    try {
      checkSignature(session, path, options);
    } catch (error) {
      await session.release();
      throw error;
    }
    return new OnnxScorer(
      session,
      options.numItems,
      options.maxlen,
      scoreBatchRows(options.numItems, options.batchSize),
      path,
      options.manifest,
    );
  }

  private input(histories: Int32Array[]): Tensor {
    return new (onnxRuntime().Tensor)("int64", padHistories(histories, this.maxlen), [histories.length, this.maxlen]);
  }

  async score(histories: Int32Array[]): Promise<Float32Array> {
    if (histories.length > this.batchSize) {
      const out = new Float32Array(histories.length * this.numItems);
      for (let s = 0; s < histories.length; s += this.batchSize)
        out.set(await this.score(histories.slice(s, s + this.batchSize)), s * this.numItems);
      return out;
    }
    const size = histories.length * this.numItems;
    const view = this.buffer.subarray(0, size);
    const output = new (onnxRuntime().Tensor)("float32", view, [histories.length, this.numItems]);
    if (!this.checked) {
      // the first run without a bound output, so a vocabulary mismatch shows as a clear error
      const result = await this.session.run({ item_seq: this.input(histories) }, ["scores"]).catch((error: unknown) => {
        throw firstRunFailure(error, this.maxlen, { model: this.path, manifest: this.manifest });
      });
      const dims = result.scores.dims;
      if (dims.length !== 2 || Number(dims[1]) !== this.numItems) {
        throw new RecshipError(`the model scores ${String(dims[1])} items but its bundle's vocabulary holds ${this.numItems}`, {
          where: this.path,
          fix: "the model file and bundle.json/items.txt come from different bundles; keep them together",
        });
      }
      this.checked = true;
      view.set(result.scores.data as Float32Array);
      return view;
    }
    await this.session.run({ item_seq: this.input(histories) }, { scores: output });
    return view;
  }

  /** One serving call, the outputs serving reads fetched (what latency is measured on). */
  async serve(histories: Int32Array[]): Promise<void> {
    await this.session.run({ item_seq: this.input(histories) }, SERVED_OUTPUTS);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
