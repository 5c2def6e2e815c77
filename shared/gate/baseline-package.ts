import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import type { BundleReadOptions } from "../bundle/bundle-io.js";
import { MANIFEST_FILE, type NamedFile } from "../bundle/manifest.js";
import { PROFILE_FILE } from "../data/quality/profile.js";
import { RecshipError } from "../errors.js";
import { RECSHIP_VERSION } from "../version.js";
import type { ModelEvaluation } from "./engine.js";
import type { EvalData } from "./eval-data.js";
import { evaluationKey, writeEvaluation } from "./eval-store.js";
import { openModelSource, type ModelSource } from "../bundle/model-source.js";

export const BASELINE_RECORD_FILE = "gate-baseline.json";
const BASELINE_EVALUATION_FILE = "gate-evaluation.bin.gz";

/** gate-baseline.json: what a stored baseline is and what it was evaluated on. */
export interface BaselineRecord {
  schemaVersion: 1;
  modelName: string;
  branch?: string;
  commit?: string;
  runUrl?: string;
  savedAt: string;
  recshipVersion: string;
  /** The model file, relative to the baseline folder. */
  modelFile: string;
  modelSha256: string;
  modelBytes: number;
  /** Fingerprint of the data (and protocol) its stored evaluation was computed on. */
  dataFingerprint?: string;
  dataSha256?: string;
  dataSource?: string;
  evaluationFile?: string;
  /** Headline metrics at the time it was blessed. */
  metrics?: Record<string, number>;
}

export async function readBaselineRecord(dir: string): Promise<BaselineRecord | undefined> {
  const path = join(dir, BASELINE_RECORD_FILE);
  if (!existsSync(path)) return undefined;
  try {
    const record = JSON.parse(await readFile(path, "utf8")) as BaselineRecord;
    if (record.schemaVersion !== 1 || typeof record.modelFile !== "string") throw new Error("unknown layout");
    return record;
  } catch (cause) {
    throw new RecshipError(`${BASELINE_RECORD_FILE} is damaged (${(cause as Error).message})`, {
      where: dir,
      fix: "delete the stored baseline; the next run on the main branch stores a new one",
      cause,
    });
  }
}

/**
 * A baseline folder: a stored baseline (gate-baseline.json names the model and its checksum) or
 * a plain bundle; its files checked against their recorded checksums unless told not to.
 */
export async function openBaseline(
  dir: string,
  model?: string,
  options: BundleReadOptions = {},
): Promise<{ source: ModelSource; record?: BaselineRecord }> {
  const record = await readBaselineRecord(resolve(dir));
  const stored = record && !model;
  const source = await openModelSource(dir, {
    model: model ?? (record ? join(resolve(dir), record.modelFile) : undefined),
    ...(stored ? { modelRecord: storedModel(record) } : {}),
    role: "baseline",
    ...options,
  });
  if (record && !model) source.artifact = "stored baseline";
  return { source, record };
}

/** A stored baseline's model as gate-baseline.json records it. */
function storedModel(record: BaselineRecord): NamedFile {
  return {
    field: "model",
    file: record.modelFile,
    sha256: record.modelSha256,
    recordedIn: { file: BASELINE_RECORD_FILE, field: "modelSha256" },
  };
}

export interface PackageOptions {
  source: ModelSource;
  modelName: string;
  branch?: string;
  commit?: string;
  runUrl?: string;
  /** The evaluation to store beside the model (reused when the next run has the same data). */
  data?: EvalData;
  evaluation?: ModelEvaluation;
  metrics?: Record<string, number>;
}

/**
 * Writes a baseline folder: bundle.json, the vocabulary, the model file (and its external
 * data), the training data's profile (the next gate compares the candidate's data with it),
 * the stored evaluation and gate-baseline.json. Training weights are left out: the gate only
 * runs the ONNX model.
 */
export async function writeBaselinePackage(out: string, options: PackageOptions): Promise<BaselineRecord> {
  const { source } = options;
  const dir = resolve(out);
  if (resolve(source.dir) === dir) throw new RecshipError("the baseline folder cannot be the bundle itself", { where: dir });
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await copyFile(join(source.dir, MANIFEST_FILE), join(dir, MANIFEST_FILE));
  await copyFile(join(source.dir, source.manifest.vocabulary.file), join(dir, basename(source.manifest.vocabulary.file)));
  const modelFile = basename(source.modelPath);
  await copyFile(source.modelPath, join(dir, modelFile));
  const external = join(dirname(source.modelPath), `${modelFile}.data`);
  const recorded = (source.manifest.artifacts.onnx?.externalData as { file?: string } | undefined)?.file;
  for (const f of new Set([external, recorded ? join(dirname(source.modelPath), basename(recorded)) : external])) {
    if (existsSync(f)) await copyFile(f, join(dir, basename(f)));
  }
  // a bundle trained with validation off has none: the next gate just has no data section
  if (existsSync(join(source.dir, PROFILE_FILE))) await copyFile(join(source.dir, PROFILE_FILE), join(dir, PROFILE_FILE));
  let evaluationFile: string | undefined;
  if (options.data && options.evaluation) {
    evaluationFile = BASELINE_EVALUATION_FILE;
    await writeEvaluation(
      join(dir, evaluationFile),
      evaluationKey(options.data.fingerprint, source.sha256, options.evaluation.topWidth),
      options.evaluation,
    );
  }
  const record: BaselineRecord = {
    schemaVersion: 1,
    modelName: options.modelName,
    ...(options.branch ? { branch: options.branch } : {}),
    ...(options.commit ? { commit: options.commit } : {}),
    ...(options.runUrl ? { runUrl: options.runUrl } : {}),
    savedAt: new Date().toISOString(),
    recshipVersion: RECSHIP_VERSION,
    modelFile,
    modelSha256: source.sha256,
    modelBytes: source.bytesOnDisk,
    ...(options.data
      ? { dataFingerprint: options.data.fingerprint, dataSha256: options.data.sha256, dataSource: options.data.source }
      : {}),
    ...(evaluationFile ? { evaluationFile } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
  };
  await writeFile(join(dir, BASELINE_RECORD_FILE), `${JSON.stringify(record, null, 2)}\n`);
  return record;
}
