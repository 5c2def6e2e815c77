import { readOptionSpecs, readOptionsFrom } from "../data/read-options.js";
import { SKIP_CHECKSUMS_OPTION } from "../bundle/bundle-files.js";
import { loadPolicy } from "../data/quality/policy.js";
import { EVAL_USERS, evalUsersFrom } from "../data/user-sample.js";
import { RecshipError } from "../errors.js";
import type { OptionReader, OptionSpec } from "../util/option-spec.js";
import type { PipelineOptions } from "./pipeline.js";
import { loadRules, type GateRules } from "./rules.js";

/** benchmark-gate's options: `recship gate` flags and the action's inputs (action.yml is generated from this). */
export const GATE_OPTIONS: readonly OptionSpec[] = [
  {
    name: "bundle",
    flag: "candidate",
    kind: "text",
    default: "recship-bundle",
    placeholder: "dir",
    description: "Candidate bundle folder, converted to ONNX (convert-onnx's `bundle`)",
  },
  {
    name: "candidate-model",
    kind: "text",
    placeholder: "file",
    description: "Candidate ONNX file to evaluate (default: a compressed variant marked chosen in bundle.json, else model.onnx)",
  },
  {
    name: "data",
    kind: "text",
    required: true,
    placeholder: "file",
    description: "Evaluation data: an interaction log whose leave-one-out test split is used (normally the training data)",
  },
  ...readOptionSpecs("", { columnDefaults: false }).map((s) => ({
    ...s,
    description: `${s.description} (default: ${s.name === "format" ? "from the file name, else " : ""}as the candidate was trained)`,
  })),
  { name: "k-core", kind: "int", description: "k-core filter before the split (default: as the candidate was trained)" },
  {
    name: "rules",
    kind: "text",
    placeholder: "yaml-or-file",
    description:
      "Gate rules: inline YAML or a YAML/JSON file (metrics with direction, margin and critical; latency; alpha; slices). Default: NDCG@10 and HR@10 critical with a 1% margin, MRR, sampled NDCG@10 and slices warn-only, latency critical with a 25% margin",
  },
  {
    name: "exclude-seen",
    kind: "boolean",
    description:
      "Gate on history-masked full ranking (the protocol of published results) instead of all items ranked (overrides the rules' protocol; default false: all items, with the masked metrics shown beside; `masked ndcg@10` can also be gated by name in the rules)",
  },
  {
    name: "data-policy",
    kind: "text",
    placeholder: "yaml-or-file",
    description:
      "validate-data's policy (inline YAML or a file, as its `policy` input): the thresholds of the note on the candidate's training data against the baseline's (default: validate-data's defaults)",
  },
  {
    name: EVAL_USERS,
    kind: "int",
    default: "0",
    description:
      "Test users to evaluate both models on: a sample of this many, seeded by `seed`, for full-ranking evaluation at scale (0 = every test user); the confidence intervals are over the sampled users",
  },
  { name: "seed", kind: "int", description: "Seed of the sampled negatives, the user sample and the bootstrap (overrides the rules)" },
  { name: "resamples", kind: "int", description: "Bootstrap resamples, at least 1000 (overrides the rules)" },
  { name: "latency", kind: "boolean", default: "true", description: "Compare latency (overrides the rules)" },
  {
    name: "model-name",
    kind: "text",
    default: "default",
    description: "Name the baseline is stored under (one baseline per model name and branch)",
  },
  {
    name: "baseline",
    kind: "text",
    placeholder: "dir",
    description: "Explicit baseline folder (a bundle or a stored baseline); overrides the stored baseline",
  },
  { name: "baseline-model", kind: "text", placeholder: "file", description: "Baseline ONNX file (with `baseline`)" },
  {
    name: "baseline-branch",
    kind: "text",
    frontEnds: ["action"],
    description:
      "Branch whose baseline is stored and that pull requests compare with when their base is unknown (default: the repository's default branch)",
  },
  {
    name: "branch",
    kind: "text",
    frontEnds: ["cli"],
    description: "Branch to restore (and save) the baseline for (default: the current git branch)",
  },
  {
    name: "save-baseline",
    kind: "boolean",
    default: "true",
    frontEnds: ["action"],
    description: "Store a passing candidate as the new baseline when the run is on the baseline branch (never from pull requests)",
  },
  {
    name: "save-baseline",
    kind: "boolean",
    frontEnds: ["cli"],
    description: "Store a passing candidate in --baseline-store as the new baseline",
  },
  {
    name: "baseline-dir",
    flag: "baseline-store",
    kind: "text",
    placeholder: "dir",
    description:
      "Keep baselines in this folder (the action's default: the GitHub Actions cache; self-hosted runners with a persistent disk)",
  },
  {
    name: "require-baseline",
    kind: "boolean",
    default: "false",
    description: "Fail when no baseline is found instead of passing as a first run",
  },
  {
    name: "fail-on-regression",
    kind: "boolean",
    default: "true",
    frontEnds: ["action"],
    description: "Fail the job when a critical metric regresses (false: report only)",
  },
  {
    name: "comment",
    kind: "boolean",
    default: "true",
    frontEnds: ["action"],
    description: "Post or update the sticky pull-request comment",
  },
  {
    name: "github-token",
    kind: "text",
    default: "${{ github.token }}",
    frontEnds: ["action"],
    description: "Token for the pull-request comment (needs `pull-requests: write`)",
  },
  SKIP_CHECKSUMS_OPTION,
  { name: "threads", kind: "int", description: "onnxruntime intra-op threads (default: one per core)" },
  { name: "batch-size", kind: "int", default: "256", description: "Histories per onnxruntime run during evaluation" },
  {
    name: "report",
    kind: "text",
    placeholder: "file",
    description: "Also write the JSON report to this path (the action's default: benchmark-gate-report.json)",
  },
  {
    name: "markdown",
    kind: "text",
    placeholder: "file",
    frontEnds: ["cli"],
    description: "Write the report as Markdown (default: printed to stdout)",
  },
];

/** The gate rules with the options that override them (exclude-seen, seed, resamples, latency). */
function rulesFrom(o: OptionReader): GateRules {
  const rules = loadRules(o.text("rules"));
  const excludeSeen = o.optionalBoolean("exclude-seen");
  if (excludeSeen !== undefined) rules.protocol.excludeSeen = excludeSeen;
  const seed = o.int("seed");
  if (seed !== undefined) rules.seed = seed;
  const resamples = o.int("resamples");
  if (resamples !== undefined) {
    if (resamples < 1000) throw new RecshipError(`${o.where("resamples")} must be at least 1000, got ${resamples}`);
    rules.resamples = resamples;
  }
  if (!o.boolean("latency")) rules.latency.enabled = false;
  return rules;
}

/** The step's options from either front end (the baseline store, branches and logger are the front end's). */
export function gateOptionsFrom(
  o: OptionReader,
): Pick<
  PipelineOptions,
  | "candidate"
  | "candidateModel"
  | "baseline"
  | "baselineModel"
  | "data"
  | "read"
  | "kCore"
  | "rules"
  | "evalUsers"
  | "modelName"
  | "threads"
  | "batchSize"
  | "requireBaseline"
  | "verifyChecksums"
  | "dataPolicy"
> {
  return {
    candidate: o.requiredText("bundle"),
    candidateModel: o.text("candidate-model"),
    baseline: o.text("baseline"),
    baselineModel: o.text("baseline-model"),
    data: o.requiredText("data"),
    read: readOptionsFrom(o),
    kCore: o.int("k-core"),
    rules: rulesFrom(o),
    evalUsers: evalUsersFrom(o),
    modelName: o.requiredText("model-name"),
    threads: o.int("threads"),
    batchSize: o.int("batch-size"),
    requireBaseline: o.boolean("require-baseline"),
    verifyChecksums: !o.boolean("skip-bundle-checksums"),
    dataPolicy: loadPolicy(o.text("data-policy")),
  };
}
