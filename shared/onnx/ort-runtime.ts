import { createRequire } from "node:module";
import { join } from "node:path";
import type * as Ort from "onnxruntime-node";
import { RecshipError } from "../errors.js";

export type OnnxRuntime = typeof Ort;

let loaded: OnnxRuntime | undefined;

/**
 * Loads onnxruntime-node. It is a native module, so the action bundles (dist/) leave it out:
 * it is looked up in a tool folder (RECSHIP_ORT_DIR, filled and cached by the convert-onnx
 * action), next to this code (a source checkout's node_modules), then in the working directory.
 */
export function onnxRuntime(toolDir: string | undefined = process.env.RECSHIP_ORT_DIR): OnnxRuntime {
  if (loaded) return loaded;
  const bases = [toolDir ? join(toolDir, "noop.js") : undefined, import.meta.url, join(process.cwd(), "noop.js")].filter(
    Boolean,
  ) as string[];
  for (const base of bases) {
    const req = createRequire(base);
    let entry: string;
    try {
      entry = req.resolve("onnxruntime-node");
    } catch {
      continue; // not installed there
    }
    try {
      loaded = req(entry) as OnnxRuntime;
      return loaded;
    } catch (cause) {
      throw new RecshipError(`onnxruntime-node is installed (${entry}) but failed to load: ${(cause as Error).message.split("\n")[0]}`, {
        fix: "reinstall onnxruntime-node for this platform (its native library must sit next to the binding)",
        cause,
      });
    }
  }
  throw new RecshipError("onnxruntime-node is not installed, and the parity check needs it", {
    fix: "run `npm install onnxruntime-node`, or set RECSHIP_ORT_DIR to a folder where it is installed (the convert-onnx action does this itself)",
  });
}
