import { Ajv } from "ajv";
import { readYamlDocument } from "../util/yaml-document.js";
import { RecshipError } from "../errors.js";
import type { FrequencyFilterConfig } from "./frequency-filter.js";
import { NEGATIVE_SAMPLERS, type NegativeSampler } from "./negatives.js";

export const LOSSES = ["ce", "sampled-ce", "bce"] as const;
export type Loss = (typeof LOSSES)[number];

/** The SASRec architecture (what the weights mean; stored in the bundle). */
export interface SasrecConfig {
  kind: "sasrec";
  hidden: number;
  blocks: number;
  heads: number;
  maxlen: number;
  ffnDim: number;
  dropout: number;
  norm: "pre" | "post";
  activation: "relu" | "gelu";
  layerNormEpsilon: number;
  /**
   * Product-quantized item table (absent: one dense [items + 1, hidden] table). Each item's row
   * is `subspaces` slices of hidden / subspaces values, each slice one of `centroids` learned
   * codewords of its subspace (the item's codes are fixed). Distilled students use it: most of a
   * recommender's parameters are item rows, and the codewords start from k-means on the teacher's.
   */
  itemTable?: QuantizedItemTable;
  /**
   * A causal BSARec-style frequency filter beside self-attention in every block (absent: plain
   * SASRec): shared/model/frequency-filter.ts.
   */
  frequencyFilter?: FrequencyFilterConfig;
}

export interface QuantizedItemTable {
  kind: "pq";
  subspaces: number;
  centroids: number;
}

type SelectBy = "full" | "masked";
const OPTIMIZERS = ["adam", "lazy-adam"] as const;
type Optimizer = (typeof OPTIMIZERS)[number];

/** How the model is trained (stored in the bundle for lineage). */
export interface TrainConfig {
  loss: Loss;
  /** Shared negatives per batch for sampled-ce (uniform and popularity draws; in-batch uses the batch's targets). */
  negatives: number;
  /** Where sampled-ce's negatives come from (absent: uniform): shared/model/negatives.ts. */
  negativeSampler?: NegativeSampler;
  /** Subtract log(K·q) from each sampled negative's logit (absent: false). */
  logQ?: boolean;
  learningRate: number;
  /** Decoupled weight decay (AdamW): every value the step updates shrinks by lr·weightDecay (absent: 0, plain Adam). */
  weightDecay?: number;
  /**
   * adam (absent): every value each step. lazy-adam: the item table's rows a step reads and the
   * rest of the model (TensorFlow Addons' LazyAdam): a step's cost and memory traffic no longer
   * grow with the catalogue. Needs a sampled loss (ce's gradient reaches every row).
   */
  optimizer?: Optimizer;
  /** Padded tokens per batch (sequences are length-bucketed, so batches hold up to this many positions). */
  batchTokens: number;
  epochs: number;
  /** Early stopping: epochs without a better validation NDCG@10. */
  patience: number;
  /**
   * Learning-rate schedule (absent: constant): "plateau" multiplies the rate by lrDecay after
   * every lrPatience epochs without a better validation score; "cosine" anneals it epoch by epoch
   * to near 0 at lrEpochs (Loshchilov & Hutter's SGDR without restarts), for a fixed epoch budget.
   */
  lrSchedule?: "constant" | "plateau" | "cosine";
  lrDecay?: number;
  lrPatience?: number;
  /** The cosine schedule's length in epochs (absent: epochs); later epochs keep its last rate. */
  lrEpochs?: number;
  /**
   * Which validation NDCG@10 picks the best epoch and stops early: all items ranked ("full"),
   * or the user's history masked ("masked", the protocol of published results and of a server
   * answering with exclude_seen; the default, by measurement: README "Model selection"). Absent
   * in bundles written before it existed: those were selected by "full".
   */
  selectBy?: SelectBy;
  /** Validation users scored each epoch (0 = all). */
  validationUsers: number;
  seed: number;
}

export interface RecshipConfig {
  model: SasrecConfig;
  train: TrainConfig;
}

export const DEFAULT_CONFIG: RecshipConfig = {
  model: {
    kind: "sasrec",
    hidden: 64,
    blocks: 2,
    heads: 1,
    maxlen: 50,
    ffnDim: 64,
    dropout: 0.5,
    norm: "pre",
    activation: "gelu",
    layerNormEpsilon: 1e-6,
    // measured on Beauty and Video Games: README "Model quality"
    frequencyFilter: { cutoff: 5, alpha: 0.7 },
  },
  train: {
    loss: "ce",
    negatives: 1024,
    learningRate: 0.003,
    batchTokens: 1024,
    epochs: 200,
    patience: 10,
    // measured on Beauty (masked test NDCG@10 0.0594 vs 0.0576 constant; README "Model quality")
    lrSchedule: "plateau",
    lrDecay: 0.5,
    lrPatience: 3,
    // measured on Beauty (the same epoch either way) and Video Games (masked test NDCG@10 0.0566 vs
    // 0.0510, all-items 0.0418 vs 0.0413: the all-items curve plateaus early and stops training first)
    selectBy: "masked",
    validationUsers: 0,
    seed: 42,
  },
};

const positiveInt = { type: "integer", minimum: 1 } as const;
/** The model config's fields and their ranges: a config file is checked against them, and so is bundle.json `model.config`. */
export const MODEL_CONFIG_PROPERTIES = {
  kind: { const: "sasrec" },
  hidden: positiveInt,
  blocks: positiveInt,
  heads: positiveInt,
  maxlen: { type: "integer", minimum: 2, maximum: 4096 },
  ffnDim: positiveInt,
  dropout: { type: "number", minimum: 0, maximum: 0.95 },
  norm: { enum: ["pre", "post"] },
  activation: { enum: ["relu", "gelu"] },
  layerNormEpsilon: { type: "number", exclusiveMinimum: 0 },
  frequencyFilter: {
    // null turns the default filter off (plain SASRec)
    type: ["object", "null"],
    additionalProperties: false,
    required: ["cutoff", "alpha"],
    properties: { cutoff: positiveInt, alpha: { type: "number", minimum: 0, maximum: 1 } },
  },
} as const;
/** The training config's fields (also bundle.json `training.config`). */
export const TRAIN_CONFIG_PROPERTIES = {
  loss: { enum: [...LOSSES] },
  negatives: positiveInt,
  negativeSampler: { enum: [...NEGATIVE_SAMPLERS] },
  logQ: { type: "boolean" },
  learningRate: { type: "number", exclusiveMinimum: 0, maximum: 1 },
  weightDecay: { type: "number", minimum: 0, maximum: 10 },
  optimizer: { enum: [...OPTIMIZERS] },
  batchTokens: { type: "integer", minimum: 16 },
  epochs: positiveInt,
  patience: positiveInt,
  lrSchedule: { enum: ["constant", "plateau", "cosine"] },
  lrDecay: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 },
  lrPatience: positiveInt,
  lrEpochs: positiveInt,
  selectBy: { enum: ["full", "masked"] },
  validationUsers: { type: "integer", minimum: 0 },
  seed: { type: "integer" },
} as const;
const configSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    model: { type: "object", additionalProperties: false, properties: MODEL_CONFIG_PROPERTIES },
    train: { type: "object", additionalProperties: false, properties: TRAIN_CONFIG_PROPERTIES },
  },
} as const;

const ajv = new Ajv({ allErrors: true });
const validateConfig = ajv.compile(configSchema);

const CONFIG_FIX = "see the config reference in README.md (section model config)";

export type ConfigOverrides = { model?: Partial<SasrecConfig>; train?: Partial<TrainConfig> };

/**
 * Reads a config given inline (YAML/JSON text) or as a path to a YAML/JSON file and merges
 * it over the defaults. Unknown keys and bad values are errors that name the key.
 */
export function loadConfig(source: string | undefined, overrides: ConfigOverrides = {}): RecshipConfig {
  let raw: unknown = {};
  let where = "config";
  if (source && source.trim() !== "") {
    ({ raw, where } = readYamlDocument(source, {
      noun: "config",
      verb: "is",
      fileNoun: "config file",
      inlineWhere: "inline config",
      notMapping: {
        message: "the config must be a mapping with `model:` and/or `train:` sections",
        fix: "for example:\nmodel:\n  hidden: 64\ntrain:\n  epochs: 50",
      },
      fix: CONFIG_FIX,
      validate: validateConfig,
    }));
  }
  const given = raw as ConfigOverrides;
  const config: RecshipConfig = {
    model: { ...DEFAULT_CONFIG.model, ...given.model, ...overrides.model },
    train: { ...DEFAULT_CONFIG.train, ...given.train, ...overrides.train },
  };
  if ((config.model.frequencyFilter as FrequencyFilterConfig | null) === null) delete config.model.frequencyFilter;
  if (config.model.hidden % config.model.heads !== 0) {
    throw new RecshipError(
      `invalid config: model.hidden (${config.model.hidden}) must be divisible by model.heads (${config.model.heads})`,
      {
        where,
      },
    );
  }
  if (given.model?.ffnDim === undefined && overrides.model?.ffnDim === undefined) config.model.ffnDim = config.model.hidden;
  checkOptimizer(config, where);
  return config;
}

/** lazy-adam updates the rows a step reads: a sampled loss over a dense item table. */
function checkOptimizer(config: RecshipConfig, where: string): void {
  if (config.train.optimizer !== "lazy-adam") return;
  if (config.train.loss === "ce") {
    throw new RecshipError("invalid config: train.optimizer lazy-adam needs a sampled loss, but train.loss is ce", {
      where,
      fix: "full cross-entropy's gradient reaches every item row: set train.loss: sampled-ce (or bce) for lazy-adam, or train.optimizer: adam",
    });
  }
  if (config.model.itemTable) {
    throw new RecshipError("invalid config: train.optimizer lazy-adam needs a dense item table, but model.itemTable is product-quantized", {
      where,
      fix: "drop model.itemTable, or use train.optimizer: adam (a quantized table has few rows to update)",
    });
  }
}
