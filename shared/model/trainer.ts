import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import { evaluate, scoreBatchRows, type EvalCase, type EvalResult } from "../eval/evaluator.js";
import { Rng } from "../util/random.js";
import { stableHash } from "../util/hash.js";
import { formatDuration } from "../util/format.js";
import type { SasrecConfig, TrainConfig } from "./config.js";
import { lengthBuckets, makeBatch, trainingExamples } from "./batches.js";
import type { BackendPreference } from "./backend.js";
import { ADAM_DEFAULTS } from "./flat-params.js";
import { drawLoss, negativeSourceFor } from "./losses.js";
import type { NegativeSource } from "./negatives.js";
import { StepPipeline, type TrainingEngine } from "./parallel/engine.js";
import { openEngine } from "./parallel/open-engine.js";
import { SasrecModel } from "./sasrec-model.js";
import { initialValues, paramSpecs } from "./sasrec.js";
import { decodeWeights, encodeWeights, type TensorEntry } from "./weights-file.js";

export interface EpochRecord {
  epoch: number;
  loss: number;
  trainSeconds: number;
  validSeconds: number;
  sequencesPerSecond: number;
  /** Adam's learning rate for the epoch (the schedule's; absent in records written before it was kept). */
  learningRate?: number;
  /**
   * Share of the epoch's sequences trained, when the time budget cut it short (absent: all): at
   * millions of users one epoch can outlast a budget, and a budget is kept mid-epoch.
   */
  partial?: number;
  valid: {
    ndcg10: number;
    hr10: number;
    mrr: number;
    maskedNdcg10: number;
    maskedHr10: number;
    sampledNdcg10?: number;
    sampledHr10?: number;
  };
  /** Live tfjs tensors after the epoch: flat when nothing leaks. */
  tensors: number;
  rssMB: number;
}

type StopReason = "epochs" | "early-stopping" | "time-budget";

export interface TrainerOptions {
  model: SasrecConfig;
  train: TrainConfig;
  numItems: number;
  /** Training part of each user's sequence. */
  trainSequences: Int32Array[];
  /** Validation cases (history = training part, target = second-to-last item). */
  validation: EvalCase[];
  log: Logger;
  /**
   * The time budget's end (ms since epoch, Date.now()): no epoch starts that would end after it,
   * and an epoch still running when only its validation's time is left stops there (partial).
   */
  deadline?: number;
  /** Where the state of every finished epoch goes; `resume` continues from it exactly. */
  checkpointDir?: string;
  resume?: boolean;
  /**
   * Histories the caller scores on this thread once training ends (its test evaluation, the
   * monitoring reference): their time, estimated from the validation's, is kept out of the budget
   * too. Absent: one more evaluation the size of the validation.
   */
  scoredAfter?: number;
  /** Stop this call's first epoch after this many batches, as the time budget would (tests use it to cut an epoch short). */
  stopAfterBatches?: number;
  /** Stop after this many epochs in this call (tests use it to interrupt a run). */
  stopAfterEpochs?: number;
  /** Data-parallel worker threads, each with its own tfjs engine; 0 (default) trains on this thread. */
  workers?: number;
  /** The tfjs backend the workers load (this thread's is already initialised). */
  backend?: BackendPreference;
}

export interface TrainOutcome {
  model: SasrecModel;
  /** The kept (best) weights, as the model holds them. */
  values: Map<string, Float32Array>;
  history: EpochRecord[];
  bestEpoch: number;
  bestValidNdcg10: number;
  stoppedBy: StopReason;
  trainSeconds: number;
  sequencesPerSecond: number;
  resumedFromEpoch: number;
  /** Worker threads that trained (0: this thread). */
  workers: number;
  /** The validation evaluation of the kept (best) weights, when it ran in this call. */
  bestValidation?: EvalResult;
}

interface CheckpointState {
  configHash: string;
  epoch: number;
  bestEpoch: number;
  bestScore: number;
  sinceBest: number;
  history: EpochRecord[];
  params: TensorEntry[];
  /** Adam's moments `m` and `v` in the flat layout of the learned parameters. */
  optimizer: TensorEntry[];
  /** Adam's step count t (its bias corrections are β^t). */
  optimizerSteps: number;
  /** Worker threads of the run that wrote it (a resume with another count is equivalent, not bit-identical). */
  workers: number;
  /** The schedule's learning rate after this epoch (absent in checkpoints written before schedules). */
  learningRate?: number;
  /** The time budget cut `epoch` short after this many of its batches (absent: the epoch finished); a resume trains the rest. */
  epochBatches?: number;
}

function configHashOf(model: SasrecConfig, train: TrainConfig, numItems: number): string {
  return stableHash({ model, train: { ...train, epochs: undefined, patience: undefined }, numItems });
}

async function writeCheckpoint(dir: string, state: CheckpointState, params: Buffer, best: Buffer, optimizer: Buffer): Promise<void> {
  const tmp = `${dir}.tmp`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  await writeFile(join(tmp, "params.bin"), params);
  await writeFile(join(tmp, "best.bin"), best);
  await writeFile(join(tmp, "optimizer.bin"), optimizer);
  await writeFile(join(tmp, "state.json"), JSON.stringify(state));
  const old = `${dir}.old`;
  if (existsSync(dir)) await rename(dir, old);
  await rename(tmp, dir);
  await rm(old, { recursive: true, force: true });
}

/** The engine that runs the steps: worker threads, or this thread. */
function engineFor(options: TrainerOptions, values: Map<string, Float32Array>): Promise<TrainingEngine> {
  return openEngine({
    workers: options.workers ?? 0,
    model: options.model,
    train: options.train,
    numItems: options.numItems,
    values,
    adam: { learningRate: options.train.learningRate, ...ADAM_DEFAULTS, weightDecay: options.train.weightDecay ?? 0 },
    backend: options.backend ?? "auto",
    log: options.log,
  });
}

interface Progress {
  startEpoch: number;
  /** Batches of startEpoch already trained (a run the budget cut mid-epoch): the resume trains the rest. */
  startBatch: number;
  history: EpochRecord[];
  bestEpoch: number;
  bestScore: number;
  sinceBest: number;
  best: Map<string, Float32Array>;
  /** The learning rate the next epoch trains with. */
  learningRate: number;
}

/** Reads the checkpoint of an interrupted run into the engine; its progress. */
async function resumeFrom(options: TrainerOptions, configHash: string, engine: TrainingEngine): Promise<Progress> {
  const dir = options.checkpointDir;
  const statePath = dir ? join(dir, "state.json") : undefined;
  if (!dir || !statePath || !existsSync(statePath)) {
    throw new RecshipError(`--resume was given but there is no checkpoint in ${dir ?? "(no checkpoint folder)"}`, {
      fix: "drop --resume to start afresh, or point --out at the bundle folder of the interrupted run",
    });
  }
  const state = JSON.parse(await readFile(statePath, "utf8")) as CheckpointState;
  if (state.configHash !== configHash || state.optimizerSteps === undefined) {
    throw new RecshipError("the checkpoint was written with a different model/training config, data or recship version", {
      where: statePath,
      fix: "resume with the same config and data, or drop --resume",
    });
  }
  const read = async (file: string, index: TensorEntry[]) =>
    decodeWeights(await readFile(join(dir, file)), index, undefined, join(dir, file));
  const opt = await read("optimizer.bin", state.optimizer);
  await engine.restore(await read("params.bin", state.params), { steps: state.optimizerSteps, m: opt.get("m")!, v: opt.get("v")! });
  const workers = options.workers ?? 0;
  options.log.info(
    `resuming after epoch ${state.epoch + (state.epochBatches !== undefined ? 0 : 1)} (best validation NDCG@10 ${state.bestScore.toFixed(4)} at epoch ${state.bestEpoch + 1})` +
      (state.workers !== workers ? `; it ran with ${state.workers} workers, now ${workers}: equivalent steps, not bit-identical` : ""),
  );
  const cut = state.epochBatches;
  if (cut !== undefined)
    options.log.info(`resuming epoch ${state.epoch + 1} after its first ${cut} batches (the time budget had cut it short)`);
  return {
    startEpoch: cut !== undefined ? state.epoch : state.epoch + 1,
    startBatch: cut ?? 0,
    history: state.history,
    bestEpoch: state.bestEpoch,
    bestScore: state.bestScore,
    sinceBest: state.sinceBest,
    best: await read("best.bin", state.params),
    learningRate: state.learningRate ?? options.train.learningRate,
  };
}

async function saveCheckpoint(
  dir: string,
  engine: TrainingEngine,
  shapes: Map<string, number[]>,
  progress: Progress,
  epoch: number,
  configHash: string,
  epochBatches?: number,
) {
  const params = encodeWeights(engine.values(), shapes);
  const bestData = encodeWeights(progress.best, shapes);
  const { steps, m, v } = engine.optimizerState();
  const total = [engine.layout.total];
  const opt = encodeWeights(
    new Map([
      ["m", m],
      ["v", v],
    ]),
    new Map([
      ["m", total],
      ["v", total],
    ]),
  );
  const state: CheckpointState = {
    configHash,
    epoch,
    bestEpoch: progress.bestEpoch,
    bestScore: progress.bestScore,
    sinceBest: progress.sinceBest,
    history: progress.history,
    params: params.tensors,
    optimizer: opt.tensors,
    optimizerSteps: steps,
    workers: engine.workers,
    learningRate: progress.learningRate,
    ...(epochBatches !== undefined ? { epochBatches } : {}),
  };
  await writeCheckpoint(dir, state, params.data, bestData.data, opt.data);
}

/** One epoch of steps over length-bucketed batches; its mean loss. */
async function runEpoch(
  engine: TrainingEngine,
  options: TrainerOptions,
  examples: Int32Array[],
  epoch: number,
  negatives: NegativeSource,
  cut: { stopAt?: number; startBatch: number; stopAfterBatches?: number },
): Promise<{ loss: number; sequences: number; done: number; batches: number; complete: boolean }> {
  const { train: trainConfig, numItems, log } = options;
  const rng = new Rng(`epoch:${trainConfig.seed}:${epoch}`);
  // the groups up front (they consume the epoch's shuffles), each batch's arrays only when its step is sent:
  // at 10^8 events an epoch's batches would hold ~800 MB
  const groups = lengthBuckets(examples, trainConfig.batchTokens, rng);
  const t0 = performance.now();
  let lossSum = 0;
  let tokens = 0;
  let lastReport = t0;
  const pipeline = new StepPipeline(engine, (value: number, { b, batchTokens }: { b: number; batchTokens: number }) => {
    if (!Number.isFinite(value)) {
      throw new Error(`training diverged: loss ${value} at epoch ${epoch + 1}, batch ${b + 1} (try a lower learningRate)`);
    }
    lossSum += value * batchTokens;
    tokens += batchTokens;
    const now = performance.now();
    if (now - lastReport > 15000) {
      lastReport = now;
      const done = (b + 1) / groups.length;
      log.info(
        `  epoch ${epoch + 1} ${Math.round(done * 100)}% loss ${(lossSum / tokens).toFixed(4)} ` +
          `${Math.round((examples.length * done) / ((now - t0) / 1000))} seq/s, epoch ETA ${formatDuration(((now - t0) / done - (now - t0)) / 1000)}`,
      );
    }
  });
  let sequences = 0;
  // a resumed epoch: the batches trained before the cut draw their negatives again, so the rest's draws are the uninterrupted run's
  let done = 0;
  for (let b = 0; b < cut.startBatch; b++) {
    const batch = makeBatch(groups[b].map((i) => examples[i]));
    drawLoss(trainConfig, numItems, batch, rng, negatives);
    done += batch.batch;
  }
  let b = cut.startBatch;
  try {
    for (; b < groups.length; b++) {
      const trained = b - cut.startBatch;
      if (trained > 0 && ((cut.stopAt !== undefined && Date.now() > cut.stopAt) || trained === cut.stopAfterBatches)) {
        log.info(`  stopping epoch ${epoch + 1} after ${Math.round((100 * (done + sequences)) / examples.length)}% of it: the time budget`);
        break;
      }
      const batch = makeBatch(groups[b].map((i) => examples[i]));
      sequences += batch.batch;
      await pipeline.push(
        { kind: "sasrec", input: { batch, rowOffset: 0, draws: drawLoss(trainConfig, numItems, batch, rng, negatives) } },
        { b, batchTokens: batch.tokens },
      );
    }
    await pipeline.drain();
  } catch (error) {
    await pipeline.abandon();
    throw error;
  }
  return { loss: lossSum / tokens, sequences, done: done + sequences, batches: b, complete: b === groups.length };
}

/**
 * When a running epoch must stop to leave its validation and what the caller scores afterwards
 * (`after` validations' worth, but at most a third of the time left: at 10^6 items one thread
 * scored a history three times faster than the workers' validation, and a reserve larger than the
 * budget would train nothing) inside the budget, and 5 s; a sixth of the time left when there
 * is no validation time to go by.
 */
export function epochStopTime(deadline: number | undefined, now: number, validSeconds: number | undefined, after = 1): number | undefined {
  if (deadline === undefined) return undefined;
  if (validSeconds === undefined) return deadline - (deadline - now) / 6 - 5000;
  const afterwards = Math.min(1000 * validSeconds * after, (deadline - now) / 3);
  return deadline - 1000 * validSeconds - afterwards - 5000;
}

/**
 * The caller's scoring after training in validations' worth, at the validation's rate per
 * history: an upper bound (in bench:scale's training at 10^6 items one thread scored a history three
 * times faster than the workers' validation; not the scores crossing threads: a probe ranking in the
 * workers changed nothing), which epochStopTime caps.
 */
export function scoringAfter(options: Pick<TrainerOptions, "scoredAfter" | "validation">): number {
  if (options.scoredAfter === undefined || options.validation.length === 0) return 1;
  return options.scoredAfter / options.validation.length;
}

/**
 * A first epoch under a time budget has no validation to go by: the time of one small scoring
 * batch of validation cases, scaled to all of them (at a million items a validation of a few
 * thousand users takes tens of seconds, more than any fixed margin).
 */
async function estimateValidSeconds(engine: TrainingEngine, options: TrainerOptions): Promise<number | undefined> {
  if (options.deadline === undefined || options.validation.length === 0) return undefined;
  const rows = scoreBatchRows(options.numItems, 32) * Math.max(1, engine.concurrency ?? 1);
  const probe = options.validation.slice(0, Math.min(options.validation.length, rows));
  const settings = { seed: options.train.seed, sampledNegatives: 100 };
  await evaluate(engine, probe, settings); // warm-up: the first scoring call loads the table and compiles
  const t0 = performance.now();
  await evaluate(engine, probe, settings);
  return ((performance.now() - t0) / 1000) * (options.validation.length / probe.length);
}

/** One epoch's training and its validation (full ranking, and 100 sampled negatives), as the epoch's record. */
async function trainAndValidate(
  engine: TrainingEngine,
  options: TrainerOptions,
  examples: ReturnType<typeof trainingExamples>,
  epoch: number,
  negatives: NegativeSource,
  lastValidSeconds: number | undefined,
  resume: { startBatch: number; stopAfterBatches?: number },
): Promise<{ record: EpochRecord; valid: EvalResult; cutAfter?: number }> {
  const t0 = performance.now();
  const stopAt = epochStopTime(options.deadline, Date.now(), lastValidSeconds, scoringAfter(options));
  const { loss, sequences, done, batches, complete } = await runEpoch(engine, options, examples, epoch, negatives, { stopAt, ...resume });
  const trainSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const valid = await evaluate(engine, options.validation, { seed: options.train.seed, sampledNegatives: 100 });
  const validSeconds = (performance.now() - t1) / 1000;
  const record: EpochRecord = {
    epoch: epoch + 1,
    loss,
    trainSeconds,
    validSeconds,
    sequencesPerSecond: sequences / trainSeconds,
    ...(complete ? {} : { partial: done / examples.length }),
    valid: {
      ndcg10: valid.full.ndcg10,
      hr10: valid.full.hr10,
      mrr: valid.full.mrr,
      maskedNdcg10: valid.fullMasked.ndcg10,
      maskedHr10: valid.fullMasked.hr10,
      sampledNdcg10: valid.sampled?.ndcg10,
      sampledHr10: valid.sampled?.hr10,
    },
    tensors: tf.memory().numTensors,
    rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
  };
  return { record, valid, ...(complete ? {} : { cutAfter: batches }) };
}

/**
 * One record for an epoch the budget cut and a resume finished: the later part's validation, the
 * time of both, the loss and speed weighted by the share of the epoch each part trained.
 */
function joinEpochRecords(before: EpochRecord, after: EpochRecord): EpochRecord {
  const first = before.partial ?? 0;
  const second = (after.partial ?? 1) - first;
  const trainSeconds = before.trainSeconds + after.trainSeconds;
  const sequences = before.sequencesPerSecond * before.trainSeconds + after.sequencesPerSecond * after.trainSeconds;
  return {
    ...after,
    loss: first + second > 0 ? (before.loss * first + after.loss * second) / (first + second) : after.loss,
    trainSeconds,
    sequencesPerSecond: trainSeconds > 0 ? sequences / trainSeconds : 0,
  };
}

export async function train(options: TrainerOptions): Promise<TrainOutcome> {
  const { model: modelConfig, train: trainConfig, numItems, log } = options;
  const configHash = configHashOf(modelConfig, trainConfig, numItems);
  const specs = paramSpecs(modelConfig, numItems);
  const shapes = new Map(specs.map((s) => [s.name, s.shape]));
  const examples = trainingExamples(options.trainSequences, modelConfig.maxlen);
  if (examples.length === 0) {
    throw new RecshipError("no user has two or more training interactions, so there is nothing to learn from", {
      fix: "check the user/item columns and the event filter",
    });
  }
  const negatives = negativeSourceFor(trainConfig, numItems, options.trainSequences);
  const engine = await engineFor(options, initialValues(specs, trainConfig.seed));
  if (engine.workers > 0) log.info(`data-parallel training on ${engine.workers} worker threads`);
  try {
    const progress = options.resume ? await resumeFrom(options, configHash, engine) : freshProgress(engine, trainConfig);
    engine.setLearningRate(progress.learningRate);
    const { history, startEpoch } = progress;
    let startBatch = progress.startBatch;
    let stoppedBy: StopReason = "epochs";
    let bestValidation: EvalResult | undefined;
    let epochsThisCall = 0;
    const started = Date.now();
    const firstValidEstimate = history.length === 0 ? await estimateValidSeconds(engine, options) : undefined;
    for (let epoch = startEpoch; epoch < trainConfig.epochs; epoch++) {
      const last = history[history.length - 1];
      if (options.stopAfterEpochs !== undefined && epochsThisCall >= options.stopAfterEpochs) break;
      const before = stopBefore(options, engine, progress, epoch);
      if (before) {
        stoppedBy = before;
        break;
      }
      if (trainConfig.lrSchedule === "cosine") {
        progress.learningRate = cosineRate(trainConfig, epoch);
        engine.setLearningRate(progress.learningRate);
      }
      const resume = { startBatch, stopAfterBatches: epochsThisCall === 0 ? options.stopAfterBatches : undefined };
      const { record, valid, cutAfter } = await log.group(`epoch ${epoch + 1}/${trainConfig.epochs}`, () =>
        trainAndValidate(engine, options, examples, epoch, negatives, last?.validSeconds ?? firstValidEstimate, resume),
      );
      // the second part of an epoch the budget cut: one record for the whole epoch
      const cutBefore = startBatch > 0 && last?.epoch === epoch + 1 && last.partial !== undefined ? history.pop() : undefined;
      record.learningRate = progress.learningRate;
      history.push(cutBefore ? joinEpochRecords(cutBefore, record) : record);
      startBatch = 0;
      epochsThisCall++;
      const improved = keepBest(engine, trainConfig, progress, record, epoch, log);
      if (improved) bestValidation = valid;
      logEpoch(log, record, trainConfig.epochs, improved, started, options.deadline);
      if (options.checkpointDir) await saveCheckpoint(options.checkpointDir, engine, shapes, progress, epoch, configHash, cutAfter);
      const stop = stopAfter(record, progress, trainConfig, log);
      if (stop) {
        stoppedBy = stop;
        break;
      }
    }
    const trainSeconds = history.reduce((s, h) => s + h.trainSeconds, 0);
    return {
      model: new SasrecModel(modelConfig, numItems, progress.best),
      values: progress.best,
      history,
      bestEpoch: progress.bestEpoch + 1,
      bestValidNdcg10: progress.bestScore,
      stoppedBy,
      trainSeconds,
      sequencesPerSecond: trainSeconds > 0 ? history.reduce((n, h) => n + h.sequencesPerSecond * h.trainSeconds, 0) / trainSeconds : 0,
      resumedFromEpoch: startEpoch,
      bestValidation,
      workers: engine.workers,
    };
  } finally {
    await engine.close();
  }
}

function freshProgress(engine: TrainingEngine, train: TrainConfig): Progress {
  const start = { startEpoch: 0, startBatch: 0, history: [], bestEpoch: -1, bestScore: -Infinity, sinceBest: 0 };
  return { ...start, best: engine.values(), learningRate: train.learningRate };
}

/** Why the run ends before an epoch, if it does: the epoch, its validation and the caller's scoring afterwards would not fit, or patience ran out before a resume. */
function stopBefore(options: TrainerOptions, engine: TrainingEngine, progress: Progress, epoch: number): StopReason | undefined {
  const last = progress.history[progress.history.length - 1];
  const stopAt = epochStopTime(options.deadline, Date.now(), last?.validSeconds, scoringAfter(options));
  if (last && Date.now() + 1000 * last.trainSeconds > (stopAt ?? Infinity)) {
    options.log.info(`stopping before epoch ${epoch + 1}: the next epoch would overrun the time budget`);
    return "time-budget";
  }
  // a resumed run that had stopped early stays stopped (more epochs would not be kept)
  return progress.sinceBest >= options.train.patience ? "early-stopping" : undefined;
}

/** Why the run ends after an epoch, if it does: the budget cut the epoch short, or patience ran out. */
function stopAfter(record: EpochRecord, progress: Progress, trainConfig: TrainConfig, log: Logger): StopReason | undefined {
  if (record.partial !== undefined) return "time-budget";
  if (progress.sinceBest < trainConfig.patience) return undefined;
  log.info(
    `early stopping: no better validation NDCG@10 (${trainConfig.selectBy === "masked" ? "history masked" : "all items"}) for ${trainConfig.patience} epochs`,
  );
  return "early-stopping";
}

/**
 * Book-keeping after an epoch's validation: a better score keeps these weights; otherwise one
 * more epoch without progress, and the schedule's learning rate. Whether the epoch improved.
 */
function keepBest(
  engine: TrainingEngine,
  train: TrainConfig,
  progress: Progress,
  record: EpochRecord,
  epoch: number,
  log: Logger,
): boolean {
  const score = train.selectBy === "masked" ? record.valid.maskedNdcg10 : record.valid.ndcg10;
  if (score > progress.bestScore) {
    Object.assign(progress, { bestScore: score, bestEpoch: epoch, sinceBest: 0, best: engine.values() });
    return true;
  }
  // part of an epoch (the budget cut it): not an epoch without progress; its resume finishes the epoch and counts
  if (record.partial !== undefined) return false;
  progress.sinceBest++;
  progress.learningRate = scheduledRate(train, progress, log);
  engine.setLearningRate(progress.learningRate);
  return false;
}

/**
 * The cosine schedule's rate for a (0-based) epoch: lr·½(1 + cos(π·epoch/E)) with E = lrEpochs
 * (absent: epochs), so the first epoch trains at lr and the last of E near 0; later epochs keep the last.
 */
export function cosineRate(train: Pick<TrainConfig, "learningRate" | "lrEpochs" | "epochs">, epoch: number): number {
  const horizon = train.lrEpochs ?? train.epochs;
  return train.learningRate * 0.5 * (1 + Math.cos((Math.PI * Math.min(epoch, horizon - 1)) / horizon));
}

/** The plateau schedule: the rate × lrDecay after every lrPatience epochs without a better score. */
export function scheduledRate(train: TrainConfig, progress: Pick<Progress, "sinceBest" | "learningRate">, log?: Logger): number {
  if (train.lrSchedule !== "plateau" || progress.sinceBest % (train.lrPatience ?? 3) !== 0) return progress.learningRate;
  const next = progress.learningRate * (train.lrDecay ?? 0.5);
  log?.info(
    `learning rate ${progress.learningRate.toPrecision(3)} → ${next.toPrecision(3)}: no better validation score for ${progress.sinceBest} epochs`,
  );
  return next;
}

function logEpoch(log: Logger, record: EpochRecord, epochs: number, improved: boolean, started: number, deadline?: number): void {
  const elapsed = (Date.now() - started) / 1000;
  const remainingEpochs = epochs - record.epoch;
  const perEpoch = record.trainSeconds + record.validSeconds;
  const budgetLeft = deadline ? Math.max(0, (deadline - Date.now()) / 1000) : Infinity;
  log.info(
    `epoch ${record.epoch}/${epochs} loss ${record.loss.toFixed(4)} ` +
      (record.learningRate !== undefined ? `lr ${record.learningRate.toPrecision(3)} ` : "") +
      `valid NDCG@10 ${record.valid.ndcg10.toFixed(4)} HR@10 ${record.valid.hr10.toFixed(4)} ` +
      `(masked ${record.valid.maskedNdcg10.toFixed(4)}, sampled ${record.valid.sampledNdcg10?.toFixed(4) ?? "-"})${improved ? " *" : ""} ` +
      `${Math.round(record.sequencesPerSecond)} seq/s, ${formatDuration(elapsed)} elapsed, ` +
      `ETA ${formatDuration(Math.min(remainingEpochs * perEpoch, budgetLeft))}`,
  );
}
