import type * as Ort from "onnxruntime-node";
import type { InferenceSession } from "onnxruntime-node";
import { loadNativeModule } from "../util/native-module.js";

export type OnnxRuntime = typeof Ort;

let loaded: OnnxRuntime | undefined;

/**
 * Loads onnxruntime-node. It is a native module, so the action bundles (dist/) leave it out:
 * it is looked up in a tool folder (RECSHIP_ORT_DIR, filled and cached by the convert-onnx
 * action), next to this code (a source checkout's node_modules), then in the working directory.
 */
export function onnxRuntime(toolDir: string | undefined = process.env.RECSHIP_ORT_DIR): OnnxRuntime {
  loaded ??= loadNativeModule<OnnxRuntime>(
    {
      name: "onnxruntime-node",
      neededFor: "the parity check needs it",
      installFix:
        "run `npm install onnxruntime-node`, or set RECSHIP_ORT_DIR to a folder where it is installed (the convert-onnx action does this itself)",
      loadFix: "reinstall onnxruntime-node for this platform (its native library must sit next to the binding)",
    },
    toolDir,
    import.meta.url,
  );
  return loaded;
}

export type GraphOptimization = "disabled" | "basic" | "extended" | "all";

export interface SessionSettings {
  /** Intra-op threads (default: onnxruntime's, one per core); inter-op is 1, the graphs being sequential. */
  threads?: number;
  optimization?: GraphOptimization;
  /** Execution providers in order of preference (default: the CPU). */
  providers?: string[];
  /** Let the pool threads busy-wait between runs (default off). */
  spinning?: boolean;
}

/**
 * The one way recship opens an ONNX model, so the gate, compress-model, the parity check and the
 * server measure and run models with the same session options. The defaults are the server's,
 * measured (README, bench/serve*.json): full graph optimization, sequential execution, and pool
 * threads that do not spin between runs (spinning burns the cores HTTP and the other steps need).
 * Errors are left to the caller, which knows what the model was and how to fix it.
 */
export function createSession(model: string | Uint8Array, settings: SessionSettings = {}): Promise<InferenceSession> {
  const ort = onnxRuntime();
  const options: InferenceSession.SessionOptions = {
    graphOptimizationLevel: settings.optimization ?? "all",
    executionMode: "sequential",
    ...(settings.threads ? { intraOpNumThreads: settings.threads, interOpNumThreads: 1 } : {}),
    ...(settings.providers ? { executionProviders: settings.providers } : {}),
    ...(settings.spinning ? {} : { extra: { session: { intra_op: { allow_spinning: "0" }, inter_op: { allow_spinning: "0" } } } }),
  };
  return typeof model === "string" ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}
