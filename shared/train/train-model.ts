import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import { readInteractions, type ReadOptions, type ReadResult } from "../data/readers.js";
import type { InteractionLog } from "../data/interaction-log.js";
import { kCoreFilter, leaveOneOut, testHistory, type LeaveOneOutSplit } from "../data/split.js";
import { checkSampleSize, evalUserSample, sampleLabel, spacedUsers } from "../data/user-sample.js";
import { evaluate, type EvalCase, type EvalResult } from "../eval/evaluator.js";
import { PopularityScorer } from "../eval/popularity.js";
import { initBackend, type BackendInfo, type BackendPreference } from "../model/backend.js";
import { loadConfig, type ConfigOverrides, type RecshipConfig } from "../model/config.js";
import { countParameters } from "../model/sasrec.js";
import { train, type EpochRecord, type TrainOutcome } from "../model/trainer.js";
import { encodeWeights } from "../model/weights-file.js";
import { MANIFEST_FILE, BUNDLE_SCHEMA_VERSION, type BundleManifest, type MetricsBlock } from "../bundle/manifest.js";
import { sha256Of, writeManifest } from "../bundle/bundle-io.js";
import { stableHash } from "../util/hash.js";
import { formatDuration } from "../util/format.js";
import { workerBackend, workerCount } from "../model/parallel/open-engine.js";
import { RECSHIP_VERSION } from "../version.js";
import { invalidDataError, logChecks } from "../data/quality/outcome.js";
import { PROFILE_FILE } from "../data/quality/profile.js";
import { readProfile, validateLog, type DataReport } from "../data/quality/validate-log.js";
import { MONITORING_ARTIFACT, writeMonitoringReference } from "../bundle/monitoring-reference.js";
import { monitoringReferenceOf, referenceUsers } from "./monitoring.js";

export interface TrainModelOptions extends ReadOptions {
  data: string;
  out: string;
  /** Inline YAML/JSON or a path to a YAML/JSON file (sections `model:` and `train:`). */
  config?: string;
  overrides?: ConfigOverrides;
  maxMinutes?: number;
  backend?: BackendPreference;
  /** Data-parallel training worker threads (0: the calling thread); default from the usable cores and the backend. */
  workers?: number;
  kCore?: number;
  /**
   * Users the final validation and test evaluations (the report's, bundle.json's) cover: a
   * sample seeded by `train.seed` (0 or undefined: every user). The epochs' validation keeps
   * `train.validationUsers`.
   */
  evalUsers?: number;
  resume?: boolean;
  /**
   * Keep the training state (every finished epoch's checkpoint) in this folder instead of in
   * `<out>.partial`, and leave it there once the bundle is written: a later call with `resume`
   * and a larger `train.epochs` trains on from where this one stopped, up to that epoch (the
   * rungs of tune-model). Without it the checkpoint goes with the finished run.
   */
  checkpoint?: string;
  /** Replace an existing bundle in `out` (the old one is kept until the new one is complete). */
  overwrite?: boolean;
  git?: { sha?: string; ref?: string; repository?: string };
  /** Validate the log before training (default true): an error stops the step; data-profile.json goes into the bundle. */
  validate?: boolean;
  /** The validation policy (inline YAML or a file), a catalogue, and the previous data's profile (default: the bundle being overwritten). */
  policy?: string;
  catalogue?: string;
  baselineProfile?: string;
  /** The log's report when a step before this one validated it (the demo's validate-data): used as is, not read again. */
  validated?: DataReport;
  log: Logger;
}

export interface TrainReport {
  step: "train";
  bundle: string;
  backend: string;
  /** Training worker threads (0: the calling thread). */
  workers: number;
  wallSeconds: number;
  trainSeconds: number;
  sequencesPerSecond: number;
  epochs: number;
  bestEpoch: number;
  stoppedBy: string;
  parameters: number;
  config: RecshipConfig;
  data: BundleManifest["data"];
  validation: MetricsBlock;
  test: MetricsBlock;
  popularity: MetricsBlock;
  /** Users the validation and test metrics are over: every eligible user (≥ 3 interactions), or a seeded sample (`eval-users`). */
  evaluation: { users: number; eligibleUsers: number; seed: number };
  history: EpochRecord[];
  warnings: string[];
  /** validate-data's verdict on the log (absent when validation is off). */
  dataChecks?: Pick<DataReport, "passed" | "errors" | "warnings" | "headline" | "seconds"> & { flagged: string[] };
}

function metricsBlock(r: EvalResult): MetricsBlock {
  return { full: r.full, fullMasked: r.fullMasked, sampled: r.sampled, users: r.users };
}

/** Refuses early, before hours of training, when the result could not be delivered. */
async function refuseOccupiedOut(out: string, given: string, overwrite: boolean | undefined): Promise<void> {
  if (!existsSync(out) || overwrite) return;
  const entries = await readdir(out);
  if (entries.length === 0) return;
  throw new RecshipError(
    entries.includes(MANIFEST_FILE) ? `"${given}" already holds a model bundle` : `"${given}" exists and is not empty`,
    {
      fix: "choose another --out folder, or pass --overwrite to replace it (the old one stays until the new one is complete)",
    },
  );
}

/**
 * validate-data before hours of training: an error stops the step; drift is checked against
 * `baselineProfile`, else the profile of the bundle being overwritten.
 */
async function checkData(options: TrainModelOptions, out: string): Promise<DataReport | undefined> {
  if (options.validate === false) return undefined;
  if (options.validated) {
    if (!options.validated.passed) throw invalidDataError(options.validated);
    return options.validated;
  }
  const previous = options.overwrite && existsSync(join(out, PROFILE_FILE)) ? out : undefined;
  const from = options.baselineProfile ?? previous;
  const baseline = from ? await readProfile(from) : undefined;
  const report = await options.log.group(`validating ${options.data}`, () => validateLog({ ...options, baseline }));
  logChecks(report, options.log);
  if (!report.passed) throw invalidDataError(report);
  return report;
}

/** The log as read, and after the optional k-core filter. */
async function readLog(options: TrainModelOptions): Promise<{ read: ReadResult; interactions: InteractionLog }> {
  const { log } = options;
  const read = await log.group(`reading ${options.data}`, async () => {
    const t0 = performance.now();
    const r = await readInteractions(options.data, options);
    log.info(
      `${r.rowsRead} rows (${r.format}) in ${((performance.now() - t0) / 1000).toFixed(1)}s: ` +
        `${r.log.userIds.length} users, ${r.log.itemIds.length - 1} items, ${r.log.interactions} interactions` +
        (r.rowsSkippedByFilter ? `; ${r.rowsSkippedByFilter} rows skipped by the event filter` : ""),
    );
    return r;
  });
  let interactions = read.log;
  if (options.kCore && options.kCore > 1) {
    interactions = kCoreFilter(interactions, options.kCore);
    log.info(`${options.kCore}-core filter: ${interactions.userIds.length} users, ${interactions.itemIds.length - 1} items left`);
  }
  return { read, interactions };
}

interface Cases {
  split: LeaveOneOutSplit;
  sequences: Int32Array[];
  /** The users the final evaluation covers (ascending): every eligible user, or a seeded sample. */
  users: Int32Array;
  evaluation: TrainReport["evaluation"];
  /** History = the training part, target = the second-to-last item. */
  validation: EvalCase[];
  /** History = the training part and the validation item, target = the last item. */
  test: EvalCase[];
}

/** The validation cases of `users` (history = the training part, target = the second-to-last item). */
function validationCases(split: LeaveOneOutSplit, sequences: Int32Array[], users: Int32Array): EvalCase[] {
  return Array.from(users, (u) => ({ user: u, history: split.train[u], target: split.validTarget[u], interacted: sequences[u] }));
}

/** Leave-one-out split and the evaluation cases of `sample` users (seeded by `seed`; 0: all); users it must leave out are warned about. */
function splitLog(
  interactions: InteractionLog,
  data: string,
  sample: { size: number; seed: number },
  warn: (message: string) => void,
): Cases {
  const split = leaveOneOut(interactions);
  if (split.singleInteractionUsers > 0) {
    warn(`${split.singleInteractionUsers} users have a single interaction: they are left out of training and evaluation`);
  }
  if (split.twoInteractionUsers > 0) {
    warn(`${split.twoInteractionUsers} users have two interactions: they train but are left out of evaluation (leave-one-out needs 3)`);
  }
  if (split.evalUsers.length === 0) {
    throw new RecshipError("no user has the 3 or more interactions that leave-one-out evaluation needs", {
      where: data,
      fix: "check the user column, the event filter, or supply a longer log",
    });
  }
  const sequences = interactions.sequences;
  const users = evalUserSample(split.evalUsers, sample.size, sample.seed);
  return {
    split,
    sequences,
    users,
    evaluation: { users: users.length, eligibleUsers: split.evalUsers.length, seed: sample.seed },
    validation: validationCases(split, sequences, users),
    test: Array.from(users, (u) => ({ user: u, history: testHistory(split, u), target: split.testTarget[u], interacted: sequences[u] })),
  };
}

/** Every eligible user's test history (the training part and the validation item), one at a time. */
function* allTestHistories(split: LeaveOneOutSplit): Generator<Int32Array> {
  for (const u of split.evalUsers) yield testHistory(split, u);
}

/** Popularity (from what each protocol's histories saw, over every user) on the validation and test cases. */
async function popularityBaseline(c: Cases, seed: number, log: Logger): Promise<{ validation: EvalResult; test: EvalResult }> {
  const validation = await evaluate(new PopularityScorer(c.split.train, c.split.numItems), c.validation, { seed });
  const testScorer = new PopularityScorer(allTestHistories(c.split), c.split.numItems);
  const test = await evaluate(testScorer, c.test, { seed });
  log.info(`popularity baseline, test: NDCG@10 ${test.full.ndcg10.toFixed(4)} (sampled ${test.sampled?.ndcg10.toFixed(4)})`);
  return { validation, test };
}

/** The epochs' validation: every `eligible / n`-th user's case (all when n is 0), the final evaluation's cases when they are the same users. */
function validationSubset(c: Cases, n: number): EvalCase[] {
  const users = spacedUsers(c.split.evalUsers, n);
  const same = users.length === c.users.length && users.every((u, i) => u === c.users[i]);
  return same ? c.validation : validationCases(c.split, c.sequences, users);
}

/** Histories scored once the epochs end: evaluateKept's test (and validation, when the epochs validated other users) and the monitoring reference. */
function scoredAfterTraining(c: Cases, validSubset: EvalCase[]): number {
  return c.test.length + (validSubset === c.validation ? 0 : c.validation.length) + referenceUsers(c.split);
}

/** The kept weights on the final evaluation's validation and test cases (the trainer's validation result when it used the same users). */
async function evaluateKept(
  outcome: TrainOutcome,
  c: Cases,
  validatedOnSame: boolean,
  seed: number,
  log: Logger,
): Promise<{ validation: EvalResult; test: EvalResult }> {
  const model = outcome.model;
  const scorer = { numItems: model.numItems, score: (h: Int32Array[]) => model.scoreAsync(h) };
  const validation = validatedOnSame && outcome.bestValidation ? outcome.bestValidation : await evaluate(scorer, c.validation, { seed });
  const test = await evaluate(scorer, c.test, { seed });
  const { users, eligibleUsers } = c.evaluation;
  const sample = users < eligibleUsers ? ` (${sampleLabel(users, eligibleUsers)} users, a sample seeded by ${seed})` : "";
  log.info(
    `test${sample}, all items ranked: NDCG@10 ${test.full.ndcg10.toFixed(4)} HR@10 ${test.full.hr10.toFixed(4)} MRR ${test.full.mrr.toFixed(4)}; ` +
      `history masked: NDCG@10 ${test.fullMasked.ndcg10.toFixed(4)} HR@10 ${test.fullMasked.hr10.toFixed(4)}; ` +
      `sampled-100 NDCG@10 ${test.sampled?.ndcg10.toFixed(4)} HR@10 ${test.sampled?.hr10.toFixed(4)}`,
  );
  return { validation, test };
}

/** Where the data came from and how it was read, for bundle.json (later steps read the same file the same way). */
function dataRecord(
  options: TrainModelOptions,
  read: ReadResult,
  interactions: InteractionLog,
  split: Cases["split"],
): BundleManifest["data"] {
  return {
    source: options.data,
    format: read.format,
    sha256: read.sha256,
    bytes: read.bytes,
    users: interactions.userIds.length,
    items: split.numItems,
    interactions: interactions.interactions,
    evaluationUsers: split.evalUsers.length,
    ...(options.kCore ? { kCore: options.kCore } : {}),
    ...(options.eventFilter?.length ? { eventFilter: options.eventFilter } : {}),
    read: JSON.parse(
      JSON.stringify({
        format: read.format,
        userColumn: options.userColumn,
        itemColumn: options.itemColumn,
        timeColumn: options.timeColumn,
        eventColumn: options.eventColumn,
        eventFilter: options.eventFilter,
        query: options.query,
      }),
    ) as NonNullable<BundleManifest["data"]["read"]>,
  };
}

interface BundleContents {
  config: RecshipConfig;
  backend: BackendInfo;
  outcome: TrainOutcome;
  data: BundleManifest["data"];
  itemIds: string[];
  kept: { validation: EvalResult; test: EvalResult };
  popularity: { validation: EvalResult; test: EvalResult };
  /** The split whose validation users the monitoring reference summarises (production monitoring's baseline). */
  cases: Cases;
  git?: TrainModelOptions["git"];
}

/** Writes weights, vocabulary, training log and bundle.json into the work folder; the parameter count. */
async function writeBundle(work: string, b: BundleContents): Promise<number> {
  const { outcome, config } = b;
  const weights = encodeWeights(outcome.values, new Map(outcome.model.specs.map((s) => [s.name, s.shape])));
  const vocabulary = `${b.itemIds.slice(1).join("\n")}\n`;
  await writeFile(join(work, "weights.bin"), weights.data);
  await writeFile(join(work, "items.txt"), vocabulary);
  await writeFile(join(work, "training-log.jsonl"), outcome.history.map((h) => JSON.stringify(h)).join("\n") + "\n");
  const model = outcome.model;
  const reference = await monitoringReferenceOf({ numItems: model.numItems, score: (h) => model.scoreAsync(h) }, b.cases.split);
  const monitoring = await writeMonitoringReference(work, reference);
  const parameters = countParameters(outcome.model.params);
  const manifest: BundleManifest = {
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    recshipVersion: RECSHIP_VERSION,
    createdAt: new Date().toISOString(),
    model: { kind: "sasrec", config: config.model, parameters, configHash: stableHash(config.model) },
    vocabulary: { file: "items.txt", items: b.data.items, sha256: sha256Of(vocabulary) },
    data: b.data,
    ...(b.git && Object.values(b.git).some(Boolean) ? { git: b.git } : {}),
    weights: { file: "weights.bin", sha256: weights.sha256, bytes: weights.data.byteLength, tensors: weights.tensors },
    training: {
      config: config.train,
      backend: b.backend.description,
      workers: outcome.workers,
      epochs: outcome.history.length,
      bestEpoch: outcome.bestEpoch,
      stoppedBy: outcome.stoppedBy,
      trainSeconds: outcome.trainSeconds,
      sequencesPerSecond: outcome.sequencesPerSecond,
      log: "training-log.jsonl",
      validation: metricsBlock(b.kept.validation),
      test: metricsBlock(b.kept.test),
      popularity: { validation: metricsBlock(b.popularity.validation), test: metricsBlock(b.popularity.test) },
    },
    artifacts: { [MONITORING_ARTIFACT]: monitoring },
  };
  await writeManifest(work, manifest);
  return parameters;
}

function dataChecksOf(r: DataReport): NonNullable<TrainReport["dataChecks"]> {
  const flagged = r.checks.filter((c) => c.status === "error" || c.status === "warn").map((c) => c.name);
  return { passed: r.passed, errors: r.errors, warnings: r.warnings, headline: r.headline, seconds: r.seconds, flagged };
}

/** The finished work folder becomes `out`; an existing bundle there goes only once the new one is in place. */
async function swapIntoPlace(work: string, out: string): Promise<void> {
  await rm(join(work, "checkpoint"), { recursive: true, force: true });
  await mkdir(dirname(out), { recursive: true });
  if (!existsSync(out)) return rename(work, out);
  const previous = `${out}.previous-${process.pid}`;
  await rename(out, previous);
  await rename(work, out);
  await rm(previous, { recursive: true, force: true });
}

/** The `<out>.partial` folder: kept to resume, else an unfinished run's is discarded (with a warning). */
async function openWorkFolder(work: string, resume: boolean | undefined, warn: (message: string) => void): Promise<void> {
  if (!resume && existsSync(work)) {
    warn(`discarding the unfinished run in ${work} (pass --resume to continue it instead)`);
    await rm(work, { recursive: true, force: true });
  }
  await mkdir(work, { recursive: true });
}

/** train-model: read an interaction log, train SASRec, evaluate it beside popularity, write a bundle. */
export async function trainModel(options: TrainModelOptions): Promise<TrainReport> {
  const started = Date.now();
  const { log } = options;
  const out = resolve(options.out);
  const work = `${out}.partial`;
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    log.warn(message);
  };
  await refuseOccupiedOut(out, options.out, options.overwrite);
  // the config first: a typo in it is found in a second, before the log is read and validated
  const config = loadConfig(options.config, options.overrides);
  checkSampleSize(options.evalUsers, "eval-users");
  const checked = await checkData(options, out);
  const backend = await initBackend(options.backend ?? "auto", log);
  const { read, interactions } = await readLog(options);
  const seed = config.train.seed;
  const cases = splitLog(interactions, options.data, { size: options.evalUsers ?? 0, seed }, warn);
  const popularity = await popularityBaseline(cases, seed, log);
  const validSubset = validationSubset(cases, config.train.validationUsers);

  await openWorkFolder(work, options.resume, warn);
  const checkpointDir = options.checkpoint ? resolve(options.checkpoint) : join(work, "checkpoint");
  const outcome = await train({
    model: config.model,
    train: config.train,
    numItems: cases.split.numItems,
    trainSequences: cases.split.train,
    validation: validSubset,
    log,
    deadline: options.maxMinutes ? started + options.maxMinutes * 60_000 : undefined,
    scoredAfter: scoredAfterTraining(cases, validSubset),
    checkpointDir,
    resume: options.resume,
    workers: workerCount(options.workers, backend.name),
    backend: workerBackend(backend.name, options.backend ?? "auto"),
  });
  const kept = await evaluateKept(outcome, cases, validSubset === cases.validation, seed, log);
  const data = dataRecord(options, read, interactions, cases.split);
  const parameters = await writeBundle(work, {
    config,
    backend,
    outcome,
    data,
    itemIds: interactions.itemIds,
    kept,
    popularity,
    cases,
    git: options.git,
  });
  outcome.model.dispose();
  if (checked) await writeFile(join(work, PROFILE_FILE), `${JSON.stringify(checked.profile)}\n`);
  await swapIntoPlace(work, out);

  const wallSeconds = (Date.now() - started) / 1000;
  log.info(`bundle written to ${out} in ${formatDuration(wallSeconds)}`);
  return {
    step: "train",
    bundle: out,
    backend: backend.name,
    workers: outcome.workers,
    wallSeconds,
    trainSeconds: outcome.trainSeconds,
    sequencesPerSecond: outcome.sequencesPerSecond,
    epochs: outcome.history.length,
    bestEpoch: outcome.bestEpoch,
    stoppedBy: outcome.stoppedBy,
    parameters,
    config,
    data,
    validation: metricsBlock(kept.validation),
    test: metricsBlock(kept.test),
    popularity: metricsBlock(popularity.test),
    evaluation: cases.evaluation,
    history: outcome.history,
    warnings,
    ...(checked ? { dataChecks: dataChecksOf(checked) } : {}),
  };
}
