import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { realpath } from "node:fs/promises";
import { isAbsolute, join, relative, sep } from "node:path";
import { RecshipError } from "../errors.js";
import type { OptionSpec } from "../util/option-spec.js";
import { MANIFEST_FILE, namedFiles, type BundleManifest, type NamedFile } from "./manifest.js";

/**
 * How to get past a checksum mismatch: restore the bundle, or say the change is intended. The
 * step's flag/input names are the same everywhere (serve, gate, compress, convert, deploy).
 */
const CHECKSUM_FIX =
  "restore the bundle from its artifact, or re-run the step that wrote the file; if the change is intended (a bundle edited on purpose), skip the check with --skip-bundle-checksums (the action input skip-bundle-checksums: true)";

/** The switch of every step that reads a bundle (its CLI flag and action input). */
export const SKIP_CHECKSUMS_OPTION: OptionSpec = {
  name: "skip-bundle-checksums",
  kind: "boolean",
  default: "false",
  description:
    "Use the bundle even where its files differ from the sha256s bundle.json records (a bundle edited on purpose); by default such a bundle is refused",
};

/** sha256 of a file, streamed: a multi-GB model is never held in memory for it. */
export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * The path of a file bundle.json names (checkManifest already refused absolute and `..` names),
 * refused when a symlink on the way leads out of the bundle folder: what is checked and served
 * must be the bundle's own file. A missing file is left to the caller, which says what it needed.
 */
export async function bundleFilePath(dir: string, named: Pick<NamedFile, "field" | "file">): Promise<string> {
  const path = join(dir, named.file);
  let real: string;
  try {
    real = await realpath(path);
  } catch {
    return path;
  }
  const inside = relative(await realpath(dir), real);
  if (inside === "" || inside === ".." || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    throw new RecshipError(`${named.field}.file "${named.file}" is a link to ${real}, outside the bundle folder`, {
      where: join(dir, MANIFEST_FILE),
      fix: "copy the file into the bundle folder instead of linking to it",
    });
  }
  return path;
}

/** Refuses a file whose sha256 is not the one bundle.json records for it. */
export function checkSha256(dir: string, named: NamedFile, actual: string): void {
  if (actual === named.sha256) return;
  const recorded = named.recordedIn ?? { file: MANIFEST_FILE, field: `${named.field}.sha256` };
  throw new RecshipError(
    `${named.file} does not match the checksum ${recorded.file} records (${recorded.field} ${named.sha256.slice(0, 12)}…, the file's ${actual.slice(0, 12)}…): it changed after the step that wrote it`,
    { where: dir, fix: CHECKSUM_FIX },
  );
}

/** Streams a named file's sha256 and checks it against bundle.json; the file's sha256. */
export async function verifyNamedFile(dir: string, named: NamedFile, path?: string): Promise<string> {
  const actual = await sha256OfFile(path ?? (await bundleFilePath(dir, named)));
  checkSha256(dir, named, actual);
  return actual;
}

/**
 * Checks the files bundle.json records under `artifact` ("onnx": the model and its external
 * data): that no symlink leads out of the bundle and, when `verify`, their sha256s, streamed.
 * Missing files are left to the caller, which says what it needed.
 */
export async function checkArtifactFiles(dir: string, manifest: BundleManifest, artifact: string, verify: boolean): Promise<void> {
  const field = `artifacts.${artifact}`;
  for (const named of namedFiles(manifest).filter((n) => n.field === field || n.field === `${field}.externalData`)) {
    const path = await bundleFilePath(dir, named);
    if (verify && existsSync(path)) await verifyNamedFile(dir, named, path);
  }
}
