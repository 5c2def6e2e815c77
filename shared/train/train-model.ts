import { existsSync } from "node:fs";
import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import { readInteractions, type ReadOptions } from "../data/readers.js";
import { kCoreFilter, leaveOneOut, testHistory } from "../data/split.js";
import { evaluate, type EvalCase, type EvalResult } from "../eval/evaluator.js";
import { PopularityScorer } from "../eval/popularity.js";
import { initBackend, type BackendPreference } from "../model/backend.js";
import { loadConfig, type ConfigOverrides, type RecshipConfig } from "../model/config.js";
import { countParameters } from "../model/sasrec.js";
import { train, type EpochRecord } from "../model/trainer.js";
import { encodeWeights } from "../model/weights-file.js";
import { MANIFEST_FILE, BUNDLE_SCHEMA_VERSION, type BundleManifest, type MetricsBlock } from "../bundle/manifest.js";
import { sha256Of, writeManifest } from "../bundle/bundle-io.js";
import { stableHash } from "../util/hash.js";
import { formatDuration } from "../util/format.js";
import { defaultTrainWorkers } from "../util/cpu-budget.js";
import { RECSHIP_VERSION } from "../version.js";

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
  resume?: boolean;
  /** Replace an existing bundle in `out` (the old one is kept until the new one is complete). */
  overwrite?: boolean;
  git?: { sha?: string; ref?: string; repository?: string };
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
  history: EpochRecord[];
  warnings: string[];
}

/** The worker count asked for, checked, or the default for this backend and machine. */
export function trainWorkers(given: number | undefined, backend: string): number {
  if (given === undefined) return defaultTrainWorkers(backend);
  if (!Number.isInteger(given) || given < 0 || given > 256) {
    throw new RecshipError(`workers must be a whole number from 0 to 256, got ${given}`, {
      fix: "leave it out for one worker per usable core, or give 0 to train on the main thread",
    });
  }
  return given;
}

/** What the workers load: the backend this thread resolved to (auto must not pick another in a worker). */
function workerBackend(name: string, preference: BackendPreference): BackendPreference {
  return name === "wasm" || name === "cpu" ? name : preference;
}

function metricsBlock(r: EvalResult): MetricsBlock {
  return { full: r.full, sampled: r.sampled, users: r.users };
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

  // refuse early, before hours of training, if we could not deliver the result
  if (existsSync(out) && !options.overwrite) {
    const entries = await readdir(out);
    if (entries.length > 0) {
      throw new RecshipError(
        entries.includes(MANIFEST_FILE) ? `"${options.out}" already holds a model bundle` : `"${options.out}" exists and is not empty`,
        { fix: "choose another --out folder, or pass --overwrite to replace it (the old one stays until the new one is complete)" },
      );
    }
  }
  const config = loadConfig(options.config, options.overrides);
  const backend = await initBackend(options.backend ?? "auto", log);

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
  const split = leaveOneOut(interactions);
  if (split.singleInteractionUsers > 0) {
    warn(`${split.singleInteractionUsers} users have a single interaction: they are left out of training and evaluation`);
  }
  if (split.twoInteractionUsers > 0) {
    warn(`${split.twoInteractionUsers} users have two interactions: they train but are left out of evaluation (leave-one-out needs 3)`);
  }
  if (split.evalUsers.length === 0) {
    throw new RecshipError("no user has the 3 or more interactions that leave-one-out evaluation needs", {
      where: options.data,
      fix: "check the user column, the event filter, or supply a longer log",
    });
  }

  const validation: EvalCase[] = Array.from(split.evalUsers, (u) => ({
    user: u,
    history: split.train[u],
    target: split.validTarget[u],
    interacted: interactions.sequences[u],
  }));
  const testCases: EvalCase[] = Array.from(split.evalUsers, (u) => ({
    user: u,
    history: testHistory(split, u),
    target: split.testTarget[u],
    interacted: interactions.sequences[u],
  }));
  const seed = config.train.seed;
  const popularityTrain = new PopularityScorer(split.train, split.numItems);
  const popularityValid = await evaluate(popularityTrain, validation, { seed });
  const popularityTest = await evaluate(
    new PopularityScorer(
      testCases.map((c) => c.history),
      split.numItems,
    ),
    testCases,
    { seed },
  );
  log.info(
    `popularity baseline, test: NDCG@10 ${popularityTest.full.ndcg10.toFixed(4)} (sampled ${popularityTest.sampled?.ndcg10.toFixed(4)})`,
  );

  let validSubset = validation;
  if (config.train.validationUsers > 0 && config.train.validationUsers < validation.length) {
    const step = validation.length / config.train.validationUsers;
    validSubset = Array.from({ length: config.train.validationUsers }, (_, i) => validation[Math.floor(i * step)]);
  }

  if (!options.resume && existsSync(work)) {
    warn(`discarding the unfinished run in ${work} (pass --resume to continue it instead)`);
    await rm(work, { recursive: true, force: true });
  }
  await mkdir(work, { recursive: true });
  const deadline = options.maxMinutes ? started + options.maxMinutes * 60_000 : undefined;
  const workers = trainWorkers(options.workers, backend.name);
  const outcome = await train({
    model: config.model,
    train: config.train,
    numItems: split.numItems,
    trainSequences: split.train,
    validation: validSubset,
    log,
    deadline,
    checkpointDir: join(work, "checkpoint"),
    resume: options.resume,
    workers,
    backend: workerBackend(backend.name, options.backend ?? "auto"),
  });
  const model = outcome.model;
  const scorer = { numItems: model.numItems, score: (h: Int32Array[]) => model.scoreAsync(h) };
  // the trainer already evaluated the kept weights on the full validation set, unless it used a subset
  const validFinal =
    validSubset === validation && outcome.bestValidation ? outcome.bestValidation : await evaluate(scorer, validation, { seed });
  const testResult = await evaluate(scorer, testCases, { seed });
  log.info(
    `test: NDCG@10 ${testResult.full.ndcg10.toFixed(4)} HR@10 ${testResult.full.hr10.toFixed(4)} MRR ${testResult.full.mrr.toFixed(4)}; ` +
      `sampled-100 NDCG@10 ${testResult.sampled?.ndcg10.toFixed(4)} HR@10 ${testResult.sampled?.hr10.toFixed(4)}`,
  );

  // write the bundle into the work folder, then swap it into place
  const shapes = new Map(model.specs.map((s) => [s.name, s.shape]));
  const weights = encodeWeights(outcome.values, shapes);
  const vocabulary = `${interactions.itemIds.slice(1).join("\n")}\n`;
  await writeFile(join(work, "weights.bin"), weights.data);
  await writeFile(join(work, "items.txt"), vocabulary);
  await writeFile(join(work, "training-log.jsonl"), outcome.history.map((h) => JSON.stringify(h)).join("\n") + "\n");
  const parameters = countParameters(model.params);
  const data: BundleManifest["data"] = {
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
      }),
    ) as NonNullable<BundleManifest["data"]["read"]>,
  };
  const manifest: BundleManifest = {
    schemaVersion: BUNDLE_SCHEMA_VERSION,
    recshipVersion: RECSHIP_VERSION,
    createdAt: new Date().toISOString(),
    model: { kind: "sasrec", config: config.model, parameters, configHash: stableHash(config.model) },
    vocabulary: { file: "items.txt", items: split.numItems, sha256: sha256Of(vocabulary) },
    data,
    ...(options.git && Object.values(options.git).some(Boolean) ? { git: options.git } : {}),
    weights: { file: "weights.bin", sha256: weights.sha256, bytes: weights.data.byteLength, tensors: weights.tensors },
    training: {
      config: config.train,
      backend: backend.description,
      workers: outcome.workers,
      epochs: outcome.history.length,
      bestEpoch: outcome.bestEpoch,
      stoppedBy: outcome.stoppedBy,
      trainSeconds: outcome.trainSeconds,
      sequencesPerSecond: outcome.sequencesPerSecond,
      log: "training-log.jsonl",
      validation: metricsBlock(validFinal),
      test: metricsBlock(testResult),
      popularity: { validation: metricsBlock(popularityValid), test: metricsBlock(popularityTest) },
    },
    artifacts: {},
  };
  await writeManifest(work, manifest);
  model.dispose();
  await rm(join(work, "checkpoint"), { recursive: true, force: true });
  await mkdir(dirname(out), { recursive: true });
  if (existsSync(out)) {
    const previous = `${out}.previous-${process.pid}`;
    await rename(out, previous);
    await rename(work, out);
    await rm(previous, { recursive: true, force: true });
  } else {
    await rename(work, out);
  }
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
    validation: metricsBlock(validFinal),
    test: metricsBlock(testResult),
    popularity: metricsBlock(popularityTest),
    history: outcome.history,
    warnings,
  };
}
