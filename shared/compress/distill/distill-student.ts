import { copyFile, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { LoadedBundle } from "../../bundle/bundle-io.js";
import { writeManifest } from "../../bundle/bundle-io.js";
import type { BundleManifest, MetricsBlock } from "../../bundle/manifest.js";
import { convertBundle, ONNX_FILE } from "../../convert/convert-bundle.js";
import { RecshipError } from "../../errors.js";
import { evaluate, type EvalCase } from "../../eval/evaluator.js";
import type { Logger } from "../../log.js";
import { initBackend, type BackendPreference } from "../../model/backend.js";
import { trainingExamples } from "../../model/batches.js";
import { DEFAULT_CONFIG, type SasrecConfig } from "../../model/config.js";
import { ADAM_DEFAULTS } from "../../model/flat-params.js";
import { StepPipeline, type EngineOptions, type TrainingEngine } from "../../model/parallel/engine.js";
import { openEngine, workerBackend, workerCount } from "../../model/parallel/open-engine.js";
import { SasrecModel } from "../../model/sasrec-model.js";
import { initialValues, isLearned, itemTable, paramSpecs } from "../../model/sasrec.js";
import { encodeWeights } from "../../model/weights-file.js";
import { formatDuration } from "../../util/format.js";
import { stableHash } from "../../util/hash.js";
import { Rng } from "../../util/random.js";
import type { CompressEvalData } from "../eval-data.js";
import { batchCandidates } from "./distill-loss.js";
import { quantizedTableFromDense } from "./pq-table.js";
import { principalProjection, project } from "./pca.js";
import { parameterCount, STUDENT_SHAPE_KEYS, studentConfig, type StudentShape } from "./student-config.js";
import { indexedBatches, teacherTargets, type TeacherTargets } from "./teacher-targets.js";

export interface DistillOptions extends StudentShape {
  epochs: number;
  /** Stop after this many epochs without a better validation NDCG@10. */
  patience: number;
  /** Stop before an epoch that would end past this many minutes of training. */
  maxMinutes: number;
  learningRate: number;
  batchTokens: number;
  /**
   * Weight of the ground-truth loss; the rest matches the teacher. 0.9 measured best on the
   * synthetic shop (students at 0.42× the parameters: 92% of the teacher's NDCG@10 at α 0.9,
   * 89% at 0.5, 83% at 0.2 with τ 2), where the teacher's soft labels on its own training
   * sequences add little beyond the targets.
   */
  alpha: number;
  temperature: number;
  /** The teacher's top items per position that join the candidates. */
  topK: number;
  negatives: number;
  /** "pca": item and position tables start as the teacher's projected on their leading principal directions. */
  init: "pca" | "random";
  /** Weight of the hidden-state hint (pca init only): the student's final state should match the teacher's, projected the same way. */
  hint: number;
  /** Validation users scored after each epoch (0: all). */
  validationUsers: number;
  /** What training moves: every weight, or only a quantized table's codewords (default for a student that starts from the teacher). */
  tune: "all" | "item-table";
}

export const DISTILL_DEFAULTS: DistillOptions = {
  epochs: 100,
  patience: 15,
  maxMinutes: 45,
  learningRate: 0.003,
  batchTokens: 1024,
  alpha: 0.9,
  temperature: 1,
  topK: 50,
  negatives: 1024,
  init: "pca",
  hint: 0,
  validationUsers: 0,
  tune: "all",
};

/** Default step size of a quantized-table student (it starts from the teacher's weights). */
const QUANTIZED_LEARNING_RATE = 0.001;
/** k-means rounds that fit a quantized table's codewords to the teacher's table. */
const KMEANS_ITERATIONS = 20;

export interface DistilledStudent {
  config: SasrecConfig;
  parameters: number;
  /** The student's sub-bundle (bundle.json, weights.bin, items.txt, model.onnx). */
  dir: string;
  modelPath: string;
  modelFiles: string[];
  sha256: string;
  summary: Record<string, unknown>;
}

function subset(cases: EvalCase[], n: number): EvalCase[] {
  if (n <= 0 || n >= cases.length) return cases;
  const step = cases.length / n;
  return Array.from({ length: n }, (_, i) => cases[Math.floor(i * step)]);
}

function block(r: Awaited<ReturnType<typeof evaluate>>): MetricsBlock {
  return { full: r.full, fullMasked: r.fullMasked, ...(r.sampled ? { sampled: r.sampled } : {}), users: r.users };
}

/**
 * The student's start. Dense table ("pca"): the teacher's item and position tables projected
 * onto their leading directions, the blocks random. Quantized table: codewords and codes from
 * k-means on the teacher's table, and the teacher's own blocks and positions (same width).
 */
function initialStudent(
  config: SasrecConfig,
  numItems: number,
  teacher: Map<string, Float32Array>,
  teacherTable: Float32Array,
  teacherHidden: number,
  init: DistillOptions["init"],
  seed: number,
) {
  const specs = paramSpecs(config, numItems);
  const values = initialValues(specs, seed);
  if (init === "random") return { values, energy: undefined, projection: undefined };
  if (config.itemTable) {
    const pq = quantizedTableFromDense(teacherTable, numItems, teacherHidden, config.itemTable, { iterations: KMEANS_ITERATIONS, seed });
    for (const [name, v] of pq.values) values.set(name, v);
    for (const spec of specs) {
      const t = teacher.get(spec.name);
      if (!spec.name.startsWith("item_") && t && t.length === values.get(spec.name)!.length) values.set(spec.name, t);
    }
    return { values, energy: pq.energyKept, projection: undefined };
  }
  const { projection, energy } = principalProjection(teacherTable, numItems + 1, teacherHidden, config.hidden);
  values.set("item_emb", project(teacherTable, numItems + 1, teacherHidden, projection, config.hidden));
  values.set("pos_emb", project(teacher.get("pos_emb")!, config.maxlen, teacherHidden, projection, config.hidden));
  return { values, energy, projection };
}

interface DistillEpoch {
  epoch: number;
  loss: number;
  validNdcg10: number;
  seconds: number;
}

interface DistillRun {
  history: DistillEpoch[];
  best: { epoch: number; ndcg10: number; values: Map<string, Float32Array> };
  stoppedBy: string;
}

interface DistillLoop {
  o: DistillOptions;
  seed: number;
  examples: Int32Array[];
  targets: TeacherTargets;
  numItems: number;
  validation: EvalCase[];
  teacherNdcg10: number;
  /** What the run keeps unless an epoch beats it. */
  initial: DistillRun["best"];
  log: Logger;
}

/** One pass over the training sequences in shuffled length buckets; the mean loss. */
async function distillOneEpoch(engine: TrainingEngine, loop: DistillLoop, epoch: number): Promise<number> {
  const { o, numItems, targets } = loop;
  const rng = new Rng(`distill:${loop.seed}:${epoch}`);
  let lossSum = 0;
  let tokens = 0;
  const pipeline = new StepPipeline(engine, (value: number, batchTokens: number) => {
    if (!Number.isFinite(value)) throw new Error(`distillation diverged: loss ${value} at epoch ${epoch + 1} (try a lower learning rate)`);
    lossSum += value * batchTokens;
    tokens += batchTokens;
  });
  try {
    for (const b of indexedBatches(loop.examples, o.batchTokens, rng)) {
      const candidates = batchCandidates(b, targets, numItems, o.negatives, rng);
      const dropoutSeed = rng.seed();
      const input = { batch: b.batch, rowOffset: 0, dropoutSeed, candidates, globalTokens: candidates.tokens };
      await pipeline.push({ kind: "distill", input }, candidates.tokens);
    }
    await pipeline.drain();
  } catch (error) {
    await pipeline.abandon();
    throw error;
  }
  return lossSum / tokens;
}

/** Epochs until the budget, the epoch limit or early stopping; the best epoch's weights are kept. */
async function distillEpochs(engine: TrainingEngine, loop: DistillLoop): Promise<DistillRun> {
  const { o, log } = loop;
  const history: DistillEpoch[] = [];
  let best = loop.initial;
  let sinceBest = 0;
  const deadline = Date.now() + o.maxMinutes * 60_000;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const last = history[history.length - 1];
    if (last && Date.now() + last.seconds * 1000 > deadline) {
      log.info(`stopping before epoch ${epoch + 1}: the next epoch would pass the ${o.maxMinutes}-minute budget`);
      return { history, best, stoppedBy: "time-budget" };
    }
    const e0 = performance.now();
    const loss = await distillOneEpoch(engine, loop, epoch);
    const valid = await evaluate(engine, loop.validation, { seed: loop.seed, sampledNegatives: 0 });
    const seconds = (performance.now() - e0) / 1000;
    history.push({ epoch: epoch + 1, loss, validNdcg10: valid.full.ndcg10, seconds });
    const improved = valid.full.ndcg10 > best.ndcg10;
    if (improved) {
      best = { epoch: epoch + 1, ndcg10: valid.full.ndcg10, values: engine.values() };
      sinceBest = 0;
    } else sinceBest++;
    log.info(
      `distill epoch ${epoch + 1}/${o.epochs} loss ${loss.toFixed(4)} valid NDCG@10 ${valid.full.ndcg10.toFixed(4)} ` +
        `(teacher ${loop.teacherNdcg10.toFixed(4)}, ${((100 * valid.full.ndcg10) / loop.teacherNdcg10).toFixed(1)}%)${improved ? " *" : ""} ` +
        `${formatDuration(seconds)}`,
    );
    if (sinceBest >= o.patience) return { history, best, stoppedBy: "early-stopping" };
  }
  return { history, best, stoppedBy: "epochs" };
}

/** What distillStudent is given: the settings, and the bundle, data and logger they act on. */
export type DistillInput = Partial<DistillOptions> & {
  bundle: LoadedBundle;
  data: CompressEvalData;
  dir: string;
  seed: number;
  backend?: BackendPreference;
  /** Data-parallel worker threads (0: this thread); default: one per usable core on wasm/cpu. */
  workers?: number;
  log: Logger;
};

/** The student's shape and the distillation settings with their defaults, checked. */
function distillSettings(options: DistillInput) {
  // the distillation settings only (options also carries the bundle, the data and the logger, which
  // must not end up in the recorded settings: the data alone serialises to 100+ MB)
  const settingKeys = new Set<string>([...Object.keys(DISTILL_DEFAULTS), ...STUDENT_SHAPE_KEYS]);
  const given = Object.fromEntries(
    Object.entries(options).filter(([key, v]) => v !== undefined && settingKeys.has(key)),
  ) as Partial<DistillOptions>;
  const teacherConfig = options.bundle.manifest.model.config;
  const numItems = options.bundle.manifest.vocabulary.items;
  const config = studentConfig(teacherConfig, numItems, given);
  // a quantized-table student starts as (nearly) the teacher: a fresh model's step size would undo that
  const startsFromTeacher = config.itemTable !== undefined && given.init !== "random";
  const o: DistillOptions = {
    ...DISTILL_DEFAULTS,
    ...(startsFromTeacher ? { learningRate: QUANTIZED_LEARNING_RATE, tune: "item-table" as const } : {}),
    ...given,
  };
  for (const [name, v] of [
    ["alpha", o.alpha],
    ["temperature", o.temperature],
    ["learning rate", o.learningRate],
  ] as const) {
    if (!(v > 0) || (name === "alpha" && v > 1))
      throw new RecshipError(`distillation ${name} must be positive${name === "alpha" ? " and at most 1" : ""}, got ${v}`);
  }
  return {
    o,
    config,
    teacherConfig,
    numItems,
    parameters: parameterCount(config, numItems),
    teacherParameters: parameterCount(teacherConfig, numItems),
  };
}

type Settings = ReturnType<typeof distillSettings>;

/** The teacher, its soft targets on the training sequences, its item table and its validation NDCG@10. */
async function prepareTeacher(options: DistillInput, s: Settings) {
  const { bundle, data, log, seed } = options;
  const teacher = new SasrecModel(s.teacherConfig, s.numItems, bundle.weights);
  const examples = trainingExamples(data.trainSequences, s.config.maxlen);
  if (examples.length === 0) throw new RecshipError("no user has two or more training interactions: nothing to distill on");
  const t0 = performance.now();
  const targets = teacherTargets(teacher.params, s.teacherConfig, s.numItems, examples, { topK: s.o.topK, batchTokens: s.o.batchTokens });
  log.info(
    `teacher targets for ${examples.length} sequences (top ${targets.topK} items per position) in ${((performance.now() - t0) / 1000).toFixed(1)}s`,
  );
  const table = tf.tidy(() => tf.clone(itemTable(teacher.params)));
  const teacherTable = table.dataSync() as Float32Array;
  table.dispose();
  const validation = subset(data.validation, s.o.validationUsers);
  const validNdcg10 = (await evaluate(teacher, validation, { seed, sampledNegatives: 0 })).full.ndcg10;
  return { teacher, examples, targets, teacherTable, validation, validNdcg10 };
}

type Teacher = Awaited<ReturnType<typeof prepareTeacher>>;

/** The student's starting weights; a quantized-table student from the teacher reports where it starts. */
async function startingStudent(options: DistillInput, s: Settings, t: Teacher) {
  const { config, numItems, o } = s;
  const init = initialStudent(config, numItems, options.bundle.weights, t.teacherTable, s.teacherConfig.hidden, o.init, options.seed);
  const student = new SasrecModel(config, numItems, init.values);
  let startNdcg10: number | undefined;
  if (config.itemTable && o.init !== "random") {
    const { subspaces, centroids } = config.itemTable;
    startNdcg10 = (await evaluate(student, t.validation, { seed: options.seed, sampledNegatives: 0 })).full.ndcg10;
    options.log.info(
      `quantized item table: ${subspaces} subspaces × ${centroids} codewords of ${config.hidden / subspaces} values, k-means on the teacher's table ` +
        `keeps ${(100 * (init.energy ?? 0)).toFixed(1)}% of its energy; valid NDCG@10 at the start ${startNdcg10.toFixed(4)} ` +
        `(${((100 * startNdcg10) / t.validNdcg10).toFixed(1)}% of the teacher)`,
    );
  }
  return { init, student, startNdcg10 };
}

/** Trains the student on an engine (worker threads on wasm/cpu) and returns the epochs and the best one. */
async function trainStudent(
  options: DistillInput,
  s: Settings,
  t: Teacher,
  start: Awaited<ReturnType<typeof startingStudent>>,
  backend: Awaited<ReturnType<typeof initBackend>>,
): Promise<DistillRun & { backend: string }> {
  const { config, numItems, o } = s;
  const { log, seed } = options;
  const workers = workerCount(options.workers, backend.name);
  const engineOptions: EngineOptions = {
    workers,
    model: config,
    train: DEFAULT_CONFIG.train,
    numItems,
    values: start.init.values,
    adam: { learningRate: o.learningRate, ...ADAM_DEFAULTS },
    // what the optimizer moves: everything, or only the codewords (the teacher's blocks stay as they are)
    learned: (spec) => isLearned(spec) && (o.tune === "all" || spec.name === "item_codebooks"),
    backend: workerBackend(backend.name, options.backend ?? "auto"),
    distill: {
      settings: { alpha: o.alpha, temperature: o.temperature, negatives: o.negatives, hint: o.hint },
      topK: t.targets.topK,
      teacherHidden: s.teacherConfig.hidden,
      teacherTable: t.teacherTable,
      ...(start.init.projection && o.hint > 0 ? { hintProjection: start.init.projection } : {}),
    },
    log,
  };
  const engine = await openEngine(engineOptions);
  if (workers > 0) log.info(`distilling on ${workers} worker threads`);
  try {
    // a student that starts from the teacher keeps its start unless an epoch beats it
    const initial = { epoch: 0, ndcg10: start.startNdcg10 ?? -Infinity, values: start.student.values() };
    const run = await distillEpochs(engine, {
      o,
      seed,
      examples: t.examples,
      targets: t.targets,
      numItems,
      validation: t.validation,
      teacherNdcg10: t.validNdcg10,
      initial,
      log,
    });
    return { ...run, backend: backend.description };
  } finally {
    await engine.close();
    t.teacher.dispose();
  }
}

/** The student as a bundle of its own (weights, vocabulary, training log, bundle.json with the distillation's summary). */
async function writeStudentBundle(
  options: DistillInput,
  s: Settings,
  run: DistillRun & { backend: string },
  summary: Record<string, unknown>,
  metrics: { validation: Awaited<ReturnType<typeof evaluate>>; test: Awaited<ReturnType<typeof evaluate>>; sequences: number },
): Promise<void> {
  const { bundle, dir } = options;
  const { config, numItems } = s;
  const { history, best, stoppedBy } = run;
  await mkdir(dir, { recursive: true });
  const shapes = new Map(paramSpecs(config, numItems).map((p) => [p.name, p.shape]));
  const weights = encodeWeights(best.values, shapes);
  await writeFile(join(dir, "weights.bin"), weights.data);
  await copyFile(join(bundle.dir, bundle.manifest.vocabulary.file), join(dir, "items.txt"));
  await writeFile(join(dir, "training-log.jsonl"), history.map((h) => JSON.stringify(h)).join("\n") + "\n");
  const teacherManifest = bundle.manifest;
  const trainSeconds = history.reduce((a, h) => a + h.seconds, 0);
  const manifest: BundleManifest & { distillation: typeof summary } = {
    ...teacherManifest,
    createdAt: new Date().toISOString(),
    model: { kind: "sasrec", config, parameters: s.parameters, configHash: stableHash(config) },
    vocabulary: { ...teacherManifest.vocabulary, file: "items.txt" },
    weights: { file: "weights.bin", sha256: weights.sha256, bytes: weights.data.byteLength, tensors: weights.tensors },
    training: {
      ...teacherManifest.training,
      backend: run.backend,
      epochs: history.length,
      bestEpoch: best.epoch,
      stoppedBy,
      trainSeconds,
      sequencesPerSecond: trainSeconds > 0 ? (metrics.sequences * history.length) / trainSeconds : 0,
      log: "training-log.jsonl",
      validation: block(metrics.validation),
      test: block(metrics.test),
    },
    artifacts: {},
    distillation: summary,
  };
  await writeManifest(dir, manifest);
}

/**
 * distill: trains a smaller SASRec (the student) on the bundle's training split to match the
 * teacher's scores — softened teacher distribution over the teacher's top items, the target and
 * shared negatives, mixed with the ground-truth loss — keeps the epoch with the best validation
 * NDCG@10, writes it as a bundle of its own in `dir` and exports it with convert-onnx (parity
 * checked against the student's tfjs model).
 */
export async function distillStudent(options: DistillInput): Promise<DistilledStudent> {
  const { data, log, seed } = options;
  const s = distillSettings(options);
  const { config, parameters, teacherParameters, o } = s;
  const backend = await initBackend(options.backend ?? "auto", log);
  log.info(
    `student: hidden ${config.hidden}, ${config.blocks} blocks, ${config.heads} heads, ffn ${config.ffnDim}: ` +
      `${parameters.toLocaleString("en-US")} parameters (${(parameters / teacherParameters).toFixed(3)}× the teacher's ${teacherParameters.toLocaleString("en-US")})`,
  );
  const teacher = await prepareTeacher(options, s);
  const start = await startingStudent(options, s, teacher);
  const run = await trainStudent(options, s, teacher, start, backend);
  const { student, init } = start;
  student.assign(run.best.values);
  const validation = await evaluate(student, data.validation, { seed });
  const test = await evaluate(student, data.test, { seed });
  student.dispose();
  const summary = {
    teacher: { config: s.teacherConfig, parameters: teacherParameters, validationNdcg10: teacher.validNdcg10 },
    student: { config, parameters, parameterRatio: parameters / teacherParameters },
    validationNdcg10: validation.full.ndcg10,
    testNdcg10: test.full.ndcg10,
    keptOfTeacher: teacher.validNdcg10 > 0 ? run.best.ndcg10 / teacher.validNdcg10 : undefined,
    epochs: run.history.length,
    bestEpoch: run.best.epoch,
    stoppedBy: run.stoppedBy,
    trainSeconds: run.history.reduce((a, h) => a + h.seconds, 0),
    settings: { ...o, hidden: config.hidden, blocks: config.blocks, heads: config.heads, ffnDim: config.ffnDim },
    ...(init.energy !== undefined ? { pcaEnergyKept: init.energy } : {}),
  };
  await writeStudentBundle(options, s, run, summary, { validation, test, sequences: teacher.examples.length });
  const dir = options.dir;
  const converted = await convertBundle({
    bundle: dir,
    histories: data.validation.map((c) => c.history).filter((h) => h.length > 0),
    maxRealSequences: 300,
    randomSequences: 50,
    seed,
    backend: options.backend,
    log,
  });
  return {
    config,
    parameters,
    dir,
    modelPath: join(dir, ONNX_FILE),
    modelFiles: [join(dir, ONNX_FILE), ...(converted.externalData ? [join(dir, converted.externalData.file)] : [])],
    sha256: converted.sha256,
    summary: { ...summary, onnx: { bytes: converted.onnxBytes, parityMaxAbsDiff: converted.parity.maxAbsDiff } },
  };
}
