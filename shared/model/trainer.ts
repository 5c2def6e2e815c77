import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import { evaluate, type EvalCase, type EvalResult } from "../eval/evaluator.js";
import { Rng } from "../util/random.js";
import { stableHash } from "../util/hash.js";
import { formatDuration } from "../util/format.js";
import type { SasrecConfig, TrainConfig } from "./config.js";
import { epochBatches, trainingExamples } from "./batches.js";
import { batchLoss } from "./losses.js";
import { SasrecModel } from "./sasrec-model.js";
import { decodeWeights, encodeWeights, type TensorEntry } from "./weights-file.js";

export interface EpochRecord {
  epoch: number;
  loss: number;
  trainSeconds: number;
  validSeconds: number;
  sequencesPerSecond: number;
  valid: { ndcg10: number; hr10: number; mrr: number; sampledNdcg10?: number; sampledHr10?: number };
  /** Live tfjs tensors after the epoch: flat when nothing leaks. */
  tensors: number;
  rssMB: number;
}

export type StopReason = "epochs" | "early-stopping" | "time-budget";

export interface TrainerOptions {
  model: SasrecConfig;
  train: TrainConfig;
  numItems: number;
  /** Training part of each user's sequence. */
  trainSequences: Int32Array[];
  /** Validation cases (history = training part, target = second-to-last item). */
  validation: EvalCase[];
  log: Logger;
  /** Stop before an epoch that would end after this time (ms since epoch, Date.now()). */
  deadline?: number;
  /** Where the state of every finished epoch goes; `resume` continues from it exactly. */
  checkpointDir?: string;
  resume?: boolean;
  /** Stop after this many epochs in this call (tests use it to interrupt a run). */
  stopAfterEpochs?: number;
}

export interface TrainOutcome {
  model: SasrecModel;
  history: EpochRecord[];
  bestEpoch: number;
  bestValidNdcg10: number;
  stoppedBy: StopReason;
  trainSeconds: number;
  sequencesPerSecond: number;
  resumedFromEpoch: number;
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
  optimizer: TensorEntry[];
  /** Adam's running β1^t and β2^t. */
  adamBetaPowers: [number, number];
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

export async function train(options: TrainerOptions): Promise<TrainOutcome> {
  const { model: modelConfig, train: trainConfig, numItems, log } = options;
  const configHash = configHashOf(modelConfig, trainConfig, numItems);
  const model = new SasrecModel(modelConfig, numItems, undefined, trainConfig.seed);
  const shapes = new Map(model.specs.map((s) => [s.name, s.shape]));
  const optimizer = tf.train.adam(trainConfig.learningRate, 0.9, 0.98);
  const examples = trainingExamples(options.trainSequences, modelConfig.maxlen);
  if (examples.length === 0) {
    throw new RecshipError("no user has two or more training interactions, so there is nothing to learn from", {
      fix: "check the user/item columns and the event filter",
    });
  }

  let history: EpochRecord[] = [];
  let startEpoch = 0;
  let bestEpoch = -1;
  let bestScore = -Infinity;
  let sinceBest = 0;
  let best: Map<string, Float32Array> = model.values();
  const statePath = options.checkpointDir ? join(options.checkpointDir, "state.json") : undefined;

  if (options.resume) {
    if (!statePath || !existsSync(statePath)) {
      throw new RecshipError(`--resume was given but there is no checkpoint in ${options.checkpointDir ?? "(no checkpoint folder)"}`, {
        fix: "drop --resume to start afresh, or point --out at the bundle folder of the interrupted run",
      });
    }
    const state = JSON.parse(await readFile(statePath, "utf8")) as CheckpointState;
    if (state.configHash !== configHash) {
      throw new RecshipError("the checkpoint was written with a different model/training config or data", {
        where: statePath,
        fix: "resume with the same config and data, or drop --resume",
      });
    }
    const dir = options.checkpointDir!;
    model.assign(decodeWeights(await readFile(join(dir, "params.bin")), state.params, undefined, join(dir, "params.bin")));
    best = decodeWeights(await readFile(join(dir, "best.bin")), state.params, undefined, join(dir, "best.bin"));
    const opt = decodeWeights(await readFile(join(dir, "optimizer.bin")), state.optimizer, undefined, join(dir, "optimizer.bin"));
    const restored = state.optimizer.map((t) => ({ name: t.name, tensor: tf.tensor(opt.get(t.name)!, t.shape) }));
    await optimizer.setWeights(restored);
    restored.forEach((w) => w.tensor.dispose()); // setWeights copied them into variables
    // setWeights recomputes β^t with pow(); restore the running products bit for bit instead
    const betaPowers = optimizer as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
    tf.tidy(() => {
      betaPowers.accBeta1.assign(tf.scalar(state.adamBetaPowers[0]));
      betaPowers.accBeta2.assign(tf.scalar(state.adamBetaPowers[1]));
    });
    history = state.history;
    startEpoch = state.epoch + 1;
    bestEpoch = state.bestEpoch;
    bestScore = state.bestScore;
    sinceBest = state.sinceBest;
    log.info(`resuming after epoch ${state.epoch + 1} (best validation NDCG@10 ${bestScore.toFixed(4)} at epoch ${bestEpoch + 1})`);
  }

  let stoppedBy: StopReason = "epochs";
  let lastValidation: EvalResult | undefined;
  let bestValidation: EvalResult | undefined;
  let epochsThisCall = 0;
  const started = Date.now();
  for (let epoch = startEpoch; epoch < trainConfig.epochs; epoch++) {
    const last = history[history.length - 1];
    // the epoch, its validation, and one more evaluation of that size (the caller's test run) must fit
    if (options.deadline && last && Date.now() + 1000 * (last.trainSeconds + 2 * last.validSeconds + 5) > options.deadline) {
      stoppedBy = "time-budget";
      log.info(`stopping before epoch ${epoch + 1}: the next epoch would overrun the time budget`);
      break;
    }
    if (options.stopAfterEpochs !== undefined && epochsThisCall >= options.stopAfterEpochs) break;
    const record = await log.group(`epoch ${epoch + 1}/${trainConfig.epochs}`, async () => {
      const rng = new Rng(`epoch:${trainConfig.seed}:${epoch}`);
      const batches = epochBatches(examples, trainConfig.batchTokens, rng);
      const t0 = performance.now();
      let lossSum = 0;
      let tokens = 0;
      let lastReport = t0;
      for (let b = 0; b < batches.length; b++) {
        const batch = batches[b];
        const loss = optimizer.minimize(
          () => batchLoss(model.params, modelConfig, trainConfig, numItems, batch, rng),
          true,
          model.variables(),
        )!;
        const value = loss.dataSync()[0];
        loss.dispose();
        if (!Number.isFinite(value)) {
          throw new Error(`training diverged: loss ${value} at epoch ${epoch + 1}, batch ${b + 1} (try a lower learningRate)`);
        }
        lossSum += value * batch.tokens;
        tokens += batch.tokens;
        const now = performance.now();
        if (now - lastReport > 15000) {
          lastReport = now;
          const done = (b + 1) / batches.length;
          log.info(
            `  epoch ${epoch + 1} ${Math.round(done * 100)}% loss ${(lossSum / tokens).toFixed(4)} ` +
              `${Math.round((examples.length * done) / ((now - t0) / 1000))} seq/s, epoch ETA ${formatDuration(((now - t0) / done - (now - t0)) / 1000)}`,
          );
        }
      }
      const trainSeconds = (performance.now() - t0) / 1000;
      const t1 = performance.now();
      const valid = await evaluate(model, options.validation, { seed: trainConfig.seed, sampledNegatives: 100 });
      const validSeconds = (performance.now() - t1) / 1000;
      lastValidation = valid;
      return {
        epoch: epoch + 1,
        loss: lossSum / tokens,
        trainSeconds,
        validSeconds,
        sequencesPerSecond: examples.length / trainSeconds,
        valid: {
          ndcg10: valid.full.ndcg10,
          hr10: valid.full.hr10,
          mrr: valid.full.mrr,
          sampledNdcg10: valid.sampled?.ndcg10,
          sampledHr10: valid.sampled?.hr10,
        },
        tensors: tf.memory().numTensors,
        rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
      } satisfies EpochRecord;
    });
    history.push(record);
    epochsThisCall++;
    const improved = record.valid.ndcg10 > bestScore;
    if (improved) {
      bestScore = record.valid.ndcg10;
      bestEpoch = epoch;
      sinceBest = 0;
      best = model.values();
      bestValidation = lastValidation;
    } else {
      sinceBest++;
    }
    const elapsed = (Date.now() - started) / 1000;
    const remainingEpochs = trainConfig.epochs - epoch - 1;
    const perEpoch = record.trainSeconds + record.validSeconds;
    const budgetLeft = options.deadline ? Math.max(0, (options.deadline - Date.now()) / 1000) : Infinity;
    log.info(
      `epoch ${record.epoch}/${trainConfig.epochs} loss ${record.loss.toFixed(4)} ` +
        `valid NDCG@10 ${record.valid.ndcg10.toFixed(4)} HR@10 ${record.valid.hr10.toFixed(4)} ` +
        `(sampled NDCG@10 ${record.valid.sampledNdcg10?.toFixed(4) ?? "-"})${improved ? " *" : ""} ` +
        `${Math.round(record.sequencesPerSecond)} seq/s, ${formatDuration(elapsed)} elapsed, ` +
        `ETA ${formatDuration(Math.min(remainingEpochs * perEpoch, budgetLeft))}`,
    );
    if (options.checkpointDir) {
      const params = encodeWeights(model.values(), shapes);
      const bestData = encodeWeights(best, shapes);
      const optWeights = await optimizer.getWeights();
      const optValues = new Map<string, Float32Array>();
      const optShapes = new Map<string, number[]>();
      for (const w of optWeights) {
        // the iteration counter is int32: store every value as float32 (exact for counts < 2^24)
        optValues.set(w.name, Float32Array.from(await w.tensor.data()));
        optShapes.set(w.name, w.tensor.shape);
      }
      // getWeights makes a fresh scalar for the iteration count; the rest are the live moment variables
      optWeights.filter((w) => w.name === "iter").forEach((w) => w.tensor.dispose());
      const opt = encodeWeights(optValues, optShapes);
      const betaPowers = optimizer as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
      const adamBetaPowers: [number, number] = [betaPowers.accBeta1.dataSync()[0], betaPowers.accBeta2.dataSync()[0]];
      await writeCheckpoint(
        options.checkpointDir,
        { configHash, epoch, bestEpoch, bestScore, sinceBest, history, params: params.tensors, optimizer: opt.tensors, adamBetaPowers },
        params.data,
        bestData.data,
        opt.data,
      );
    }
    if (sinceBest >= trainConfig.patience) {
      stoppedBy = "early-stopping";
      log.info(`early stopping: no better validation NDCG@10 for ${trainConfig.patience} epochs`);
      break;
    }
  }
  optimizer.dispose();
  model.assign(best);
  const trainSeconds = history.reduce((s, h) => s + h.trainSeconds, 0);
  const sequences = history.length * examples.length;
  return {
    model,
    history,
    bestEpoch: bestEpoch + 1,
    bestValidNdcg10: bestScore,
    stoppedBy,
    trainSeconds,
    sequencesPerSecond: trainSeconds > 0 ? sequences / trainSeconds : 0,
    resumedFromEpoch: startEpoch,
    bestValidation,
  };
}
