import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { readManifest } from "./bundle-io.js";
import type { BundleManifest } from "./manifest.js";
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

/** explicit path > a compressed artifact marked `chosen` > artifacts.onnx. */
export function pickArtifact(manifest: BundleManifest): { name: string; artifact: Artifact } | undefined {
  const chosen = Object.entries(manifest.artifacts).find(([name, a]) => name !== "onnx" && a.chosen === true && /\.onnx$/i.test(a.file));
  if (chosen) return { name: chosen[0], artifact: chosen[1] };
  const onnx = manifest.artifacts.onnx;
  return onnx ? { name: "onnx", artifact: onnx } : undefined;
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export async function readVocabulary(dir: string, manifest: BundleManifest): Promise<string[]> {
  const path = join(dir, manifest.vocabulary.file);
  const text = await readFile(path, "utf8").catch((cause) => {
    throw new RecshipError(`the item vocabulary "${manifest.vocabulary.file}" is missing`, {
      where: dir,
      fix: "copy the whole bundle folder",
      cause,
    });
  });
  const itemIds = ["", ...text.split("\n").filter((l, i, a) => !(i === a.length - 1 && l === ""))];
  if (itemIds.length - 1 !== manifest.vocabulary.items) {
    throw new RecshipError(`the vocabulary holds ${itemIds.length - 1} items, bundle.json says ${manifest.vocabulary.items}`, {
      where: path,
    });
  }
  return itemIds;
}

/**
 * Opens a bundle (or a stored baseline) for the gate: `model` overrides the file, otherwise
 * a compressed variant marked chosen in bundle.json, otherwise the ONNX export.
 */
export async function openModelSource(bundleDir: string, options: { model?: string; role?: string } = {}): Promise<ModelSource> {
  const dir = resolve(bundleDir);
  const role = options.role ?? "model";
  const manifest = await readManifest(dir);
  let modelPath: string;
  let artifact: string;
  let recorded: Artifact | undefined;
  if (options.model) {
    modelPath = resolve(options.model);
    artifact = "explicit";
  } else {
    const picked = pickArtifact(manifest);
    if (!picked) {
      throw new RecshipError(`the ${role} bundle has no ONNX model (no artifacts.onnx in bundle.json)`, {
        where: dir,
        fix: "run convert-onnx on the bundle first, or pass the model file explicitly",
      });
    }
    modelPath = join(dir, picked.artifact.file);
    artifact = picked.name;
    recorded = picked.artifact;
  }
  if (!existsSync(modelPath)) {
    throw new RecshipError(`the ${role} model file "${modelPath}" is missing`, {
      where: dir,
      fix: artifact === "explicit" ? "check the path" : "copy the whole bundle folder (bundle.json names the file)",
    });
  }
  let bytesOnDisk = (await stat(modelPath)).size;
  const external = (recorded?.externalData as { file?: string } | undefined)?.file ?? `${basename(modelPath)}.data`;
  const externalPath = join(dirname(modelPath), basename(external));
  if (existsSync(externalPath)) bytesOnDisk += (await stat(externalPath)).size;
  const sha256 = await sha256OfFile(modelPath);
  return {
    dir,
    manifest,
    modelPath,
    artifact,
    itemIds: await readVocabulary(dir, manifest),
    maxlen: manifest.model.config.maxlen,
    bytesOnDisk,
    sha256,
  };
}
