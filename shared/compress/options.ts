import { SKIP_CHECKSUMS_OPTION } from "../bundle/bundle-files.js";
import { readOptionSpecs, readOptionsFrom } from "../data/read-options.js";
import { EVAL_USERS, evalUsersFrom } from "../data/user-sample.js";
import { BACKEND_PREFERENCES, type BackendPreference } from "../model/backend.js";
import type { OptionReader, OptionSpec } from "../util/option-spec.js";
import { COMPRESS_DEFAULTS, type CompressOptions } from "./compress-bundle.js";
import { DISTILL_DEFAULTS } from "./distill/distill-student.js";
import { OBJECTIVES, type Objective } from "./report.js";

const d = (value: number | string) => String(value);

/** compress-model's options: `recship compress` flags and the action's inputs (action.yml is generated from this). */
export const COMPRESS_OPTIONS: readonly OptionSpec[] = [
  {
    name: "bundle",
    kind: "text",
    default: "recship-bundle",
    placeholder: "dir",
    description: "Bundle folder with model.onnx (convert-onnx's `bundle`)",
  },
  SKIP_CHECKSUMS_OPTION,
  {
    name: "methods",
    kind: "list",
    description:
      "Comma- or newline-separated variants to build; a variant is a method or methods joined by `+` (applied in order distill, prune, emb-*, int8-*, fp16). Methods: int8-dynamic, int8-qdq, int8-qdq-pct, emb-int8, emb-int4, fp16, prune, distill. Default: int8-dynamic, int8-qdq, int8-qdq-pct, emb-int8, emb-int4, fp16, prune, emb-int8+int8-dynamic, emb-int8+int8-qdq-pct, emb-int4+int8-dynamic (distill trains a model, so only when listed)",
  },
  {
    name: "max-ndcg-drop",
    kind: "nonnegative",
    default: d(COMPRESS_DEFAULTS.maxNdcgDrop),
    description: "Accuracy budget: largest relative loss of validation NDCG@10 (full ranking) a variant may have, e.g. 0.01 for 1%",
  },
  {
    name: "objective",
    kind: "choice",
    choices: OBJECTIVES,
    default: COMPRESS_DEFAULTS.objective,
    description: "What the chosen variant minimises within the budget: size (file bytes) or latency (batch-64 p50)",
  },
  {
    name: "calibration",
    kind: "int",
    default: d(COMPRESS_DEFAULTS.calibration),
    description: "Validation histories static quantization (int8-qdq, int8-qdq-pct) calibrates on",
  },
  {
    name: "percentile",
    kind: "positive",
    default: d(COMPRESS_DEFAULTS.percentile),
    description: "int8-qdq-pct: central share (%) of each activation's calibration values its range keeps",
  },
  {
    name: "threads",
    kind: "int",
    default: d(COMPRESS_DEFAULTS.threads),
    description: "onnxruntime intra-op threads for every measurement (pinned, the same for all models)",
  },
  {
    name: "latency-repetitions",
    kind: "int",
    default: d(COMPRESS_DEFAULTS.latencyRepetitions),
    description: "Timed runs per model and batch size (batch 1 and 64), after 10 warm-up runs",
  },
  {
    name: "sparsity",
    kind: "nonnegative",
    default: d(COMPRESS_DEFAULTS.sparsity),
    description: "prune: share of each weight matrix set to zero",
  },
  {
    name: "int4-block-size",
    kind: "int",
    default: d(COMPRESS_DEFAULTS.int4BlockSize),
    description: "emb-int4: values per 4-bit block (a power of 2 ≥ 16 dividing the hidden size)",
  },
  {
    name: "int4-accuracy-level",
    kind: "int",
    default: d(COMPRESS_DEFAULTS.int4AccuracyLevel),
    description: "emb-int4: MatMulNBits accuracy level of the output projection (0 computes in float, 4 in int8)",
  },
  {
    name: "student-hidden",
    kind: "int",
    description:
      "distill: train a dense student of this hidden size instead (default: the teacher's hidden size with a product-quantized item table)",
  },
  { name: "student-blocks", kind: "int", description: "distill: the student's transformer blocks (default: the teacher's)" },
  {
    name: "student-subspaces",
    kind: "int",
    description:
      "distill: give the student a product-quantized item table: it keeps the teacher's hidden size and blocks, and each item's row is one learned codeword per subspace (codewords start from k-means on the teacher's table; training then moves only them). Default: hidden size / 4 (codewords of 4 values)",
  },
  {
    name: "student-centroids",
    kind: "int",
    description:
      "distill: codewords per subspace of the quantized table (default: the largest power of two with at most half the teacher's parameters)",
  },
  {
    name: "distill-epochs",
    kind: "int",
    default: d(DISTILL_DEFAULTS.epochs),
    description: "distill: most training epochs (early stopping on validation NDCG@10 after 15 epochs without a better one)",
  },
  {
    name: "distill-minutes",
    kind: "positive",
    default: d(DISTILL_DEFAULTS.maxMinutes),
    description: "distill: time budget for training the student",
  },
  {
    name: "distill-learning-rate",
    kind: "positive",
    description:
      "distill: Adam learning rate (default 0.003 for a dense student; 0.001 for a quantized-table student, which starts from the teacher)",
  },
  {
    name: "distill-alpha",
    kind: "positive",
    default: d(DISTILL_DEFAULTS.alpha),
    description: "distill: weight of the ground-truth loss, in (0, 1]; the rest is the softened cross-entropy to the teacher's scores",
  },
  {
    name: "keep",
    kind: "choice",
    choices: ["all", "chosen"],
    default: COMPRESS_DEFAULTS.keep,
    description: "Variants kept in the bundle: all, or only the chosen one",
  },
  {
    name: "seed",
    kind: "int",
    description:
      "Seed of calibration sampling, latency inputs, distillation and the `eval-users` sample (default: the bundle's training seed)",
  },
  {
    name: EVAL_USERS,
    kind: "int",
    default: "0",
    description:
      "Validation and test users to measure every model on: one sample of this many, seeded by `seed`, for full-ranking evaluation at scale (0 = every user)",
  },
  {
    name: "data",
    kind: "text",
    placeholder: "file",
    description: "Interaction log to evaluate on (default: the file train-model read, as bundle.json records it)",
  },
  ...readOptionSpecs("`data`", { columnDefaults: false }),
  {
    name: "backend",
    kind: "choice",
    choices: BACKEND_PREFERENCES,
    default: "auto",
    description: "tfjs backend for distillation: auto, gpu, node, webgpu, wasm or cpu",
  },
  {
    name: "workers",
    kind: "int",
    description:
      "Distillation's data-parallel training threads, each with its own tfjs engine; empty = one per usable core (cgroup-aware) on wasm/cpu, 0 on tfjs-node(-gpu) and webgpu; 0 = the main thread",
  },
  { name: "summary", kind: "text", placeholder: "file", frontEnds: ["cli"], description: "Also write the Markdown table to this file" },
  {
    name: "report",
    kind: "text",
    placeholder: "file",
    description:
      "Also write the step's JSON report to this path, also when no variant fits (the action's default: <bundle>/compress-report.json)",
  },
];

/** The step's options from either front end (everything but the logger). */
export function compressOptionsFrom(o: OptionReader): Omit<CompressOptions, "log"> {
  const data = o.text("data");
  return {
    bundle: o.requiredText("bundle"),
    verifyChecksums: !o.boolean("skip-bundle-checksums"),
    methods: o.list("methods"),
    maxNdcgDrop: o.nonnegative("max-ndcg-drop"),
    objective: o.choice<Objective>("objective"),
    calibration: o.int("calibration"),
    percentile: o.positive("percentile"),
    threads: o.int("threads"),
    latencyRepetitions: o.int("latency-repetitions"),
    seed: o.int("seed"),
    evalUsers: evalUsersFrom(o),
    int4BlockSize: o.int("int4-block-size"),
    int4AccuracyLevel: o.int("int4-accuracy-level"),
    sparsity: o.nonnegative("sparsity"),
    keep: o.choice<"all" | "chosen">("keep"),
    ...(data ? { data: { path: data, ...readOptionsFrom(o) } } : {}),
    distill: {
      hidden: o.int("student-hidden"),
      blocks: o.int("student-blocks"),
      subspaces: o.int("student-subspaces"),
      centroids: o.int("student-centroids"),
      epochs: o.int("distill-epochs"),
      maxMinutes: o.positive("distill-minutes"),
      alpha: o.positive("distill-alpha"),
      learningRate: o.positive("distill-learning-rate"),
    },
    backend: o.choice<BackendPreference>("backend"),
    workers: o.int("workers"),
  };
}
