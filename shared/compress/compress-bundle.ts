import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { checkArtifactFiles } from "../bundle/bundle-files.js";
import { loadBundle, readManifest, writeManifest } from "../bundle/bundle-io.js";
import { MANIFEST_FILE } from "../bundle/manifest.js";
import { ONNX_FILE } from "../convert/convert-bundle.js";
import type { ReadOptions } from "../data/readers.js";
import { RecshipError } from "../errors.js";
import { evaluate, type EvalCase } from "../eval/evaluator.js";
import type { Logger } from "../log.js";
import type { BackendPreference } from "../model/backend.js";
import type { OnnxProto } from "../onnx/proto.js";
import { writeModel } from "../onnx/writer.js";
import { RECSHIP_VERSION } from "../version.js";
import { buildVariant, type BuildSettings } from "./build-variant.js";
import { distillStudent, type DistillOptions, type DistilledStudent } from "./distill/distill-student.js";
import { loadEvalData } from "./eval-data.js";
import { readModelFile } from "./graph/editable-graph.js";
import { measureLatency, measureSize, type LatencyPlan } from "./measure.js";
import { openSession, SessionScorer } from "./ort-session.js";
import {
  OBJECTIVES,
  type CompressReport,
  type FailedVariant,
  type MeasuredModel,
  type Objective,
  type QualityMetrics,
  type VariantResult,
} from "./report.js";
import { choose, judge } from "./select.js";
import { METHOD_DESCRIPTIONS, parseVariants, type VariantSpec } from "./variants.js";

export const COMPRESSED_DIR = "compressed";
export const ARTIFACT_PREFIX = "compressed/";

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
  positive(o.threads, "threads", "for example 1");
  positive(o.latencyRepetitions, "latency repetitions", "for example 100");
  if (o.sparsity !== undefined && !(o.sparsity > 0 && o.sparsity < 1))
    throw new RecshipError(`sparsity must be in (0, 1), got ${o.sparsity}`);
  if (o.int4AccuracyLevel !== undefined && ![0, 1, 2, 3, 4].includes(o.int4AccuracyLevel)) {
    throw new RecshipError(`the int4 accuracy level must be 0 to 4, got ${o.int4AccuracyLevel}`, { fix: "0 computes in float, 4 in int8" });
  }
}

async function quality(scorer: SessionScorer, validation: EvalCase[], test: EvalCase[], seed: number) {
  const v = await evaluate(scorer, validation, { seed, sampledNegatives: 0 });
  const t = await evaluate(scorer, test, { seed, sampledNegatives: 0 });
  const pick = (m: Record<string, number>): QualityMetrics => ({ ndcg10: m.ndcg10, hr10: m.hr10, mrr: m.mrr });
  return { validation: pick(v.full), test: pick(t.full), ranks: v.ranks.full };
}

function notesFor(spec: VariantSpec, settings: BuildSettings, student?: DistilledStudent): string[] {
  const notes: string[] = [];
  for (const m of spec.methods) {
    if (m === "fp16") notes.push("fp16 storage only: the CPU provider computes in fp32 (same speed as fp32)");
    if (m === "prune")
      notes.push(
        `${Math.round(settings.sparsity * 100)}% of the dense and embedding weights are zero: a dense file does not shrink, see the gzip size`,
      );
    if (m === "int8-dynamic") notes.push("activations quantized per batch at run time");
    if (m === "emb-int8") notes.push("item table int8 per row; the user embedding is quantized per batch for the output projection");
    if (m === "emb-int4")
      notes.push(
        `item table 4-bit, blocks of ${settings.int4BlockSize}; output projection MatMulNBits (accuracy level ${settings.int4AccuracyLevel})`,
      );
    if (m === "int8-qdq") notes.push(`activations calibrated (min-max) on ${settings.calibrationSize} validation histories`);
    if (m === "int8-qdq-pct")
      notes.push(`activations calibrated (${settings.percentile}th percentile) on ${settings.calibrationSize} validation histories`);
    if (m === "distill" && student)
      notes.push(
        `student: hidden ${student.config.hidden}, ${student.config.blocks} blocks, ${student.parameters.toLocaleString("en-US")} parameters`,
      );
  }
  return notes;
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
  const s = {
    maxNdcgDrop: options.maxNdcgDrop ?? COMPRESS_DEFAULTS.maxNdcgDrop,
    objective: options.objective ?? COMPRESS_DEFAULTS.objective,
    threads: options.threads ?? COMPRESS_DEFAULTS.threads,
    keep: options.keep ?? COMPRESS_DEFAULTS.keep,
  };
  const bundle = await loadBundle(dir, options);
  const { manifest } = bundle;
  const onnxArtifact = manifest.artifacts.onnx;
  const basePath = join(dir, onnxArtifact?.file ?? ONNX_FILE);
  if (!onnxArtifact || !existsSync(basePath)) {
    throw new RecshipError("the bundle has no ONNX model to compress", { where: dir, fix: "run convert-onnx on the bundle first" });
  }
  await checkArtifactFiles(dir, manifest, "onnx", options.verifyChecksums ?? true);
  const seed = options.seed ?? manifest.training.config.seed ?? 0;
  const maxlen = manifest.model.config.maxlen;
  const numItems = manifest.vocabulary.items;
  const warnings: string[] = [];
  const data = await loadEvalData(bundle, options.data, log);
  if (!data.sameData) warnings.push(`${data.source} is not the file the bundle was trained on; the budget was judged on its split anyway`);

  const settings: BuildSettings = {
    calibrationHistories: data.validation.map((c) => c.history),
    calibrationSize: options.calibration ?? COMPRESS_DEFAULTS.calibration,
    percentile: options.percentile ?? COMPRESS_DEFAULTS.percentile,
    maxlen,
    seed,
    int4BlockSize: options.int4BlockSize ?? COMPRESS_DEFAULTS.int4BlockSize,
    int4AccuracyLevel: options.int4AccuracyLevel ?? COMPRESS_DEFAULTS.int4AccuracyLevel,
    sparsity: options.sparsity ?? COMPRESS_DEFAULTS.sparsity,
  };
  const plan: LatencyPlan = {
    batchSizes: [1, 64],
    warmup: options.latencyWarmup ?? COMPRESS_DEFAULTS.latencyWarmup,
    repetitions: options.latencyRepetitions ?? COMPRESS_DEFAULTS.latencyRepetitions,
    seed,
  };

  let work: string;
  try {
    work = await mkdtemp(join(dir, ".compress-"));
  } catch (cause) {
    throw new RecshipError(`cannot write into the bundle folder (${(cause as Error).message})`, {
      where: dir,
      fix: "make the bundle folder writable",
      cause,
    });
  }
  const out = join(work, COMPRESSED_DIR);
  await mkdir(out, { recursive: true });
  const sessions: { release(): Promise<void> }[] = [];
  try {
    // the models variants start from: the fp32 model, and the distilled student when asked for
    const teacherModel = await readModelFile(basePath);
    let student: DistilledStudent | undefined;
    if (specs.some((v) => v.methods.includes("distill"))) {
      student = await log.group("distill: training a smaller student on the teacher's scores", () =>
        distillStudent({
          bundle,
          data,
          dir: join(out, "distill"),
          seed,
          backend: options.backend,
          workers: options.workers,
          log,
          ...options.distill,
        }),
      );
    }
    const sourceSha = onnxArtifact.sha256;

    // build
    const built: {
      spec: VariantSpec;
      file: string;
      files: string[];
      sha256: string;
      details: Record<string, unknown>;
      calibration?: VariantResult["calibration"];
    }[] = [];
    const failed: FailedVariant[] = [];
    for (const spec of specs) {
      const graphMethods = spec.methods.filter((m) => m !== "distill");
      const fromStudent = spec.methods.includes("distill");
      try {
        if (fromStudent && graphMethods.length === 0) {
          built.push({
            spec,
            file: student!.modelPath,
            files: student!.modelFiles,
            sha256: student!.sha256,
            details: { distill: student!.summary },
          });
          continue;
        }
        const source: OnnxProto.IModelProto = fromStudent ? await readModelFile(student!.modelPath) : teacherModel;
        const t0 = performance.now();
        const variant = await buildVariant(source, graphMethods, settings);
        variant.model.metadataProps = [
          ...(variant.model.metadataProps ?? []).filter((p) => p.key !== "recship.compression"),
          {
            key: "recship.compression",
            value: JSON.stringify({
              method: spec.id,
              recshipVersion: RECSHIP_VERSION,
              source: fromStudent ? `${COMPRESSED_DIR}/distill/${ONNX_FILE}` : (onnxArtifact.file ?? ONNX_FILE),
              sourceSha256: fromStudent ? student!.sha256 : sourceSha,
              ...(variant.calibration
                ? {
                    calibration: {
                      method: variant.calibration.method,
                      sequences: variant.calibration.sequences,
                      seed,
                      percentile: variant.calibration.percentile,
                    },
                  }
                : {}),
            }),
          },
        ];
        const file = join(out, `${spec.id}.onnx`);
        const written = await writeModel(file, variant.model);
        log.info(`${spec.id}: ${written.bytes} bytes (${((performance.now() - t0) / 1000).toFixed(1)}s)`);
        built.push({
          spec,
          file,
          files: [file],
          sha256: written.sha256,
          details: fromStudent ? { distill: student!.summary, ...variant.details } : variant.details,
          ...(variant.calibration ? { calibration: variant.calibration } : {}),
        });
      } catch (error) {
        if (!(error instanceof RecshipError)) throw error;
        failed.push({ method: spec.id, methods: spec.methods, error: error.message });
        log.warn(`${spec.id}: not built (${error.message})`);
      }
    }

    // measure: quality per model, then latency with every model loaded, taking turns
    const open = async (path: string) => {
      const session = await openSession(path, { threads: s.threads });
      sessions.push(session);
      return new SessionScorer(session, numItems, maxlen);
    };
    const baseScorer = await open(basePath);
    const measured: { scorer: SessionScorer; quality: Awaited<ReturnType<typeof quality>> }[] = [];
    const baseQuality = await log.group("measuring the fp32 model", () => quality(baseScorer, data.validation, data.test, seed));
    for (const b of built) {
      const scorer = await open(b.file);
      const q = await quality(scorer, data.validation, data.test, seed);
      log.info(`${b.spec.id}: validation NDCG@10 ${q.validation.ndcg10.toFixed(4)} (fp32 ${baseQuality.validation.ndcg10.toFixed(4)})`);
      measured.push({ scorer, quality: q });
    }
    const latencyHistories = data.validation.map((c) => c.history);
    const latency = await log.group(`latency: batch 1 and 64, ${plan.repetitions} runs each, ${s.threads} thread(s)`, () =>
      measureLatency([baseScorer, ...measured.map((m) => m.scorer)], latencyHistories, plan),
    );
    const baseline: MeasuredModel = {
      method: "fp32",
      path: basePath,
      ...(await measureSize([basePath])),
      parameters: manifest.model.parameters,
      latency: { batch1: latency[0][0], batch64: latency[0][1] },
      validation: baseQuality.validation,
      test: baseQuality.test,
    };
    const variants: VariantResult[] = [];
    for (let i = 0; i < built.length; i++) {
      const b = built[i];
      const q = measured[i].quality;
      let changed = 0;
      for (let u = 0; u < q.ranks.length; u++) if (q.ranks[u] !== baseQuality.ranks[u]) changed++;
      const fromStudent = b.spec.methods.includes("distill");
      const installRelative =
        fromStudent && b.spec.methods.length === 1 ? `${COMPRESSED_DIR}/distill/${ONNX_FILE}` : `${COMPRESSED_DIR}/${b.spec.id}.onnx`;
      variants.push(
        judge(
          baseline,
          {
            method: b.spec.id,
            path: join(dir, installRelative),
            ...(await measureSize(b.files)),
            parameters: fromStudent ? student!.parameters : manifest.model.parameters,
            latency: { batch1: latency[i + 1][0], batch64: latency[i + 1][1] },
            validation: q.validation,
            test: q.test,
          },
          {
            methods: b.spec.methods,
            rankChangedShare: q.ranks.length ? changed / q.ranks.length : 0,
            notes: notesFor(b.spec, settings, student),
            details: b.details,
            sha256: b.sha256,
            ...(b.calibration ? { calibration: b.calibration } : {}),
          },
          { maxNdcgDrop: s.maxNdcgDrop, objective: s.objective },
        ),
      );
    }
    const chosen = choose(variants, s.objective);
    const report: CompressReport = {
      step: "compress",
      bundle: dir,
      passed: chosen !== null,
      installed: false,
      headline: chosen
        ? `chose ${chosen.method}: ${chosen.sizeRatio.toFixed(3)}× the size, ${chosen.latencyRatioBatch64.toFixed(3)}× the batch-64 latency, NDCG@10 ${chosen.ndcg10RelDrop >= 0 ? "−" : "+"}${(100 * Math.abs(chosen.ndcg10RelDrop)).toFixed(2)}%`
        : variants.length === 0
          ? "no variant could be built"
          : `no variant is within the budget (NDCG@10 loss ≤ ${(100 * s.maxNdcgDrop).toFixed(2)}%) and saves ${s.objective}`,
      budget: { maxNdcgDrop: s.maxNdcgDrop, objective: s.objective, judgedOn: "validation NDCG@10, full ranking" },
      settings: {
        threads: s.threads,
        calibrationSize: settings.calibrationSize,
        percentile: settings.percentile,
        seed,
        latency: { warmup: plan.warmup, repetitions: plan.repetitions, batchSizes: plan.batchSizes },
        int4BlockSize: settings.int4BlockSize,
        int4AccuracyLevel: settings.int4AccuracyLevel,
        sparsity: settings.sparsity,
      },
      data: { source: data.source, sameData: data.sameData, validationUsers: data.validation.length, testUsers: data.test.length },
      baseline,
      variants,
      failed,
      chosen,
      ...(student ? { distillation: student.summary } : {}),
      warnings,
      wallSeconds: (performance.now() - started) / 1000,
    };
    for (const session of sessions.splice(0)) await session.release();
    if (!chosen) {
      throw new CompressFailure(
        report.headline,
        {
          where: dir,
          fix:
            variants.length === 0
              ? "see the errors of the variants in the report"
              : "loosen max-ndcg-drop, or try other methods (see the table: each variant's NDCG@10 loss and savings)",
        },
        report,
      );
    }

    // install: the variants folder, then bundle.json
    const keepIds = new Set(variants.filter((v) => s.keep === "all" || v.chosen).map((v) => v.method));
    for (const v of variants) v.kept = keepIds.has(v.method);
    for (const b of built) {
      if (!keepIds.has(b.spec.id) && b.file.startsWith(out) && !b.file.startsWith(join(out, "distill"))) await rm(b.file, { force: true });
    }
    if (student && ![...keepIds].some((id) => id.startsWith("distill"))) await rm(join(out, "distill"), { recursive: true, force: true });
    const target = join(dir, COMPRESSED_DIR);
    const old = `${target}.old-${process.pid}`;
    if (existsSync(target)) await rename(target, old);
    await rename(out, target);
    await rm(old, { recursive: true, force: true });
    const current = await readManifest(dir);
    for (const key of Object.keys(current.artifacts)) if (key.startsWith(ARTIFACT_PREFIX)) delete current.artifacts[key];
    const createdAt = new Date().toISOString();
    for (const v of variants.filter((x) => keepIds.has(x.method))) {
      current.artifacts[`${ARTIFACT_PREFIX}${v.method}`] = {
        file: v.path.slice(dir.length + 1),
        sha256: v.sha256,
        bytes: v.bytes,
        createdAt,
        format: "onnx",
        recshipVersion: RECSHIP_VERSION,
        chosen: v.chosen,
        method: v.method,
        description: v.methods.map((m) => METHOD_DESCRIPTIONS[m as keyof typeof METHOD_DESCRIPTIONS]).join("; then "),
        sizeRatio: v.sizeRatio,
        latencyRatioBatch64: v.latencyRatioBatch64,
        ndcg10RelDrop: v.ndcg10RelDrop,
        validation: v.validation,
        test: v.test,
        lineage: {
          from: v.methods.includes("distill") ? `${COMPRESSED_DIR}/distill/${ONNX_FILE}` : (onnxArtifact.file ?? ONNX_FILE),
          fromSha256: v.methods.includes("distill") ? student!.sha256 : sourceSha,
          teacher: onnxArtifact.file ?? ONNX_FILE,
          teacherSha256: sourceSha,
          methods: v.methods,
          ...(v.calibration
            ? {
                calibration: {
                  method: v.calibration.method,
                  sequences: v.calibration.sequences,
                  seed,
                  percentile: v.calibration.percentile,
                },
              }
            : {}),
          budget: report.budget,
        },
      };
    }
    await writeManifest(dir, current);
    report.installed = true;
    report.wallSeconds = (performance.now() - started) / 1000;
    log.info(
      `chose ${chosen.method} (${chosen.path}); recorded ${keepIds.size} variant(s) in ${MANIFEST_FILE} (artifacts "${ARTIFACT_PREFIX}…")`,
    );
    return report;
  } finally {
    for (const session of sessions) await session.release().catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}
