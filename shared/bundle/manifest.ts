import { isAbsolute, posix, win32 } from "node:path";
import { Ajv } from "ajv";
import { RecshipError } from "../errors.js";
import { MODEL_CONFIG_PROPERTIES, TRAIN_CONFIG_PROPERTIES, type SasrecConfig, type TrainConfig } from "../model/config.js";
import type { TensorEntry } from "../model/weights-file.js";
import type { ReadOptions } from "../data/row-scanner.js";

export const BUNDLE_SCHEMA_VERSION = 1;
export const MANIFEST_FILE = "bundle.json";

/**
 * One evaluation's metrics. full: the target ranked among all items (only padding excluded);
 * fullMasked: the user's history masked first, the protocol of published results (absent in
 * bundles written before it was recorded); sampled: against 100 unseen random items.
 */
export interface MetricsBlock {
  full: Record<string, number>;
  fullMasked?: Record<string, number>;
  sampled?: Record<string, number>;
  users: number;
}

/** bundle.json: what a model bundle holds, where it came from and what it measured. */
export interface BundleManifest {
  schemaVersion: number;
  recshipVersion: string;
  createdAt: string;
  model: { kind: "sasrec"; config: SasrecConfig; parameters: number; configHash: string };
  vocabulary: { file: string; items: number; sha256: string };
  data: {
    source: string;
    format: string;
    sha256: string;
    bytes: number;
    users: number;
    items: number;
    interactions: number;
    evaluationUsers: number;
    kCore?: number;
    eventFilter?: string[];
    /** How the log was read, so later steps can read the same file the same way. */
    read?: Omit<ReadOptions, "format"> & { format: string };
  };
  git?: { sha?: string; ref?: string; repository?: string };
  weights: { file: string; sha256: string; bytes: number; tensors: TensorEntry[] };
  training: {
    config: TrainConfig;
    backend: string;
    /** Data-parallel worker threads (0: the main thread; absent in bundles from before workers). */
    workers?: number;
    epochs: number;
    bestEpoch: number;
    stoppedBy: string;
    trainSeconds: number;
    sequencesPerSecond: number;
    log: string;
    validation: MetricsBlock;
    test: MetricsBlock;
    popularity: { validation: MetricsBlock; test: MetricsBlock };
  };
  /** Files added by later steps (convert-onnx, compress-model, ...), keyed by artifact name. */
  artifacts: Record<string, { file: string; sha256: string; bytes: number; createdAt: string; [key: string]: unknown }>;
}

const metricsBlock = {
  type: "object",
  required: ["full", "users"],
  properties: {
    full: { type: "object", additionalProperties: { type: "number" } },
    fullMasked: { type: "object", additionalProperties: { type: "number" } },
    sampled: { type: "object", additionalProperties: { type: "number" } },
    users: { type: "integer", minimum: 0 },
  },
};
const sha256 = { type: "string", pattern: "^[0-9a-f]{64}$" };
const file = { type: "string", minLength: 1 };
const positiveInt = { type: "integer", minimum: 1 };
/** A recorded file (an artifact, or an ONNX model's external data): the path and checksum are read, so they are typed. */
const recordedFile = { type: "object", required: ["file", "sha256"], properties: { file, sha256, bytes: { type: "integer", minimum: 0 } } };

const manifestSchema = {
  $id: "https://recship.dev/schemas/bundle-v1.json",
  title: "recship model bundle manifest (bundle.json)",
  type: "object",
  required: ["schemaVersion", "recshipVersion", "createdAt", "model", "vocabulary", "data", "weights", "training", "artifacts"],
  properties: {
    schemaVersion: { const: BUNDLE_SCHEMA_VERSION },
    recshipVersion: { type: "string" },
    createdAt: { type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}T" },
    model: {
      type: "object",
      required: ["kind", "config", "parameters", "configHash"],
      properties: {
        kind: { type: "string" },
        // typed like a config file's `model:` section: serve, the gate and compress size their inputs from it
        config: {
          type: "object",
          required: ["hidden", "blocks", "heads", "maxlen", "ffnDim", "dropout", "norm", "activation", "layerNormEpsilon"],
          properties: {
            ...MODEL_CONFIG_PROPERTIES,
            itemTable: {
              type: "object",
              required: ["kind", "subspaces", "centroids"],
              properties: { kind: { const: "pq" }, subspaces: positiveInt, centroids: positiveInt },
            },
          },
        },
        parameters: { type: "integer", minimum: 1 },
        configHash: { type: "string" },
      },
    },
    vocabulary: {
      type: "object",
      required: ["file", "items", "sha256"],
      properties: { file, items: { type: "integer", minimum: 1 }, sha256 },
    },
    data: {
      type: "object",
      required: ["source", "format", "sha256", "users", "items", "interactions"],
      properties: { sha256, users: { type: "integer" }, items: { type: "integer" }, interactions: { type: "integer" } },
    },
    git: { type: "object" },
    weights: {
      type: "object",
      required: ["file", "sha256", "bytes", "tensors"],
      properties: {
        file,
        sha256,
        bytes: { type: "integer", minimum: 0 },
        tensors: {
          type: "array",
          items: {
            type: "object",
            required: ["name", "shape", "dtype", "offset"],
            properties: {
              name: { type: "string" },
              shape: { type: "array", items: { type: "integer", minimum: 0 } },
              dtype: { const: "float32" },
              offset: { type: "integer", minimum: 0 },
            },
          },
        },
      },
    },
    training: {
      type: "object",
      required: ["config", "backend", "epochs", "validation", "test", "popularity"],
      properties: { config: { type: "object", properties: TRAIN_CONFIG_PROPERTIES }, validation: metricsBlock, test: metricsBlock },
    },
    artifacts: {
      type: "object",
      additionalProperties: {
        ...recordedFile,
        required: ["file", "sha256", "bytes"],
        properties: { ...recordedFile.properties, externalData: recordedFile },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: false, strict: false });
const validate = ajv.compile(manifestSchema);

/** A file bundle.json names: the field that names it ("artifacts.onnx"; its `.file` and `.sha256`) and the recorded checksum. */
export interface NamedFile {
  field: string;
  file: string;
  sha256: string;
  /** Where the checksum is recorded when not in bundle.json (a stored baseline's gate-baseline.json), and its field there. */
  recordedIn?: { file: string; field: string };
}

/** Every file a bundle.json names, with the field that names it. */
export function namedFiles(manifest: BundleManifest): NamedFile[] {
  const files: NamedFile[] = [
    { field: "vocabulary", file: manifest.vocabulary.file, sha256: manifest.vocabulary.sha256 },
    { field: "weights", file: manifest.weights.file, sha256: manifest.weights.sha256 },
  ];
  for (const [name, artifact] of Object.entries(manifest.artifacts)) {
    files.push({ field: `artifacts.${name}`, file: artifact.file, sha256: artifact.sha256 });
    const external = externalDataOf(artifact);
    if (external) files.push({ field: `artifacts.${name}.externalData`, ...external });
  }
  return files;
}

/** An ONNX artifact's external-data file, when bundle.json records one with its checksum. */
export function externalDataOf(artifact: BundleManifest["artifacts"][string]): { file: string; sha256: string } | undefined {
  const external = artifact.externalData as { file?: string; sha256?: string } | undefined;
  return external?.file && external.sha256 ? { file: external.file, sha256: external.sha256 } : undefined;
}

/**
 * Whether a path bundle.json gives is absolute, climbs out of the bundle folder or is the folder
 * itself (either separator counts, so a Windows runner is covered too).
 */
function leavesFolder(file: string): boolean {
  if (isAbsolute(file) || win32.isAbsolute(file)) return true;
  const normal = posix.normalize(file.replace(/\\/g, "/")).replace(/\/+$/, "");
  return normal === "" || normal === "." || normal === ".." || normal.startsWith("../");
}

/** Refuses file names that point outside the bundle: a bundle is copied and served as one folder, and only what is in it is checked. */
function checkFilesInside(manifest: BundleManifest, where: string): void {
  for (const { field, file } of namedFiles(manifest)) {
    if (!leavesFolder(file)) continue;
    throw new RecshipError(`${field}.file "${file}" is outside the bundle folder`, {
      where,
      fix: "bundle.json names its files relative to the bundle folder, inside it: put the file in the bundle (or re-run the step that wrote it)",
    });
  }
}

/** Validates a parsed bundle.json, naming the first bad field. */
export function checkManifest(value: unknown, where: string): BundleManifest {
  const version = (value as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (typeof version === "number" && version > BUNDLE_SCHEMA_VERSION) {
    throw new RecshipError(
      `the bundle was written by a newer recship (schema version ${version}; this recship reads up to ${BUNDLE_SCHEMA_VERSION})`,
      {
        where,
        fix: "upgrade recship (the actions' @ref) to the version that wrote the bundle",
      },
    );
  }
  if (!validate(value)) {
    const e = validate.errors![0];
    const field = e.instancePath ? e.instancePath.slice(1).replace(/\//g, ".") : "(top level)";
    const detail =
      e.keyword === "required"
        ? `missing field "${(e.params as { missingProperty: string }).missingProperty}" in ${field}`
        : `field ${field} ${e.message}`;
    throw new RecshipError(`invalid bundle manifest: ${detail}`, {
      where,
      fix: "the bundle is damaged or was edited by hand; re-create it with train-model",
    });
  }
  checkFilesInside(value as BundleManifest, where);
  return value as BundleManifest;
}
