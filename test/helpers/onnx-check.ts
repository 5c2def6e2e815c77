import { execFileSync, spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { decodeModel, type OnnxProto } from "../../shared/onnx/proto.js";

const PYTHON = "/usr/bin/python3";

/** Why the independent checker (Python `onnx`) cannot run here, or undefined when it can. */
export function onnxCheckerUnavailable(): string | undefined {
  const probe = spawnSync(PYTHON, ["-c", "import onnx"], { encoding: "utf8" });
  if (probe.error) return `${PYTHON} is not available (${probe.error.message})`;
  if (probe.status !== 0) return `${PYTHON} has no onnx package (apt install python3-onnx)`;
  return undefined;
}

/** onnx.checker.check_model(path, full_check=True); throws with the checker's message on failure. */
export function checkWithOnnx(path: string): string {
  const script = "import onnx, sys\nonnx.checker.check_model(sys.argv[1], full_check=True)\nprint('ok', onnx.__version__)";
  return execFileSync(PYTHON, ["-c", script, path], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

export async function readModel(path: string): Promise<OnnxProto.ModelProto> {
  return decodeModel(await readFile(path));
}

export function metadataOf(model: OnnxProto.IModelProto): Record<string, string> {
  return Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? "", p.value ?? ""]));
}
