import { readOptionSpecs, readOptionsFrom } from "../data/read-options.js";
import { EVAL_USERS, evalUsersFrom } from "../data/user-sample.js";
import { RecshipError } from "../errors.js";
import { BACKEND_PREFERENCES, type BackendPreference } from "../model/backend.js";
import type { OptionReader, OptionSpec } from "../util/option-spec.js";
import { SCHEDULES, type Schedule } from "./asha.js";
import { SAMPLERS, type Sampler } from "./sampler.js";
import { loadSearchSpace } from "./space.js";
import type { ReadOptions } from "../data/readers.js";
import type { PlanOptions } from "./plan.js";

const TUNE_MODES = ["local", "plan", "trial", "select"] as const;
type TuneMode = (typeof TUNE_MODES)[number];

const MODE_DESCRIPTION =
  "plan (sample the trials, emit the first rung's matrix), trial (train one matrix entry to its rung's epochs) or select (gather a rung, promote the best 1/eta or name the winner)";

/** tune-model's options: `recship tune` flags and the action's inputs (action.yml is generated from this). */
export const TUNE_OPTIONS: readonly OptionSpec[] = [
  {
    name: "mode",
    kind: "choice",
    choices: ["plan", "trial", "select"],
    required: true,
    frontEnds: ["action"],
    description: `What this job does: ${MODE_DESCRIPTION}`,
  },
  {
    name: "mode",
    kind: "choice",
    choices: TUNE_MODES,
    default: "local",
    frontEnds: ["cli"],
    description: `local (the whole search on this machine, --parallel trials at a time), or one job's part: ${MODE_DESCRIPTION}`,
  },
  {
    name: "name",
    kind: "text",
    default: "tune",
    description: "The search's name: its artifacts are named after it (two searches in one workflow run need two names)",
  },
  {
    name: "space",
    kind: "text",
    placeholder: "yaml-or-file",
    description:
      "Search space (plan): inline YAML or a file with `space:` (model.*/train.* settings as choices, int or float ranges, log: true) and `config:` (settings every trial shares); empty = the default space (actions/tune-model/space.example.yml)",
  },
  {
    name: "trials",
    kind: "int",
    default: "27",
    description: "Trials on the first rung, the default configuration included (plan; 2 to 256)",
  },
  {
    name: "eta",
    kind: "int",
    default: "3",
    description: "Reduction factor (plan): each rung keeps the best 1/eta of its trials and trains them eta times longer",
  },
  {
    name: "max-epochs",
    kind: "int",
    default: "27",
    description: "Epochs of the last rung (plan); rung r trains to max-epochs / eta^(last - r)",
  },
  { name: "rungs", kind: "int", description: "Rungs (plan); empty = as many as halving trials by eta allows, down to one trial" },
  {
    name: "sampler",
    kind: "choice",
    choices: SAMPLERS,
    default: "halton",
    description: "How trials are drawn (plan): halton (quasi-random, even coverage) or random",
  },
  { name: "seed", kind: "int", default: "1", description: "Seed of the sampler (plan): the same seed and options give the same plan" },
  { name: "trial", kind: "text", description: "The trial to train (trial mode): `matrix.trial`" },
  {
    name: "rung",
    kind: "int",
    default: "0",
    description: "The rung (trial and select modes): `matrix.rung` in a trial job, the rung whose trials ran in a select job",
  },
  {
    name: "data",
    kind: "text",
    placeholder: "file",
    description: "Interaction log (trial and local modes): as train-model reads it; the search uses its validation split only to choose",
  },
  ...readOptionSpecs(),
  { name: "k-core", kind: "int", default: "0", description: "Drop users and items with fewer than k interactions (repeatedly); 0 = off" },
  {
    name: EVAL_USERS,
    kind: "int",
    default: "0",
    description:
      "Users each trial's final validation and test evaluations rank all items for: a seeded sample of this many, the same users in every trial (0 = every user); the objective is measured on it",
  },
  {
    name: "backend",
    kind: "choice",
    choices: BACKEND_PREFERENCES,
    default: "auto",
    description: "tfjs backend of the trials (train-model's backend)",
  },
  {
    name: "workers",
    kind: "int",
    description:
      "Training worker threads per trial; empty = train-model's default in a trial job, the cores shared among --parallel trials locally (below 2 each: the trial's main thread)",
  },
  { name: "max-minutes", kind: "positive", description: "Wall-clock budget of one trial, in minutes (trial mode)" },
  {
    name: "parallel",
    kind: "int",
    default: "1",
    frontEnds: ["cli"],
    description: "Trials at a time in the local mode, within the usable cores (a trial with W training workers counts W)",
  },
  {
    name: "schedule",
    kind: "choice",
    choices: SCHEDULES,
    default: "sha",
    frontEnds: ["cli"],
    description:
      "Local mode: sha = successive halving rung by rung (the matrix jobs' order; the same seed gives the same search); asha = asynchronous (a trial goes on as soon as it is in the top 1/eta of its rung so far: no slot waits for a rung to end)",
  },
  {
    name: "budget-minutes",
    kind: "positive",
    frontEnds: ["cli"],
    description:
      "Wall-clock budget of the whole local search, in minutes: after the first rung the later rungs' epochs are lowered to fit it at the pace the trials going on had there (sha); trials that would start later are recorded as not run",
  },
  {
    name: "store",
    kind: "text",
    placeholder: "dir",
    description:
      "Folder that holds the plan, rungs and trial results between jobs (a disk every job sees); empty = the workflow run's artifacts (action), <work>/store (CLI)",
  },
  {
    name: "work",
    kind: "text",
    default: "recship-tune",
    placeholder: "dir",
    description: "Folder for this job's files (trial bundles, downloads)",
  },
  {
    name: "comment",
    kind: "boolean",
    default: "true",
    frontEnds: ["action"],
    description: "Post or update the sticky pull-request comment with select's results table",
  },
  {
    name: "github-token",
    kind: "text",
    default: "${{ github.token }}",
    frontEnds: ["action"],
    description: "Token for the pull-request comment (needs `pull-requests: write`)",
  },
  {
    name: "report",
    kind: "text",
    placeholder: "file",
    description: "Also write select's JSON report (trials, best, default) to this path",
  },
  {
    name: "html",
    kind: "text",
    placeholder: "file",
    description: "Also write select's report as a self-contained HTML page (table and SVG chart)",
  },
  {
    name: "markdown",
    kind: "text",
    placeholder: "file",
    frontEnds: ["cli"],
    description: "Also write select's Markdown report to this file",
  },
];

export interface TuneOptions extends ReadOptions {
  mode: TuneMode;
  name: string;
  /** The plan's settings (read in plan and local modes only: the space is checked there). */
  planSettings: () => Omit<PlanOptions, "name">;
  trial?: string;
  rung: number;
  data?: string;
  kCore?: number;
  evalUsers: number;
  backend?: BackendPreference;
  workers?: number;
  maxMinutes?: number;
  parallel: number;
  schedule: Schedule;
  budgetMinutes?: number;
  store?: string;
  work: string;
}

/** The step's options from either front end. */
export function tuneOptionsFrom(o: OptionReader): TuneOptions {
  return {
    mode: o.choice<TuneMode>("mode")!,
    name: o.requiredText("name"),
    planSettings: () => ({
      space: loadSearchSpace(o.text("space")),
      trials: o.int("trials")!,
      eta: o.int("eta")!,
      maxEpochs: o.int("max-epochs")!,
      rungs: o.int("rungs"),
      sampler: o.choice<Sampler>("sampler")!,
      seed: o.int("seed")!,
    }),
    trial: o.text("trial"),
    rung: o.int("rung")!,
    data: o.text("data"),
    ...readOptionsFrom(o),
    kCore: o.int("k-core"),
    evalUsers: evalUsersFrom(o),
    backend: o.choice<BackendPreference>("backend"),
    workers: o.int("workers"),
    maxMinutes: o.positive("max-minutes"),
    parallel: o.int("parallel") ?? 1,
    schedule: o.choice<Schedule>("schedule") ?? "sha",
    budgetMinutes: o.positive("budget-minutes"),
    store: o.text("store"),
    work: o.requiredText("work"),
  };
}

/** What a trial needs that only some modes need: the data, and the trial's id. */
export function trialInputs(options: TuneOptions, where: (name: string) => string): { data: string; trial: string } {
  if (!options.data) throw new RecshipError(`${where("data")} is required in ${options.mode} mode`, { fix: "give the interaction log" });
  if (options.mode === "trial" && !options.trial)
    throw new RecshipError(`${where("trial")} is required in trial mode`, { fix: "pass matrix.trial (and matrix.rung as rung)" });
  return { data: options.data, trial: options.trial ?? "" };
}
