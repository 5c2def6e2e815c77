import { execFileSync, spawnSync } from "node:child_process";
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { decodeModel, type OnnxProto } from "../../shared/onnx/proto.js";
import { readFloatTensor } from "../../shared/onnx/tensor.js";

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

/** An initializer's float values, following external data if it has any. */
export async function initializerValues(modelPath: string, model: OnnxProto.IModelProto, name: string): Promise<Float32Array> {
  const t = model.graph!.initializer!.find((i) => i.name === name);
  if (!t) throw new Error(`no initializer ${name}`);
  if (t.externalData && t.externalData.length > 0) {
    const entry = (k: string) => t.externalData!.find((e) => e.key === k)?.value ?? "";
    const data = await readFile(join(dirname(modelPath), entry("location")));
    const offset = Number(entry("offset"));
    return readFloatTensor(t, data.subarray(offset, offset + Number(entry("length"))));
  }
  return readFloatTensor(t);
}

export function metadataOf(model: OnnxProto.IModelProto): Record<string, string> {
  return Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? "", p.value ?? ""]));
}
