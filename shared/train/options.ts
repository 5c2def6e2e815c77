import { POLICY_OPTIONS } from "../data/quality/options.js";
import { readOptionSpecs, readOptionsFrom } from "../data/read-options.js";
import { EVAL_USERS, evalUsersFrom } from "../data/user-sample.js";
import { BACKEND_PREFERENCES, type BackendPreference } from "../model/backend.js";
import { LOSSES, type Loss } from "../model/config.js";
import type { OptionReader, OptionSpec } from "../util/option-spec.js";
import type { TrainModelOptions } from "./train-model.js";

/** train-model's options: `recship train` flags and the action's inputs (action.yml is generated from this). */
export const TRAIN_OPTIONS: readonly OptionSpec[] = [
  {
    name: "data",
    kind: "text",
    required: true,
    placeholder: "file",
    description:
      "Interaction log: CSV/TSV with a header, JSON Lines, `user item` pairs or one sequence per line (gzip ok), or Parquet (a file, a folder or a glob)",
  },
  ...readOptionSpecs(),
  {
    name: "validate",
    kind: "boolean",
    default: "true",
    description:
      "Validate the log first (validate-data's checks): a check at severity error stops the step before training; the data's profile goes into the bundle (data-profile.json) for the next run's drift checks",
  },
  ...POLICY_OPTIONS.map((s) =>
    s.name === "baseline-profile" ? { ...s, description: `${s.description} (default: the profile of the bundle --overwrite replaces)` } : s,
  ),
  { name: "k-core", kind: "int", default: "0", description: "Drop users and items with fewer than k interactions (repeatedly); 0 = off" },
  {
    name: "config",
    kind: "text",
    placeholder: "yaml-or-file",
    description: "Model/training config: inline YAML (sections `model:` and `train:`) or a path to a YAML/JSON file",
  },
  { name: "epochs", kind: "int", description: "Maximum epochs (overrides the config)" },
  {
    name: EVAL_USERS,
    kind: "int",
    default: "0",
    description:
      "Users the final validation and test evaluations (report and bundle.json) rank all items for: a sample of this many, seeded by the training seed (0 = every user); the epochs' validation keeps the config's `train.validationUsers`",
  },
  { name: "max-minutes", kind: "positive", description: "Wall-clock budget for the whole step, in minutes" },
  { name: "loss", kind: "choice", choices: LOSSES, description: "Training loss: sampled-ce, ce or bce (overrides the config)" },
  { name: "seed", kind: "int", description: "Random seed (overrides the config)" },
  {
    name: "backend",
    kind: "choice",
    choices: BACKEND_PREFERENCES,
    default: "auto",
    description:
      "tfjs backend: auto (tfjs-node-gpu, tfjs-node, wasm, cpu in that order), gpu, node, webgpu (Dawn + tfjs-backend-webgpu from RECSHIP_WEBGPU_DIR: any GPU with a Vulkan driver), wasm or cpu",
  },
  {
    name: "workers",
    kind: "int",
    description:
      "Data-parallel training threads, each with its own tfjs engine; empty = one per usable core (cgroup-aware) on the wasm/cpu backends, 0 on tfjs-node(-gpu) and webgpu; 0 = the main thread",
  },
  {
    name: "install-gpu-backend",
    kind: "boolean",
    default: "false",
    frontEnds: ["action"],
    description:
      "Install @tensorflow/tfjs-node-gpu into a tool folder cached with actions/cache (self-hosted GPU runners with CUDA 11.2 / cuDNN 8.1, or a CUDA 11.8 container: README)",
  },
  { name: "out", kind: "text", default: "recship-bundle", placeholder: "dir", description: "Bundle folder to write" },
  {
    name: "resume",
    kind: "boolean",
    frontEnds: ["cli"],
    description: "Continue the interrupted run in <out>.partial exactly where it stopped",
  },
  {
    name: "overwrite",
    kind: "boolean",
    default: "false",
    description: "Replace an existing bundle in `out` (the old one stays until the new one is complete)",
  },
  {
    name: "report",
    kind: "text",
    placeholder: "file",
    description: "Also write the step's JSON report to this path (the action's default: <out>/train-report.json)",
  },
];

/** The step's options from either front end (everything but the logger and the git lineage). */
export function trainOptionsFrom(o: OptionReader): Omit<TrainModelOptions, "log" | "git"> {
  const epochs = o.int("epochs");
  const seed = o.int("seed");
  const loss = o.choice<Loss>("loss");
  return {
    data: o.requiredText("data"),
    ...readOptionsFrom(o),
    kCore: o.int("k-core"),
    evalUsers: evalUsersFrom(o),
    validate: o.boolean("validate"),
    policy: o.text("policy"),
    catalogue: o.text("catalogue"),
    baselineProfile: o.text("baseline-profile"),
    config: o.text("config"),
    overrides: {
      train: {
        ...(epochs !== undefined ? { epochs } : {}),
        ...(seed !== undefined ? { seed } : {}),
        ...(loss !== undefined ? { loss } : {}),
      },
    },
    maxMinutes: o.positive("max-minutes"),
    backend: o.choice<BackendPreference>("backend"),
    workers: o.int("workers"),
    out: o.requiredText("out"),
    resume: o.boolean("resume"),
    overwrite: o.boolean("overwrite"),
  };
}
