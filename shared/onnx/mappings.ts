import { RecshipError } from "../errors.js";
import type { SasrecConfig } from "../model/config.js";
import { SasrecModel } from "../model/sasrec-model.js";
import type { GraphBuilder } from "./graph-builder.js";
import { SASREC_SIGNATURE_DOC, sasrecGraph } from "./sasrec-graph.js";

/** The in-process (tfjs) model an exported graph must reproduce. */
export interface ReferenceModel {
  /** [batch, n_items], column j = item j+1, for histories as the ONNX input sees them. */
  score(histories: Int32Array[]): Float32Array;
  /** [batch, hidden]. */
  userEmbeddings(histories: Int32Array[]): Float32Array;
  dispose(): void;
}

interface MappingInput {
  config: SasrecConfig;
  numItems: number;
  weights: Map<string, Float32Array>;
  where?: string;
}

/** How one model kind becomes an ONNX graph, and the reference it is checked against. */
export interface ModelMapping {
  kind: string;
  /** Fixed length of the `item_seq` input. */
  sequenceLength(config: SasrecConfig): number;
  hiddenSize(config: SasrecConfig): number;
  /** Model doc_string: the signature in words. */
  docString: string;
  buildGraph(input: MappingInput & { topK: number }): GraphBuilder;
  /** The tfjs model (the tfjs backend must be initialised). */
  reference(input: MappingInput): ReferenceModel;
}

/**
 * SasrecModel scores a batch padded to its longest history. For a non-empty history that
 * padding changes nothing (padded keys are masked), but an empty history attends uniformly
 * over its padding slots, so its result depends on the padding length. The ONNX input is
 * always maxlen long; the reference pads batches holding an empty history to maxlen too
 * (with a full-length filler row it then drops), so both see the same input.
 */
export function sasrecReference(model: SasrecModel): ReferenceModel {
  const maxlen = model.config.maxlen;
  const filler = new Int32Array(maxlen).fill(1);
  const run = (histories: Int32Array[], fn: (h: Int32Array[]) => Float32Array, width: number) => {
    if (!histories.some((h) => h.length === 0)) return fn(histories);
    return fn([...histories, filler]).subarray(0, histories.length * width);
  };
  return {
    score: (h) => run(h, (x) => model.score(x), model.numItems),
    userEmbeddings: (h) => run(h, (x) => model.userEmbeddings(x), model.config.hidden),
    dispose: () => model.dispose(),
  };
}

const sasrecMapping: ModelMapping = {
  kind: "sasrec",
  sequenceLength: (config) => config.maxlen,
  hiddenSize: (config) => config.hidden,
  docString: `SASRec sequential recommender exported by recship. ${SASREC_SIGNATURE_DOC}`,
  buildGraph: ({ config, numItems, weights, topK, where }) => sasrecGraph(config, numItems, weights, { topK, where }),
  reference: ({ config, numItems, weights }) => sasrecReference(new SasrecModel(config, numItems, weights)),
};

const mappings = new Map<string, ModelMapping>([[sasrecMapping.kind, sasrecMapping]]);

export function mappingFor(kind: string, where?: string): ModelMapping {
  const mapping = mappings.get(kind);
  if (!mapping) {
    throw new RecshipError(`model kind "${kind}" has no ONNX export (known: ${[...mappings.keys()].join(", ")})`, {
      where,
      fix: "the bundle was written by a recship with another model kind; convert it with that recship, or re-train with this one",
    });
  }
  return mapping;
}
