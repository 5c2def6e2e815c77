import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import * as cache from "@actions/cache";
import type { Logger } from "../../shared/log.js";
import { onnxRuntime } from "../../shared/onnx/ort-runtime.js";

/** The onnxruntime-node release recship is tested with (package.json pins the same). */
export const ONNXRUNTIME_NODE_VERSION = "1.30.0";

/**
 * Makes onnxruntime-node loadable. The dist bundle leaves the native module out, so unless
 * the runner already has it, it is installed into a tool folder (the npm package carries the
 * CPU binaries; its install script, which only fetches GPU extras, is skipped), restored
 * from actions/cache when a runner paid the install once. Sets RECSHIP_ORT_DIR.
 */
export async function ensureOnnxRuntime(log: Logger): Promise<void> {
  try {
    onnxRuntime();
    return;
  } catch {
    // not installed: fetch it below
  }
  const root = process.env.RUNNER_TOOL_CACHE ?? join(process.env.HOME ?? "/tmp", ".recship-tools");
  const dir = join(root, "recship-onnxruntime-node", ONNXRUNTIME_NODE_VERSION, `${process.platform}-${process.arch}`);
  const key = `recship-onnxruntime-node-${ONNXRUNTIME_NODE_VERSION}-${process.platform}-${process.arch}`;
  const installed = () => existsSync(join(dir, "node_modules", "onnxruntime-node", "package.json"));
  if (!installed()) {
    try {
      if (await cache.restoreCache([dir], key)) log.info(`onnxruntime-node restored from the actions cache (${key})`);
    } catch (error) {
      log.warn(`the actions cache is unavailable (${(error as Error).message}); installing onnxruntime-node`);
    }
  }
  if (!installed()) {
    await mkdir(dir, { recursive: true });
    log.info(`installing onnxruntime-node@${ONNXRUNTIME_NODE_VERSION} into ${dir}`);
    await promisify(execFile)(
      "npm",
      [
        "install",
        "--no-save",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--prefix",
        dir,
        `onnxruntime-node@${ONNXRUNTIME_NODE_VERSION}`,
      ],
      {
        maxBuffer: 64 << 20,
      },
    );
    try {
      await cache.saveCache([dir], key);
    } catch (error) {
      log.warn(`could not save onnxruntime-node to the actions cache: ${(error as Error).message}`);
    }
  }
  process.env.RECSHIP_ORT_DIR = dir;
  onnxRuntime(dir);
}
