import type { InferenceSession } from "onnxruntime-node";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import { createSession } from "../onnx/ort-runtime.js";

export const DEVICES = ["cpu", "cuda"] as const;
export type Device = (typeof DEVICES)[number];

export interface OpenedSession {
  session: InferenceSession;
  /** The execution provider that runs the model. */
  device: Device;
}

/**
 * Opens an ONNX model in onnxruntime-node. `cuda` asks for the CUDA execution provider with
 * CPU behind it; when onnxruntime-node has no CUDA build here (or no GPU), it warns and runs
 * on the CPU, and says so.
 */
export async function openSession(
  path: string,
  options: { device: Device; threads?: number; /** let ORT's threads spin between runs (default off) */ spinning?: boolean; log: Logger },
): Promise<OpenedSession> {
  const create = async (providers: string[]) => {
    try {
      return await createSession(path, { threads: options.threads, spinning: options.spinning, providers });
    } catch (cause) {
      if (providers.includes("cuda")) throw cause;
      throw new RecshipError(`onnxruntime could not load the model: ${(cause as Error).message.split("\n")[0]}`, {
        where: path,
        fix: "check that the file is a recship ONNX export (run convert on the bundle)",
        cause,
      });
    }
  };
  if (options.device === "cuda") {
    try {
      const session = await create(["cuda", "cpu"]);
      options.log.info("execution provider: CUDA (CPU for operators CUDA lacks)");
      return { session, device: "cuda" };
    } catch (cause) {
      options.log.warn(
        `--device cuda: the CUDA execution provider did not start (${(cause as Error).message.split("\n")[0]}); running on the CPU. ` +
          "On a GPU host, install onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 and the CUDA 12 / cuDNN 9 runtime",
      );
    }
  }
  const session = await create(["cpu"]);
  options.log.info(`execution provider: CPU${options.threads ? ` (${options.threads} intra-op threads)` : ""}`);
  return { session, device: "cpu" };
}
