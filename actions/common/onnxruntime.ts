import type { Logger } from "../../shared/log.js";
import { onnxRuntime } from "../../shared/onnx/ort-runtime.js";
import { installToolPackage } from "./tool-install.js";

/** The onnxruntime-node release recship is tested with (package.json pins the same). */
export const ONNXRUNTIME_NODE_VERSION = "1.30.0";

/**
 * Makes onnxruntime-node loadable. The dist bundle leaves the native module out, so unless
 * the runner already has it, it goes into a cached tool folder (the npm package carries the
 * CPU binaries; its install script, which only fetches GPU extras, is skipped). Sets RECSHIP_ORT_DIR.
 */
export async function ensureOnnxRuntime(log: Logger): Promise<void> {
  try {
    onnxRuntime();
    return;
  } catch {
    // not on the runner: install it below
  }
  const dir = await installToolPackage({ name: "onnxruntime-node", version: ONNXRUNTIME_NODE_VERSION, runInstallScript: false }, log);
  process.env.RECSHIP_ORT_DIR = dir;
  onnxRuntime(dir);
}
