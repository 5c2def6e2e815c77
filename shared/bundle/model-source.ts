import { existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import { basename, dirname, join, relative, resolve } from "node:path";
import { bundleFilePath, checkSha256, sha256OfFile, verifyNamedFile } from "./bundle-files.js";
import { readManifest, readVocabulary, type BundleReadOptions } from "./bundle-io.js";
import { externalDataOf, type BundleManifest, type NamedFile } from "./manifest.js";
import { RecshipError } from "../errors.js";

/** A model the gate can run: its ONNX file, its vocabulary and what is on disk. */
export interface ModelSource {
  /** The bundle (or stored baseline) folder. */
  dir: string;
  manifest: BundleManifest;
  modelPath: string;
  /** Which artifact was picked: "onnx", a compressed variant's name, or "explicit". */
  artifact: string;
  /** itemIds[i] = original id of the model's item i (itemIds[0] = "" padding). */
  itemIds: string[];
  maxlen: number;
  /** The model file plus its external-data file, if any. */
  bytesOnDisk: number;
  sha256: string;
}

type Artifact = BundleManifest["artifacts"][string];

/** Multiply-adds of one request's output layer: a dot product of `hidden` values per catalogue item. */
export function outputLayerWork(source: ModelSource): number {
  return (source.itemIds.length - 1) * source.manifest.model.config.hidden;
}

/** explicit path > a compressed artifact marked `chosen` > artifacts.onnx. */
export function pickArtifact(manifest: BundleManifest): { name: string; artifact: Artifact } | undefined {
  const chosen = Object.entries(manifest.artifacts).find(([name, a]) => name !== "onnx" && a.chosen === true && /\.onnx$/i.test(a.file));
  if (chosen) return { name: chosen[0], artifact: chosen[1] };
  const onnx = manifest.artifacts.onnx;
  return onnx ? { name: "onnx", artifact: onnx } : undefined;
}

/** The model file a source runs, and the checksums recorded for it and its external data (none for a file from elsewhere). */
interface ChosenModel {
  path: string;
  artifact: string;
  recorded?: NamedFile;
  external?: NamedFile;
}

/** An artifact's entries as named files: the model and, when recorded, its external data. */
function recordedOf(name: string, entry: Artifact): Pick<ChosenModel, "recorded" | "external"> {
  const external = externalDataOf(entry);
  return {
    recorded: { field: `artifacts.${name}`, file: entry.file, sha256: entry.sha256 },
    ...(external ? { external: { field: `artifacts.${name}.externalData`, ...external } } : {}),
  };
}

/**
 * The explicit `model` (checked against `modelRecord` if given, else like the artifact when it
 * is one of the bundle's own), else pickArtifact's choice.
 */
async function chooseModel(dir: string, manifest: BundleManifest, options: ModelSourceOptions, role: string): Promise<ChosenModel> {
  if (options.model) {
    const path = resolve(options.model);
    if (options.modelRecord) return { path, artifact: "explicit", recorded: options.modelRecord };
    const own = Object.entries(manifest.artifacts).find(([, a]) => join(dir, a.file) === path);
    return { path, artifact: "explicit", ...(own ? recordedOf(own[0], own[1]) : {}) };
  }
  const picked = pickArtifact(manifest);
  if (!picked) {
    throw new RecshipError(`the ${role} bundle has no ONNX model (no artifacts.onnx in bundle.json)`, {
      where: dir,
      fix: "run convert-onnx on the bundle first, or pass the model file explicitly",
    });
  }
  const recorded = recordedOf(picked.name, picked.artifact);
  return { path: await bundleFilePath(dir, recorded.recorded!), artifact: picked.name, ...recorded };
}

/**
 * The model's external-data file beside it (the one bundle.json records, else <model>.data):
 * its size, its checksum checked when bundle.json records one.
 */
async function externalDataBytes(dir: string, chosen: ChosenModel, verify: boolean): Promise<number> {
  const path = join(dirname(chosen.path), basename(chosen.external?.file ?? `${basename(chosen.path)}.data`));
  if (!existsSync(path)) return 0;
  if (chosen.external) await bundleFilePath(dir, { field: chosen.external.field, file: relative(dir, path) });
  if (chosen.external && verify) await verifyNamedFile(dir, chosen.external, path);
  return (await stat(path)).size;
}

export interface ModelSourceOptions extends BundleReadOptions {
  /** The model file to run instead of the bundle's choice. */
  model?: string;
  /** What `model` must hash to and where that is recorded (a stored baseline's gate-baseline.json). */
  modelRecord?: NamedFile;
  /** "candidate", "baseline": for messages. */
  role?: string;
}

/**
 * Opens a bundle (or a stored baseline) for the gate and the server: `model` overrides the file,
 * otherwise a compressed variant marked chosen in bundle.json, otherwise the ONNX export. The
 * model file, its external data and the vocabulary are checked against the sha256s bundle.json
 * records (unless `verifyChecksums` is false): a changed file is refused, never served.
 */
export async function openModelSource(bundleDir: string, options: ModelSourceOptions = {}): Promise<ModelSource> {
  const dir = resolve(bundleDir);
  const role = options.role ?? "model";
  const verify = options.verifyChecksums ?? true;
  const manifest = await readManifest(dir);
  const chosen = await chooseModel(dir, manifest, options, role);
  if (!existsSync(chosen.path)) {
    throw new RecshipError(`the ${role} model file "${chosen.path}" is missing`, {
      where: dir,
      fix: chosen.artifact === "explicit" ? "check the path" : "copy the whole bundle folder (bundle.json names the file)",
    });
  }
  // hashed once: the check and the model's version id
  const sha256 = await sha256OfFile(chosen.path);
  if (verify && chosen.recorded) checkSha256(dir, chosen.recorded, sha256);
  const bytesOnDisk = (await stat(chosen.path)).size + (await externalDataBytes(dir, chosen, verify));
  return {
    dir,
    manifest,
    modelPath: chosen.path,
    artifact: chosen.artifact,
    itemIds: await readVocabulary(dir, manifest, { verifyChecksums: verify }),
    maxlen: manifest.model.config.maxlen,
    bytesOnDisk,
    sha256,
  };
}
