import type { Logger } from "../../shared/log.js";
import { installToolPackage } from "./tool-install.js";

/** The tfjs-node-gpu release that matches the bundled @tensorflow/tfjs (4.22.0). */
const TFJS_NODE_GPU_VERSION = "4.22.0";

/**
 * Installs @tensorflow/tfjs-node-gpu into a cached tool folder; its install script downloads
 * libtensorflow (set TFJS_NODE_CDN_STORAGE / TFJS_NODE_BASE_URI for a mirror). Returns the
 * folder, which the backend loader searches (RECSHIP_TFJS_NODE_DIR).
 */
export function installTfjsNodeGpu(log: Logger): Promise<string> {
  return installToolPackage(
    {
      name: "@tensorflow/tfjs-node-gpu",
      version: TFJS_NODE_GPU_VERSION,
      runInstallScript: true,
      note: "downloads libtensorflow; needs CUDA 11.2 / cuDNN 8.1",
      fix:
        "its install script downloads libtensorflow from Google's storage: let the runner reach it, set TFJS_NODE_CDN_STORAGE or " +
        "TFJS_NODE_BASE_URI to a mirror, or install @tensorflow/tfjs-node-gpu yourself and set RECSHIP_TFJS_NODE_DIR to its folder " +
        '(README, "Backends and GPU runners")',
    },
    log,
  );
}
