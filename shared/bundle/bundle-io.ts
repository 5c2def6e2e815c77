import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { RecshipError } from "../errors.js";
import { decodeWeights } from "../model/weights-file.js";
import { bundleFilePath, checkSha256 } from "./bundle-files.js";
import { checkManifest, MANIFEST_FILE, type BundleManifest } from "./manifest.js";

export function sha256Of(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Writes a file through a temp file and a rename, so a crash never leaves half a file. */
export async function writeFileAtomic(path: string, data: Buffer | string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

export async function readManifest(dir: string): Promise<BundleManifest> {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) {
    throw new RecshipError(`no ${MANIFEST_FILE} in "${dir}": this is not a recship model bundle`, {
      fix: "point at the folder that train-model wrote (its `bundle` output)",
    });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, "utf8"));
  } catch (cause) {
    throw new RecshipError(`${MANIFEST_FILE} is not valid JSON`, { where: path, fix: "re-create the bundle with train-model", cause });
  }
  return checkManifest(parsed, path);
}

export async function writeManifest(dir: string, manifest: BundleManifest): Promise<void> {
  checkManifest(manifest, join(dir, MANIFEST_FILE));
  await writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/** A bundle's manifest, item vocabulary and float32 weights, checked against each other. */
export interface LoadedBundle {
  dir: string;
  manifest: BundleManifest;
  /** itemIds[i] = original id of dense item i (itemIds[0] = "" padding). */
  itemIds: string[];
  weights: Map<string, Float32Array>;
}

/** How a step reads a bundle's files. */
export interface BundleReadOptions {
  /** Check each file read against the sha256 bundle.json records (default true; false for a bundle edited on purpose). */
  verifyChecksums?: boolean;
}

/** The item vocabulary (items.txt), checked against its recorded sha256 and item count. */
export async function readVocabulary(dir: string, manifest: BundleManifest, options: BundleReadOptions = {}): Promise<string[]> {
  const named = { field: "vocabulary", file: manifest.vocabulary.file, sha256: manifest.vocabulary.sha256 };
  const path = await bundleFilePath(dir, named);
  const data = await readFile(path).catch((cause) => {
    throw new RecshipError(`the item vocabulary "${manifest.vocabulary.file}" is missing`, {
      where: dir,
      fix: "copy the whole bundle folder",
      cause,
    });
  });
  if (options.verifyChecksums ?? true) checkSha256(dir, named, sha256Of(data));
  const text = data.toString("utf8");
  const itemIds = ["", ...text.split("\n").filter((l, i, a) => !(i === a.length - 1 && l === ""))];
  if (itemIds.length - 1 !== manifest.vocabulary.items) {
    throw new RecshipError(`the vocabulary holds ${itemIds.length - 1} items, bundle.json says ${manifest.vocabulary.items}`, {
      where: path,
    });
  }
  return itemIds;
}

/** A bundle's manifest, weights and vocabulary, each file checked against its recorded sha256 unless told not to. */
export async function loadBundle(dir: string, options: BundleReadOptions = {}): Promise<LoadedBundle> {
  const manifest = await readManifest(dir);
  const named = { field: "weights", ...manifest.weights };
  const weightsPath = await bundleFilePath(dir, named);
  if (!existsSync(weightsPath)) {
    throw new RecshipError(`the weights file "${manifest.weights.file}" named in bundle.json is missing`, {
      where: dir,
      fix: "copy the whole bundle folder (or re-run train-model)",
    });
  }
  // read once, decoded and hashed from the same buffer (decoding first: a truncated file says so)
  const data = await readFile(weightsPath);
  const weights = decodeWeights(data, manifest.weights.tensors, undefined, weightsPath);
  if (options.verifyChecksums ?? true) checkSha256(dir, named, sha256Of(data));
  return { dir, manifest, itemIds: await readVocabulary(dir, manifest, options), weights };
}

/** A scratch folder inside the bundle (same file system, so installing its result is a rename). */
export async function bundleWorkFolder(dir: string, prefix: string): Promise<string> {
  try {
    return await mkdtemp(join(dir, prefix));
  } catch (cause) {
    throw new RecshipError(`cannot write into the bundle folder (${(cause as Error).message})`, {
      where: dir,
      fix: "make the bundle folder writable",
      cause,
    });
  }
}
