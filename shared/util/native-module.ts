import { createRequire } from "node:module";
import { join } from "node:path";
import { RecshipError } from "../errors.js";

export interface NativeModule {
  /** npm package name, e.g. "onnxruntime-node". */
  name: string;
  /** What needs it, for the error when it is missing ("the parity check needs it"). */
  neededFor: string;
  /** How to get it when it is missing. */
  installFix: string;
  /** How to repair an installed copy that fails to load. */
  loadFix: string;
}

/**
 * Loads a native npm module that the action bundles (dist/) leave out: from a tool folder (an
 * action fills and caches it), next to `here` (a source checkout's node_modules), then the working
 * directory. The first copy found must load; a copy that fails says so instead of falling through.
 */
export function loadNativeModule<T>(module: NativeModule, toolDir: string | undefined, here: string): T {
  const bases = [toolDir ? join(toolDir, "noop.js") : undefined, here, join(process.cwd(), "noop.js")].filter(Boolean) as string[];
  for (const base of bases) {
    const req = createRequire(base);
    let entry: string;
    try {
      entry = req.resolve(module.name);
    } catch {
      continue; // not installed there
    }
    try {
      return req(entry) as T;
    } catch (cause) {
      throw new RecshipError(`${module.name} is installed (${entry}) but failed to load: ${(cause as Error).message.split("\n")[0]}`, {
        fix: module.loadFix,
        cause,
      });
    }
  }
  throw new RecshipError(`${module.name} is not installed, and ${module.neededFor}`, { fix: module.installFix });
}
