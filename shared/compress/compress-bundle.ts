import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { checkArtifactFiles } from "../bundle/bundle-files.js";
import { bundleWorkFolder, loadBundle } from "../bundle/bundle-io.js";
import { MANIFEST_FILE } from "../bundle/manifest.js";
import { ONNX_FILE } from "../convert/convert-bundle.js";
import type { ReadOptions } from "../data/readers.js";
import { checkSampleSize } from "../data/user-sample.js";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import type { BackendPreference } from "../model/backend.js";
import { buildAll, COMPRESSED_DIR, type Sources } from "./build-all.js";
import type { BuildSettings } from "./build-variant.js";
import { distillStudent, type DistillOptions } from "./distill/distill-student.js";
import { loadEvalData, type CompressEvalData } from "./eval-data.js";
import { readModelFile } from "./graph/editable-graph.js";
import { ARTIFACT_PREFIX, installVariants } from "./install.js";
import type { LatencyPlan } from "./measure.js";
import { measureAll, notesFor } from "./measure-all.js";
import { OBJECTIVES, type CompressReport, type Objective, type VariantResult } from "./report.js";
import { choose } from "./select.js";
import { parseVariants, type VariantSpec } from "./variants.js";

export const COMPRESS_DEFAULTS = {
  maxNdcgDrop: 0.01,
  objective: "size" as Objective,
  calibration: 512,
  percentile: 99.99,
  threads: 1,
  latencyWarmup: 10,
  latencyRepetitions: 100,
  int4BlockSize: 32,
  int4AccuracyLevel: 0,
  sparsity: 0.5,
  keep: "all" as "all" | "chosen",
};

export interface CompressOptions {
  bundle: string;
  /** Variants to build: methods, or "+"-joined compositions (default: variants.ts DEFAULT_VARIANTS). */
  methods?: string[];
  /** Accuracy budget: largest allowed relative loss of validation NDCG@10 (0.01 = 1%). */
  maxNdcgDrop?: number;
  objective?: Objective;
  /** Validation histories static quantization calibrates on. */
  calibration?: number;
  percentile?: number;
  /** onnxruntime intra-op threads for every measurement (pinned). */
  threads?: number;
  latencyWarmup?: number;
  latencyRepetitions?: number;
  seed?: number;
  int4BlockSize?: number;
  int4AccuracyLevel?: number;
  sparsity?: number;
  /** Keep every variant in the bundle, or only the chosen one. */
  keep?: "all" | "chosen";
  /** Validation and test users to measure every model on: a sample seeded by `seed` (0 or undefined: every user). */
  evalUsers?: number;
  /** The interaction log to evaluate on (default: the one bundle.json names, read the same way). */
  data?: { path: string } & ReadOptions;
  distill?: Partial<DistillOptions>;
  backend?: BackendPreference;
  /** Distillation's data-parallel training threads (0: the main thread); default: one per usable core on wasm/cpu. */
  workers?: number;
  /** Check the bundle's files against the sha256s bundle.json records (default true). */
  verifyChecksums?: boolean;
  log: Logger;
}

/** No variant fits the budget (or none could be built): the step fails; the report holds the table. */
export class CompressFailure extends RecshipError {
  constructor(
    message: string,
    options: { where?: string; fix?: string },
    readonly report: CompressReport,
  ) {
    super(message, options);
  }
}

function checkOptions(o: CompressOptions): void {
  const positive = (v: number | undefined, what: string, fix: string) => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new RecshipError(`${what} must be a positive number, got ${v}`, { fix });
  };
  if (o.maxNdcgDrop !== undefined && !(o.maxNdcgDrop >= 0 && o.maxNdcgDrop < 1)) {
    throw new RecshipError(`max-ndcg-drop must be a relative loss in [0, 1), got ${o.maxNdcgDrop}`, {
      fix: "for example 0.01 (at most 1% lower NDCG@10)",
    });
  }
  if (o.objective !== undefined && !OBJECTIVES.includes(o.objective)) {
    throw new RecshipError(`objective must be one of ${OBJECTIVES.join(", ")}, got "${String(o.objective)}"`);
  }
  positive(o.calibration, "the calibration sample size", "for example 512 validation histories");
  if (o.calibration !== undefined && !Number.isInteger(o.calibration))
    throw new RecshipError(`the calibration sample size must be a whole number, got ${o.calibration}`);
  if (o.percentile !== undefined && !(o.percentile > 50 && o.percentile <= 100)) {
    throw new RecshipError(`the calibration percentile must be in (50, 100], got ${o.percentile}`, { fix: "for example 99.99" });
  }
  checkSampleSize(o.evalUsers, "eval-users");
  positive(o.threads, "threads", "for example 1");
  positive(o.latencyRepetitions, "latency repetitions", "for example 100");
  if (o.sparsity !== undefined && !(o.sparsity > 0 && o.sparsity < 1))
    throw new RecshipError(`sparsity must be in (0, 1), got ${o.sparsity}`);
  if (o.int4AccuracyLevel !== undefined && ![0, 1, 2, 3, 4].includes(o.int4AccuracyLevel)) {
    throw new RecshipError(`the int4 accuracy level must be 0 to 4, got ${o.int4AccuracyLevel}`, { fix: "0 computes in float, 4 in int8" });
  }
}

/** The bundle's fp32 model and the evaluation data, checked before any work starts. */
async function openSource(options: CompressOptions, dir: string, warnings: string[]) {
  const bundle = await loadBundle(dir, options);
  const onnxArtifact = bundle.manifest.artifacts.onnx;
  const basePath = join(dir, onnxArtifact?.file ?? ONNX_FILE);
  if (!onnxArtifact || !existsSync(basePath)) {
    throw new RecshipError("the bundle has no ONNX model to compress", { where: dir, fix: "run convert-onnx on the bundle first" });
  }
  await checkArtifactFiles(dir, bundle.manifest, "onnx", options.verifyChecksums ?? true);
  const seed = options.seed ?? bundle.manifest.training.config.seed ?? 0;
  const distill = parseVariants(options.methods).some((v) => v.methods.includes("distill"));
  const data = await loadEvalData(bundle, options.data, { size: options.evalUsers ?? 0, seed, trainSequences: distill }, options.log);
  if (!data.sameData) warnings.push(`${data.source} is not the file the bundle was trained on; the budget was judged on its split anyway`);
  return { bundle, onnxArtifact, basePath, data, seed };
}

/** How variants are built and timed: the options with their defaults. */
function buildSettings(
  options: CompressOptions,
  data: CompressEvalData,
  maxlen: number,
  seed: number,
): { settings: BuildSettings; plan: LatencyPlan } {
  return {
    settings: {
      calibrationHistories: data.validation.map((c) => c.history),
      calibrationSize: options.calibration ?? COMPRESS_DEFAULTS.calibration,
      percentile: options.percentile ?? COMPRESS_DEFAULTS.percentile,
      maxlen,
      seed,
      int4BlockSize: options.int4BlockSize ?? COMPRESS_DEFAULTS.int4BlockSize,
      int4AccuracyLevel: options.int4AccuracyLevel ?? COMPRESS_DEFAULTS.int4AccuracyLevel,
      sparsity: options.sparsity ?? COMPRESS_DEFAULTS.sparsity,
    },
    plan: {
      batchSizes: [1, 64],
      warmup: options.latencyWarmup ?? COMPRESS_DEFAULTS.latencyWarmup,
      repetitions: options.latencyRepetitions ?? COMPRESS_DEFAULTS.latencyRepetitions,
      seed,
    },
  };
}

/** The models variants start from: the teacher, and a student trained on its scores when a variant asks for distill. */
async function sourcesFor(
  specs: readonly VariantSpec[],
  source: Awaited<ReturnType<typeof openSource>>,
  out: string,
  options: CompressOptions,
): Promise<Sources> {
  const { bundle, data, seed, onnxArtifact, basePath } = source;
  const student = specs.some((v) => v.methods.includes("distill"))
    ? await options.log.group("distill: training a smaller student on the teacher's scores", () =>
        distillStudent({
          bundle,
          data,
          dir: join(out, "distill"),
          seed,
          backend: options.backend,
          workers: options.workers,
          log: options.log,
          ...options.distill,
        }),
      )
    : undefined;
  return {
    teacher: await readModelFile(basePath),
    teacherFile: onnxArtifact.file ?? ONNX_FILE,
    teacherSha256: onnxArtifact.sha256,
    ...(student ? { student } : {}),
  };
}

function headline(
  chosen: VariantResult | null,
  variants: readonly VariantResult[],
  s: { maxNdcgDrop: number; objective: Objective },
): string {
  if (chosen) {
    const drop = `${chosen.ndcg10RelDrop >= 0 ? "−" : "+"}${(100 * Math.abs(chosen.ndcg10RelDrop)).toFixed(2)}%`;
    return `chose ${chosen.method}: ${chosen.sizeRatio.toFixed(3)}× the size, ${chosen.latencyRatioBatch64.toFixed(3)}× the batch-64 latency, NDCG@10 ${drop}`;
  }
  return variants.length === 0
    ? "no variant could be built"
    : `no variant is within the budget (NDCG@10 loss ≤ ${(100 * s.maxNdcgDrop).toFixed(2)}%) and saves ${s.objective}`;
}

/** The step's report: the budget and settings, the data, the baseline, every variant and the one chosen. */
function compressReport(r: {
  dir: string;
  budget: { maxNdcgDrop: number; objective: Objective };
  threads: number;
  settings: BuildSettings;
  plan: LatencyPlan;
  source: Awaited<ReturnType<typeof openSource>>;
  sources: Sources;
  baseline: CompressReport["baseline"];
  variants: VariantResult[];
  failed: CompressReport["failed"];
  chosen: VariantResult | null;
  warnings: string[];
  started: number;
}): CompressReport {
  const { settings, plan, source, budget } = r;
  return {
    step: "compress",
    bundle: r.dir,
    passed: r.chosen !== null,
    installed: false,
    headline: headline(r.chosen, r.variants, budget),
    budget: { ...budget, judgedOn: "validation NDCG@10, full ranking" },
    settings: {
      threads: r.threads,
      calibrationSize: settings.calibrationSize,
      percentile: settings.percentile,
      seed: source.seed,
      latency: { warmup: plan.warmup, repetitions: plan.repetitions, batchSizes: plan.batchSizes },
      int4BlockSize: settings.int4BlockSize,
      int4AccuracyLevel: settings.int4AccuracyLevel,
      sparsity: settings.sparsity,
    },
    data: {
      source: source.data.source,
      sameData: source.data.sameData,
      validationUsers: source.data.validation.length,
      testUsers: source.data.test.length,
      eligibleUsers: source.data.eligibleUsers,
    },
    baseline: r.baseline,
    variants: r.variants,
    failed: r.failed,
    chosen: r.chosen,
    ...(r.sources.student ? { distillation: r.sources.student.summary } : {}),
    warnings: r.warnings,
    wallSeconds: (performance.now() - r.started) / 1000,
  };
}

/**
 * compress-model: build compressed variants of a bundle's model.onnx, measure each (size,
 * gzip size, onnxruntime latency at batch 1 and 64, NDCG@10 / HR@10 / MRR on the validation and
 * test splits), pick the best one inside the accuracy budget for the objective, and record the
 * variants in bundle.json (the chosen one with `chosen: true`). With no variant inside the
 * budget it throws CompressFailure carrying the full table, and the bundle is left as it was.
 */
export async function compressBundle(options: CompressOptions): Promise<CompressReport> {
  const started = performance.now();
  checkOptions(options);
  const { log } = options;
  const dir = resolve(options.bundle);
  const specs = parseVariants(options.methods);
  const budget = {
    maxNdcgDrop: options.maxNdcgDrop ?? COMPRESS_DEFAULTS.maxNdcgDrop,
    objective: options.objective ?? COMPRESS_DEFAULTS.objective,
  };
  const threads = options.threads ?? COMPRESS_DEFAULTS.threads;
  const warnings: string[] = [];
  const source = await openSource(options, dir, warnings);
  const { manifest } = source.bundle;
  const { settings, plan } = buildSettings(options, source.data, manifest.model.config.maxlen, source.seed);
  const work = await bundleWorkFolder(dir, ".compress-");
  const out = join(work, COMPRESSED_DIR);
  try {
    await mkdir(out, { recursive: true });
    const sources = await sourcesFor(specs, source, out, options);
    const { built, failed } = await buildAll(specs, sources, settings, out, log);
    const { baseline, variants } = await measureAll(
      built,
      {
        dir,
        basePath: source.basePath,
        data: source.data,
        numItems: manifest.vocabulary.items,
        maxlen: manifest.model.config.maxlen,
        parameters: manifest.model.parameters,
        studentParameters: sources.student?.parameters,
        threads,
        seed: source.seed,
        plan,
        budget,
        log,
      },
      (spec) => notesFor(spec, settings, sources.student),
    );
    const chosen = choose(variants, budget.objective);
    const report = compressReport({
      dir,
      budget,
      threads,
      settings,
      plan,
      source,
      sources,
      baseline,
      variants,
      failed,
      chosen,
      warnings,
      started,
    });
    if (!chosen) {
      const fix =
        variants.length === 0
          ? "see the errors of the variants in the report"
          : "loosen max-ndcg-drop, or try other methods (see the table: each variant's NDCG@10 loss and savings)";
      throw new CompressFailure(report.headline, { where: dir, fix }, report);
    }
    const kept = await installVariants(dir, out, built, report, sources, options.keep ?? COMPRESS_DEFAULTS.keep);
    report.installed = true;
    report.wallSeconds = (performance.now() - started) / 1000;
    log.info(
      `chose ${chosen.method} (${chosen.path}); recorded ${kept.size} variant(s) in ${MANIFEST_FILE} (artifacts "${ARTIFACT_PREFIX}…")`,
    );
    return report;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
