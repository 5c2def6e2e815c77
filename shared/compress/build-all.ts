import { join } from "node:path";
import { ONNX_FILE } from "../convert/convert-bundle.js";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import type { OnnxProto } from "../onnx/proto.js";
import { writeModel } from "../onnx/writer.js";
import { RECSHIP_VERSION } from "../version.js";
import { buildVariant, type BuildSettings, type BuiltVariant } from "./build-variant.js";
import type { DistilledStudent } from "./distill/distill-student.js";
import { readModelFile } from "./graph/editable-graph.js";
import type { FailedVariant, VariantResult } from "./report.js";
import type { VariantSpec } from "./variants.js";

export const COMPRESSED_DIR = "compressed";
/** Where a distilled student lives inside the compressed folder. */
export const STUDENT_FILE = `${COMPRESSED_DIR}/distill/${ONNX_FILE}`;

/** A variant written to the work folder, ready to measure. */
export interface BuiltFile {
  spec: VariantSpec;
  file: string;
  /** Every file it needs (a student may have external data). */
  files: string[];
  sha256: string;
  details: Record<string, unknown>;
  calibration?: VariantResult["calibration"];
}

/** The models variants start from: the teacher (the bundle's fp32 model) and, when asked for, the distilled student. */
export interface Sources {
  teacher: OnnxProto.IModelProto;
  /** The teacher's file in the bundle and its recorded sha256. */
  teacherFile: string;
  teacherSha256: string;
  student?: DistilledStudent;
}

/** Builds every variant into `out`; one that cannot be built (a RecshipError) is reported, not fatal. */
export async function buildAll(
  specs: readonly VariantSpec[],
  sources: Sources,
  settings: BuildSettings,
  out: string,
  log: Logger,
): Promise<{ built: BuiltFile[]; failed: FailedVariant[] }> {
  const built: BuiltFile[] = [];
  const failed: FailedVariant[] = [];
  for (const spec of specs) {
    try {
      built.push(await buildOne(spec, sources, settings, out, log));
    } catch (error) {
      if (!(error instanceof RecshipError)) throw error;
      failed.push({ method: spec.id, methods: spec.methods, error: error.message });
      log.warn(`${spec.id}: not built (${error.message})`);
    }
  }
  return { built, failed };
}

/** One variant: the student alone as it is, else its graph methods applied to the teacher or the student. */
async function buildOne(spec: VariantSpec, sources: Sources, settings: BuildSettings, out: string, log: Logger): Promise<BuiltFile> {
  const graphMethods = spec.methods.filter((m) => m !== "distill");
  const student = spec.methods.includes("distill") ? sources.student! : undefined;
  if (student && graphMethods.length === 0) {
    return { spec, file: student.modelPath, files: student.modelFiles, sha256: student.sha256, details: { distill: student.summary } };
  }
  const source = student ? await readModelFile(student.modelPath) : sources.teacher;
  const t0 = performance.now();
  const variant = await buildVariant(source, graphMethods, settings);
  variant.model.metadataProps = [
    ...(variant.model.metadataProps ?? []).filter((p) => p.key !== "recship.compression"),
    { key: "recship.compression", value: JSON.stringify(compressionMetadata(spec, variant, sources, student, settings.seed)) },
  ];
  const file = join(out, `${spec.id}.onnx`);
  const written = await writeModel(file, variant.model);
  log.info(`${spec.id}: ${written.bytes} bytes (${((performance.now() - t0) / 1000).toFixed(1)}s)`);
  return {
    spec,
    file,
    files: [file],
    sha256: written.sha256,
    details: student ? { distill: student.summary, ...variant.details } : variant.details,
    ...(variant.calibration ? { calibration: variant.calibration } : {}),
  };
}

/** The `recship.compression` metadata a variant's ONNX file carries: how it was made and from what. */
function compressionMetadata(
  spec: VariantSpec,
  variant: BuiltVariant,
  sources: Sources,
  student: DistilledStudent | undefined,
  seed: number,
): Record<string, unknown> {
  return {
    method: spec.id,
    recshipVersion: RECSHIP_VERSION,
    source: student ? STUDENT_FILE : sources.teacherFile,
    sourceSha256: student ? student.sha256 : sources.teacherSha256,
    ...(variant.calibration ? { calibration: calibrationRecord(variant.calibration, seed) } : {}),
  };
}

/** What static quantization calibrated on, as recorded in the file and in bundle.json. */
export function calibrationRecord(c: NonNullable<VariantResult["calibration"]>, seed: number) {
  return { method: c.method, sequences: c.sequences, seed, percentile: c.percentile };
}
