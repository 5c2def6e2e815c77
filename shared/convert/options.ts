import { SKIP_CHECKSUMS_OPTION } from "../bundle/bundle-files.js";
import { readOptionSpecs, readOptionsFrom } from "../data/read-options.js";
import { BACKEND_PREFERENCES, type BackendPreference } from "../model/backend.js";
import { DEFAULT_OPSET } from "../onnx/writer.js";
import type { OptionReader, OptionSpec } from "../util/option-spec.js";
import { paritySequences } from "../util/parse.js";
import type { ConvertOptions } from "./convert-bundle.js";
import { DEFAULT_TOLERANCE } from "./parity-check.js";

/** convert-onnx's options: `recship convert` flags and the action's inputs (action.yml is generated from this). */
export const CONVERT_OPTIONS: readonly OptionSpec[] = [
  {
    name: "bundle",
    kind: "text",
    default: "recship-bundle",
    placeholder: "dir",
    description: "Bundle folder written by train-model (its `bundle` output)",
  },
  SKIP_CHECKSUMS_OPTION,
  { name: "opset", kind: "int", default: String(DEFAULT_OPSET), description: "ONNX opset, 17 to 21" },
  {
    name: "top-k",
    kind: "int",
    description:
      "Length of the model's top_items / top_scores outputs (default 100, at most the number of items; the server answers /v1/recommend from them when k + history + 1 fit)",
  },
  {
    name: "max-abs-diff",
    kind: "positive",
    default: String(DEFAULT_TOLERANCE.maxAbsDiff),
    description: "Parity: largest allowed |tfjs − onnxruntime| over scores and user embeddings",
  },
  {
    name: "min-top10-agreement",
    kind: "positive",
    default: String(DEFAULT_TOLERANCE.minTop10Agreement),
    description: "Parity: smallest fraction of sequences whose top 10 agree (near-ties within 2 × max-abs-diff count as agreeing)",
  },
  {
    name: "external-data-threshold",
    kind: "int",
    placeholder: "bytes",
    description: "Put initializers of at least this many bytes in model.onnx.data beside the model (default: inline, automatic near 2 GiB)",
  },
  {
    name: "data",
    kind: "text",
    placeholder: "file",
    description:
      "Interaction log to take real validation histories from for the parity check (default: the file train-model read, as recorded in bundle.json, when it is there); without any, edge-case and random sequences only",
  },
  ...readOptionSpecs("`data`"),
  {
    name: "parity-sequences",
    kind: "text",
    default: "1000",
    placeholder: "n|all",
    description: "Real validation histories used in the parity check, spread over their lengths: a number or `all`",
  },
  {
    name: "backend",
    kind: "choice",
    choices: BACKEND_PREFERENCES,
    default: "auto",
    description: "tfjs backend for the reference model: auto, gpu, node, webgpu, wasm or cpu",
  },
  {
    name: "report",
    kind: "text",
    placeholder: "file",
    description:
      "Also write the step's JSON report to this path, also when the parity check fails (the action's default: <bundle>/convert-report.json)",
  },
];

/** The step's options from either front end (everything but the logger). */
export function convertOptionsFrom(o: OptionReader): Omit<ConvertOptions, "log"> {
  const data = o.text("data");
  return {
    bundle: o.requiredText("bundle"),
    verifyChecksums: !o.boolean("skip-bundle-checksums"),
    opset: o.int("opset"),
    maxRealSequences: paritySequences(o.text("parity-sequences"), o.where("parity-sequences")),
    topK: o.int("top-k"),
    maxAbsDiff: o.positive("max-abs-diff"),
    minTop10Agreement: o.positive("min-top10-agreement"),
    externalDataThresholdBytes: o.int("external-data-threshold"),
    ...(data ? { data: { path: data, ...readOptionsFrom(o) } } : {}),
    backend: o.choice<BackendPreference>("backend"),
  };
}
