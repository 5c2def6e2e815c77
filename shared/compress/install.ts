import { existsSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { readManifest, writeManifest } from "../bundle/bundle-io.js";
import type { BundleManifest } from "../bundle/manifest.js";
import { RECSHIP_VERSION } from "../version.js";
import { calibrationRecord, COMPRESSED_DIR, STUDENT_FILE, type BuiltFile, type Sources } from "./build-all.js";
import type { CompressReport, VariantResult } from "./report.js";
import { METHOD_DESCRIPTIONS } from "./variants.js";

export const ARTIFACT_PREFIX = "compressed/";

/**
 * Puts the kept variants into the bundle: drops the others from the work folder, swaps the
 * `compressed/` folder in (the old one goes only once the new one is in place), then records
 * them in bundle.json (artifacts "compressed/<method>", the chosen one marked).
 */
export async function installVariants(
  dir: string,
  out: string,
  built: readonly BuiltFile[],
  report: CompressReport,
  sources: Sources,
  keep: "all" | "chosen",
): Promise<Set<string>> {
  const { variants } = report;
  const keepIds = new Set(variants.filter((v) => keep === "all" || v.chosen).map((v) => v.method));
  for (const v of variants) v.kept = keepIds.has(v.method);
  for (const b of built) {
    if (!keepIds.has(b.spec.id) && b.file.startsWith(out) && !b.file.startsWith(join(out, "distill"))) await rm(b.file, { force: true });
  }
  if (sources.student && ![...keepIds].some((id) => id.startsWith("distill")))
    await rm(join(out, "distill"), { recursive: true, force: true });
  await swapFolder(out, join(dir, COMPRESSED_DIR));
  const current = await readManifest(dir);
  for (const key of Object.keys(current.artifacts)) if (key.startsWith(ARTIFACT_PREFIX)) delete current.artifacts[key];
  const createdAt = new Date().toISOString();
  for (const v of variants.filter((x) => keepIds.has(x.method))) {
    current.artifacts[`${ARTIFACT_PREFIX}${v.method}`] = artifactOf(v, dir, createdAt, sources, report);
  }
  await writeManifest(dir, current);
  return keepIds;
}

/** Replaces `target` with `from`; the old folder is removed only after the new one is in place. */
async function swapFolder(from: string, target: string): Promise<void> {
  const old = `${target}.old-${process.pid}`;
  if (existsSync(target)) await rename(target, old);
  await rename(from, target);
  await rm(old, { recursive: true, force: true });
}

/** A kept variant's bundle.json artifact: file, checksum, measurements, and its lineage back to the teacher. */
function artifactOf(
  v: VariantResult,
  dir: string,
  createdAt: string,
  sources: Sources,
  report: CompressReport,
): BundleManifest["artifacts"][string] {
  const fromStudent = v.methods.includes("distill");
  return {
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
      from: fromStudent ? STUDENT_FILE : sources.teacherFile,
      fromSha256: fromStudent ? sources.student!.sha256 : sources.teacherSha256,
      teacher: sources.teacherFile,
      teacherSha256: sources.teacherSha256,
      methods: v.methods,
      ...(v.calibration ? { calibration: calibrationRecord(v.calibration, report.settings.seed) } : {}),
      budget: report.budget,
    },
  };
}
