import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import * as cache from "@actions/cache";
import { RecshipError } from "../../shared/errors.js";
import type { Logger } from "../../shared/log.js";

export interface ToolPackage {
  /** npm package name, e.g. "onnxruntime-node". */
  name: string;
  version: string;
  /** Run the package's install script (tfjs-node-gpu needs it to fetch libtensorflow). */
  runInstallScript: boolean;
  /** Shown while installing: what the install fetches or needs. */
  note?: string;
  /** What to do when the install fails (beyond the registry's reachability). */
  fix?: string;
}

/**
 * Installs a native npm package into a tool folder, the way actions/setup-* do: used as is
 * when the folder already holds it, restored from actions/cache when a runner paid the
 * install once, else `npm install --prefix <folder>` and saved to the cache. Returns the folder.
 */
export async function installToolPackage(tool: ToolPackage, log: Logger): Promise<string> {
  const root = process.env.RUNNER_TOOL_CACHE ?? join(process.env.HOME ?? "/tmp", ".recship-tools");
  const platform = `${process.platform}-${process.arch}`;
  const dir = join(root, `recship-${tool.name.replace(/^@/, "").replace(/\//g, "-")}`, tool.version, platform);
  const key = `recship-${tool.name}-${tool.version}-${platform}-node${process.versions.modules}`;
  const installed = () => existsSync(join(dir, "node_modules", ...tool.name.split("/"), "package.json"));
  if (installed()) {
    log.info(`${tool.name}@${tool.version} already in ${dir}`);
    return dir;
  }
  try {
    if (await cache.restoreCache([dir], key)) log.info(`${tool.name}@${tool.version} restored from the actions cache (${key})`);
  } catch (error) {
    log.warn(`the actions cache is unavailable (${(error as Error).message}); installing ${tool.name}`);
  }
  if (!installed()) {
    await mkdir(dir, { recursive: true });
    log.info(`installing ${tool.name}@${tool.version} into ${dir}${tool.note ? ` (${tool.note})` : ""}`);
    const scripts = tool.runInstallScript ? [`--allow-scripts=${tool.name}`] : ["--ignore-scripts"];
    try {
      await promisify(execFile)(
        "npm",
        ["install", "--no-save", "--no-audit", "--no-fund", ...scripts, "--prefix", dir, `${tool.name}@${tool.version}`],
        { maxBuffer: 64 << 20 },
      );
    } catch (error) {
      // a half-done install (e.g. the package unpacked, its install script failed) must not pass
      // for an installed one on the next run
      await rm(dir, { recursive: true, force: true });
      const npmSays = ((error as { stderr?: string }).stderr ?? (error as Error).message)
        .split("\n")
        .filter((line) => /npm error/.test(line) && !/A complete log/.test(line))
        .slice(0, 4)
        .join(" | ");
      throw new RecshipError(`could not install ${tool.name}@${tool.version} into ${dir}: ${npmSays || (error as Error).message}`, {
        fix: tool.fix ?? "check that the runner reaches the npm registry (or set npm_config_registry to a mirror)",
      });
    }
    try {
      await cache.saveCache([dir], key);
    } catch (error) {
      log.warn(`could not save ${tool.name} to the actions cache: ${(error as Error).message}`);
    }
  }
  return dir;
}
