import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import * as cache from "@actions/cache";
import type { Logger } from "../../shared/log.js";

/** The tfjs-node-gpu release that matches the bundled @tensorflow/tfjs (4.22.0). */
export const TFJS_NODE_GPU_VERSION = "4.22.0";

/**
 * Installs @tensorflow/tfjs-node-gpu into a tool folder the way actions/setup-* do: restored
 * from actions/cache when a runner has paid the install once, else `npm install` (which
 * downloads libtensorflow; set TFJS_NODE_CDN_STORAGE / TFJS_NODE_BASE_URI for a mirror) and
 * saved. Returns the folder, which the backend loader searches.
 */
export async function installTfjsNodeGpu(log: Logger): Promise<string> {
  const root = process.env.RUNNER_TOOL_CACHE ?? join(process.env.HOME ?? "/tmp", ".recship-tools");
  const dir = join(root, "recship-tfjs-node-gpu", TFJS_NODE_GPU_VERSION, `${process.platform}-${process.arch}`);
  const key = `recship-tfjs-node-gpu-${TFJS_NODE_GPU_VERSION}-${process.platform}-${process.arch}-node${process.versions.modules}`;
  const installed = () => existsSync(join(dir, "node_modules", "@tensorflow", "tfjs-node-gpu", "package.json"));
  if (installed()) {
    log.info(`tfjs-node-gpu ${TFJS_NODE_GPU_VERSION} already in ${dir}`);
    return dir;
  }
  try {
    if (await cache.restoreCache([dir], key)) log.info(`tfjs-node-gpu restored from the actions cache (${key})`);
  } catch (error) {
    log.warn(`the actions cache is unavailable (${(error as Error).message}); installing tfjs-node-gpu`);
  }
  if (!installed()) {
    await mkdir(dir, { recursive: true });
    log.info(
      `installing @tensorflow/tfjs-node-gpu@${TFJS_NODE_GPU_VERSION} into ${dir} (downloads libtensorflow; needs CUDA 11.2 / cuDNN 8.1)`,
    );
    await promisify(execFile)(
      "npm",
      [
        "install",
        "--no-save",
        "--no-audit",
        "--no-fund",
        "--prefix",
        dir,
        `@tensorflow/tfjs-node-gpu@${TFJS_NODE_GPU_VERSION}`,
        "--allow-scripts=@tensorflow/tfjs-node-gpu",
      ],
      { maxBuffer: 64 << 20 },
    );
    try {
      await cache.saveCache([dir], key);
    } catch (error) {
      log.warn(`could not save tfjs-node-gpu to the actions cache: ${(error as Error).message}`);
    }
  }
  return dir;
}
