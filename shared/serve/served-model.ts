import { join } from "node:path";
import { MANIFEST_FILE, type BundleManifest } from "../bundle/manifest.js";
import { openModelSource, outputLayerWork, type ModelSource } from "../bundle/model-source.js";
import { popularityShares, readMonitoringReference, type MonitoringReference } from "../bundle/monitoring-reference.js";
import type { Logger } from "../log.js";
import { defaultSessionThreads, isWideOutputLayer, usableCores } from "../util/cpu-budget.js";
import { ModelRunner } from "./model-runner.js";
import { openSession, type Device } from "./ort-session.js";
import { WorkerRunner, type Runner } from "./worker-runner.js";
import { ItemVocabulary } from "./vocabulary.js";

/** The default intra-op threads for this model (defaultSessionThreads), said in the log. */
function defaultThreadsFor(source: ModelSource, cores: number, workers: number, log: Logger): number | undefined {
  const outputWork = outputLayerWork(source);
  const threads = defaultSessionThreads(cores, workers, outputWork);
  if (threads === undefined) return undefined;
  const why = isWideOutputLayer(outputWork)
    ? `every core: the output layer's ${(outputWork / 1e6).toFixed(1)} M multiply-adds a request outweigh HTTP's`
    : "one kept for HTTP and JSON";
  log.info(
    `onnxruntime intra-op threads: ${threads} per session (${cores} usable core${cores === 1 ? "" : "s"}, ${why}; --threads sets it)`,
  );
  return threads;
}

/** Everything the server needs of the model: its session, vocabulary and identity. */
export interface ServedModel {
  runner: Runner;
  vocabulary: ItemVocabulary;
  manifest: BundleManifest;
  /** The ONNX file that runs. */
  modelPath: string;
  /** "onnx", a compressed variant's artifact name, or "explicit" (--model). */
  artifact: string;
  /** First 12 hex digits of the served ONNX file's sha256: differs between a model and its compressed variant. */
  version: string;
  device: Device;
  /** The bundle's monitoring reference and each item's popularity share from it (absent for bundles trained without one). */
  monitoring?: { reference: MonitoringReference; popularity: Float32Array };
}

function modelVersion(onnxSha256: string): string {
  return onnxSha256.slice(0, 12);
}

/**
 * Opens a bundle's model for serving: an explicit --model file, else the compressed variant
 * marked chosen in bundle.json, else the ONNX export (the same choice as the gate's).
 */
export async function loadServedModel(options: {
  bundle: string;
  model?: string;
  device: Device;
  threads?: number;
  /** CPU cores the default threads are derived from (default: usableCores()). */
  cores?: number;
  /** Worker threads that run the model, each with its own session; 0 = on the calling thread. */
  workers?: number;
  /** Check the model and vocabulary against the sha256s bundle.json records (default true). */
  verifyChecksums?: boolean;
  log: Logger;
}): Promise<ServedModel> {
  const verifyChecksums = options.verifyChecksums ?? true;
  if (!verifyChecksums) options.log.warn(`not checking the checksums bundle.json records (--skip-bundle-checksums): ${options.bundle}`);
  const source = await openModelSource(options.bundle, { model: options.model, verifyChecksums });
  const manifest = join(source.dir, MANIFEST_FILE);
  options.log.info(
    `model: ${source.modelPath} (${source.artifact}, ${(source.bytesOnDisk / 2 ** 20).toFixed(1)} MiB, ${source.itemIds.length - 1} items)`,
  );
  const threads = options.threads ?? defaultThreadsFor(source, options.cores ?? usableCores(), options.workers ?? 0, options.log);
  const { runner, device } = options.workers
    ? await WorkerRunner.open({
        modelPath: source.modelPath,
        device: options.device,
        threads,
        maxlen: source.maxlen,
        vocabularySize: source.itemIds.length - 1,
        manifest,
        workers: options.workers,
        log: options.log,
      })
    : await openInProcess(source.modelPath, source.maxlen, source.itemIds.length - 1, { ...options, threads, manifest });
  if (options.workers) options.log.info(`model runs in ${options.workers} worker thread(s), each with its own session`);
  const reference = await readMonitoringReference(source.dir, source.manifest, verifyChecksums);
  if (!reference)
    options.log.warn("the bundle has no monitoring reference (trained by an older recship): the drift alerts stay silent for it");
  return {
    runner,
    ...(reference ? { monitoring: { reference, popularity: popularityShares(reference.itemCounts) } } : {}),
    vocabulary: new ItemVocabulary(source.itemIds),
    manifest: source.manifest,
    modelPath: source.modelPath,
    artifact: source.artifact,
    version: modelVersion(source.sha256),
    device,
  };
}

async function openInProcess(
  modelPath: string,
  maxlen: number,
  vocabularySize: number,
  options: { device: Device; threads?: number; manifest: string; log: Logger },
): Promise<{ runner: ModelRunner; device: Device }> {
  const { session, device } = await openSession(modelPath, { device: options.device, threads: options.threads, log: options.log });
  const runner = await ModelRunner.open(session, maxlen, vocabularySize, modelPath, options.manifest);
  return { runner, device };
}
