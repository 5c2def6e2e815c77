import { existsSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { bundleWorkFolder, loadBundle, readManifest, writeManifest, type LoadedBundle } from "../bundle/bundle-io.js";
import { MANIFEST_FILE } from "../bundle/manifest.js";
import type { ReadOptions } from "../data/readers.js";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import { initBackend, type BackendPreference } from "../model/backend.js";
import type { ValueSignature } from "../onnx/graph-builder.js";
import { lineageMetadata } from "../onnx/lineage.js";
import { mappingFor, type ModelMapping } from "../onnx/mappings.js";
import { checkOpset, DEFAULT_OPSET, irVersionFor, makeModel, writeModel } from "../onnx/writer.js";
import { RECSHIP_VERSION } from "../version.js";
import { checkParity, DEFAULT_TOLERANCE, type ParityResult, type ParityTolerance } from "./parity-check.js";
import { DEFAULT_MAX_REAL, paritySample } from "./parity-sample.js";
import { realHistories } from "./real-histories.js";

export const ONNX_FILE = "model.onnx";
/**
 * Default length of the top_items / top_scores outputs (capped at the number of items). The
 * model server answers `/v1/recommend` from them without copying the whole score row out of
 * onnxruntime when k + the history's length + 1 fit in it: 100 covers k = 10 with a full
 * history of 50 items and the seen ones excluded.
 */
const DEFAULT_TOP_K = 100;
/** Past this many bytes of weights, large initializers go to an external-data file even when not asked. */
const AUTO_EXTERNAL_BYTES = 1.5 * 2 ** 30;
const AUTO_EXTERNAL_THRESHOLD = 2 ** 20;

export interface ConvertOptions {
  /** The bundle folder train-model wrote. */
  bundle: string;
  opset?: number;
  /** Length of the top_items / top_scores outputs (default 10). */
  topK?: number;
  /** Parity tolerance: largest allowed |tfjs − onnxruntime| (default 1e-4). */
  maxAbsDiff?: number;
  /** Parity tolerance: smallest fraction of sequences with identical top 10 (default 0.999). */
  minTop10Agreement?: number;
  /** Initializers of at least this many bytes go to `model.onnx.data` (default: inline, unless the weights near 2 GiB). */
  externalDataThresholdBytes?: number;
  /** Real histories (dense item ids) for the parity check, e.g. validation sequences. */
  histories?: Int32Array[];
  /** Or: an interaction log to take validation histories from (normally the training data). */
  data?: { path: string } & ReadOptions;
  /** Cap on real histories checked (default 1000) and random ones added (default 200). */
  maxRealSequences?: number;
  randomSequences?: number;
  seed?: number;
  backend?: BackendPreference;
  /** Check the weights and vocabulary against the sha256s bundle.json records (default true). */
  verifyChecksums?: boolean;
  log: Logger;
}

export interface ConvertReport {
  step: "convert";
  bundle: string;
  /** Absolute path of model.onnx. */
  model: string;
  onnxBytes: number;
  sha256: string;
  externalData?: { file: string; bytes: number; sha256: string; tensors: number };
  kind: string;
  opset: number;
  irVersion: number;
  topK: number;
  items: number;
  inputs: ValueSignature[];
  outputs: ValueSignature[];
  /** Building, encoding and writing the model. */
  exportSeconds: number;
  paritySeconds: number;
  wallSeconds: number;
  backend: string;
  parity: ParityResult;
  warnings: string[];
}

/** Thrown when the exported model does not reproduce the bundle's model; carries the report for summaries. */
export class ParityFailure extends RecshipError {
  constructor(
    message: string,
    options: { where?: string; fix?: string },
    readonly report: ConvertReport,
  ) {
    super(message, options);
  }
}

function checkTolerance(maxAbsDiff: number, minTop10Agreement: number): void {
  if (!Number.isFinite(maxAbsDiff) || maxAbsDiff <= 0) {
    throw new RecshipError(`max-abs-diff must be a positive number, got ${maxAbsDiff}`, { fix: "for example 1e-4" });
  }
  if (!Number.isFinite(minTop10Agreement) || minTop10Agreement <= 0 || minTop10Agreement > 1) {
    throw new RecshipError(`min-top10-agreement must be a fraction in (0, 1], got ${minTop10Agreement}`, {
      fix: "for example 0.999 (99.9% of sequences)",
    });
  }
}

/** The tolerances and opset asked for, checked before any work. */
function checkedSettings(options: ConvertOptions): { tolerance: ParityTolerance; opset: number } {
  const tolerance = {
    maxAbsDiff: options.maxAbsDiff ?? DEFAULT_TOLERANCE.maxAbsDiff,
    minTop10Agreement: options.minTop10Agreement ?? DEFAULT_TOLERANCE.minTop10Agreement,
  };
  checkTolerance(tolerance.maxAbsDiff, tolerance.minTop10Agreement);
  const opset = checkOpset(options.opset ?? DEFAULT_OPSET);
  if (options.topK !== undefined && (!Number.isInteger(options.topK) || options.topK < 1)) {
    throw new RecshipError(`top-k must be a whole number ≥ 1, got ${options.topK}`);
  }
  if (options.externalDataThresholdBytes !== undefined && !(options.externalDataThresholdBytes >= 0)) {
    throw new RecshipError(`the external-data threshold must be a number of bytes ≥ 0, got ${options.externalDataThresholdBytes}`);
  }
  return { tolerance, opset };
}

interface Exported {
  written: Awaited<ReturnType<typeof writeModel>>;
  signature: ReturnType<ReturnType<ModelMapping["buildGraph"]>["signature"]>;
  exportSeconds: number;
}

/** Builds the graph from the bundle's weights and writes model.onnx (and external data, when large) into `work`. */
async function exportModel(
  bundle: LoadedBundle,
  mapping: ModelMapping,
  settings: { opset: number; topK: number; threshold?: number; work: string; dir: string },
  log: Logger,
): Promise<Exported> {
  const t0 = performance.now();
  const { manifest } = bundle;
  const graph = mapping.buildGraph({
    config: manifest.model.config,
    numItems: manifest.vocabulary.items,
    weights: bundle.weights,
    topK: settings.topK,
    where: settings.dir,
  });
  const signature = graph.signature();
  const model = makeModel(graph.build(), {
    opset: settings.opset,
    producerName: "recship",
    producerVersion: RECSHIP_VERSION,
    docString: mapping.docString,
    metadata: lineageMetadata(manifest, { "recship.top_k": String(settings.topK), "recship.signature": JSON.stringify(signature) }),
  });
  let threshold = settings.threshold;
  if (threshold === undefined && manifest.weights.bytes > AUTO_EXTERNAL_BYTES) {
    threshold = AUTO_EXTERNAL_THRESHOLD;
    log.info(`the weights take ${(manifest.weights.bytes / 2 ** 30).toFixed(2)} GiB: tensors of 1 MiB or more go to an external-data file`);
  }
  const written = await writeModel(join(settings.work, ONNX_FILE), model, { externalDataThresholdBytes: threshold });
  const exportSeconds = (performance.now() - t0) / 1000;
  log.info(
    `exported ${manifest.model.kind} (opset ${settings.opset}) in ${exportSeconds.toFixed(2)}s: ${written.bytes} bytes` +
      (written.externalData ? ` + ${written.externalData.bytes} bytes of external data in ${written.externalData.tensors} tensors` : ""),
  );
  return { written, signature, exportSeconds };
}

/** Real histories (given, or the training file's own, read as train-model read it), edge cases and random sequences. */
async function parityInputs(
  options: ConvertOptions,
  bundle: LoadedBundle,
  maxlen: number,
  warnings: string[],
): Promise<ReturnType<typeof paritySample>> {
  const { manifest } = bundle;
  let given = options.histories;
  const data =
    options.data ??
    (manifest.data.read && existsSync(manifest.data.source)
      ? { path: manifest.data.source, ...(manifest.data.read as ReadOptions) }
      : undefined);
  if (!given && data) {
    const vocabulary = { itemIds: bundle.itemIds, dataSha256: manifest.data.sha256 };
    const real = await realHistories(data.path, data, vocabulary, options.log, options.maxRealSequences ?? DEFAULT_MAX_REAL);
    if (!real.sameData)
      warnings.push(`${data.path} is not the file the bundle was trained on; its sequences were used as parity inputs anyway`);
    given = real.histories;
  }
  if (!given || given.length === 0) {
    const message =
      "no real histories for the parity check (pass the training data to use its validation sequences); checked on edge-case and random sequences only";
    warnings.push(message);
    options.log.warn(message);
  }
  return paritySample({
    numItems: manifest.vocabulary.items,
    maxlen,
    histories: given,
    maxReal: options.maxRealSequences,
    random: options.randomSequences,
    seed: options.seed,
  });
}

/** Moves the checked model into the bundle (external data first, so model.onnx never points at a missing file) and records it. */
async function install(dir: string, exported: Exported, report: ConvertReport, tolerance: ParityTolerance): Promise<void> {
  const { written, signature } = exported;
  if (written.externalData) await rename(written.externalData.path, join(dir, written.externalData.file));
  await rename(written.path, report.model);
  const previous = (await readManifest(dir)).artifacts.onnx;
  const staleFile = (previous?.externalData as { file?: string } | undefined)?.file;
  if (staleFile && staleFile === basename(staleFile) && staleFile !== written.externalData?.file && existsSync(join(dir, staleFile))) {
    await rm(join(dir, staleFile), { force: true });
  }
  const { parity } = report;
  const current = await readManifest(dir);
  current.artifacts.onnx = {
    file: ONNX_FILE,
    sha256: written.sha256,
    bytes: written.bytes,
    createdAt: new Date().toISOString(),
    format: "onnx",
    recshipVersion: RECSHIP_VERSION,
    opset: report.opset,
    irVersion: report.irVersion,
    topK: report.topK,
    inputs: signature.inputs,
    outputs: signature.outputs,
    ...(report.externalData ? { externalData: report.externalData } : {}),
    parity: {
      sequences: parity.sequences,
      realSequences: parity.realSequences,
      maxAbsDiff: parity.maxAbsDiff,
      maxRelDiff: parity.maxRelDiff,
      embeddingMaxAbsDiff: parity.embeddingMaxAbsDiff,
      top10Agreement: parity.top10Agreement,
      optimizedTop10Agreement: parity.optimizedTop10Agreement,
      tolerance,
    },
  };
  await writeManifest(dir, current);
}

/**
 * convert-onnx: export a bundle's model to ONNX, prove it scores like the bundle's tfjs model
 * (onnxruntime-node against tfjs on real, edge-case and random sequences), then add
 * model.onnx to the bundle and record it in bundle.json `artifacts.onnx`. Everything is
 * written in a temp folder first; on any failure the bundle is left as it was.
 */
export async function convertBundle(options: ConvertOptions): Promise<ConvertReport> {
  const started = performance.now();
  const { log } = options;
  const dir = resolve(options.bundle);
  const { tolerance, opset } = checkedSettings(options);
  const bundle = await loadBundle(dir, { verifyChecksums: options.verifyChecksums });
  const { manifest } = bundle;
  const mapping = mappingFor(manifest.model.kind, join(dir, MANIFEST_FILE));
  const config = manifest.model.config;
  const numItems = manifest.vocabulary.items;
  const maxlen = mapping.sequenceLength(config);
  const warnings: string[] = [];
  const topK = options.topK ?? Math.min(DEFAULT_TOP_K, numItems);
  const work = await bundleWorkFolder(dir, ".convert-");
  try {
    const exported = await exportModel(bundle, mapping, { opset, topK, threshold: options.externalDataThresholdBytes, work, dir }, log);
    const { written, signature } = exported;
    const sample = await parityInputs(options, bundle, maxlen, warnings);
    const backend = await initBackend(options.backend ?? "auto", log);
    const reference = mapping.reference({ config, numItems, weights: bundle.weights, where: dir });
    let parity: ParityResult;
    try {
      parity = await checkParity({ modelPath: written.path, maxlen, numItems, topK, reference, sample, tolerance, log });
    } finally {
      reference.dispose();
    }
    const report: ConvertReport = {
      step: "convert",
      bundle: dir,
      model: join(dir, ONNX_FILE),
      onnxBytes: written.bytes,
      sha256: written.sha256,
      ...(written.externalData
        ? {
            externalData: {
              file: written.externalData.file,
              bytes: written.externalData.bytes,
              sha256: written.externalData.sha256,
              tensors: written.externalData.tensors,
            },
          }
        : {}),
      kind: manifest.model.kind,
      opset,
      irVersion: irVersionFor(opset),
      topK,
      items: numItems,
      inputs: signature.inputs,
      outputs: signature.outputs,
      exportSeconds: exported.exportSeconds,
      paritySeconds: parity.seconds,
      wallSeconds: (performance.now() - started) / 1000,
      backend: backend.name,
      parity,
      warnings,
    };
    if (!parity.passed) {
      throw new ParityFailure(
        `the exported ONNX model does not reproduce the bundle's model: ${parity.failures.join("; ")}`,
        {
          where: dir,
          fix: "this is a recship export bug if the tolerances are the defaults (please report it with the bundle); with custom tolerances, loosen --max-abs-diff / --min-top10-agreement",
        },
        report,
      );
    }
    await install(dir, exported, report, tolerance);
    report.wallSeconds = (performance.now() - started) / 1000;
    log.info(`wrote ${report.model} and recorded it in bundle.json (artifacts.onnx)`);
    return report;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
