import * as tf from "@tensorflow/tfjs";
import type { Scorer } from "../eval/evaluator.js";
import type { SasrecConfig } from "./config.js";
import { historyBatch } from "./batches.js";
import { forward, initialValues, isLearned, outputMatrix, paramSpecs, type ParamSpec, type Params } from "./sasrec.js";
import { mm } from "./ops.js";
import { readTensor } from "./backend.js";

let instances = 0;

/**
 * Reads a tensor's values and frees it. (Never return a typed array from tf.tidy: tidy walks
 * the returned value looking for tensors, element by element — seconds for a score matrix.)
 */
function readAndDispose(t: tf.Tensor): Float32Array {
  const values = t.dataSync() as Float32Array;
  t.dispose();
  return values;
}

/** A SASRec model's live parameters plus what it needs to score histories. */
export class SasrecModel implements Scorer {
  readonly specs: ParamSpec[];
  /** Keyed by parameter name; variables are registered as `m<N>/<name>` so models can coexist. */
  readonly params: Params = new Map();

  constructor(
    readonly config: SasrecConfig,
    readonly numItems: number,
    values?: Map<string, Float32Array>,
    seed = 0,
  ) {
    this.specs = paramSpecs(config, numItems);
    const init = values ?? initialValues(this.specs, seed);
    const id = ++instances;
    for (const s of this.specs) {
      const v = init.get(s.name);
      if (!v) throw new Error(`missing value for parameter ${s.name}`);
      this.params.set(s.name, tf.variable(tf.tensor(v, s.shape, "float32"), isLearned(s), `m${id}/${s.name}`));
    }
  }

  /** The learned variables (what an optimizer updates). */
  variables(): tf.Variable[] {
    return [...this.params.values()].filter((v) => v.trainable);
  }

  /** Current parameter values, in spec order. */
  values(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const s of this.specs) out.set(s.name, this.params.get(s.name)!.dataSync() as Float32Array);
    return out;
  }

  assign(values: Map<string, Float32Array>): void {
    this.weightsChanged();
    for (const s of this.specs) {
      const v = values.get(s.name);
      if (!v) throw new Error(`missing value for parameter ${s.name}`);
      tf.tidy(() => this.params.get(s.name)!.assign(tf.tensor(v, s.shape, "float32")));
    }
  }

  /** Final hidden state at the last position of each history (the user embedding), [B, d]. */
  userEmbeddings(histories: Int32Array[]): Float32Array {
    return readAndDispose(tf.tidy(() => this.lastHidden(histories)));
  }

  private lastHidden(histories: Int32Array[]): tf.Tensor2D {
    const { items, batch, length } = historyBatch(histories, this.config.maxlen);
    const hidden = forward(this.params, this.config, items, batch, length, { training: false });
    return tf.reshape(tf.slice(hidden, [0, length - 1, 0], [batch, 1, this.config.hidden]), [batch, this.config.hidden]);
  }

  /**
   * The output layer [d, numItems], kept between scoring calls: building it copies and transposes
   * the whole item table (256 MB at a million items), which per call of 16 histories cost more
   * than the scoring. Whoever changes the variables calls weightsChanged().
   */
  private output: tf.Tensor2D | undefined;

  /** The parameters were set (assign does it itself; training engines after loading new weights). */
  weightsChanged(): void {
    this.output?.dispose();
    this.output = undefined;
  }

  private outputLayer(): tf.Tensor2D {
    this.output ??= tf.tidy(() => outputMatrix(this.params));
    return this.output;
  }

  /** Scores of items 1..numItems for each history, row-major [B, numItems]. */
  score(histories: Int32Array[]): Float32Array {
    const output = this.outputLayer();
    return readAndDispose(tf.tidy(() => mm(this.lastHidden(histories), output)));
  }

  /** The same scores read asynchronously (the WebGPU backend cannot read synchronously in Node). */
  scoreAsync(histories: Int32Array[]): Promise<Float32Array> {
    const output = this.outputLayer();
    return readTensor(tf.tidy(() => mm(this.lastHidden(histories), output)));
  }

  dispose(): void {
    this.weightsChanged();
    for (const v of this.params.values()) v.dispose();
    this.params.clear();
  }
}
