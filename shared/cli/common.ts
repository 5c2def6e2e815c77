import { execFileSync } from "node:child_process";
import type { Logger } from "../log.js";

export interface CommandContext {
  log: Logger;
  writeReport(path: string | undefined, report: unknown): Promise<void>;
}

/** The commit being built, from git in the working directory (the CLI's view; actions use GITHUB_SHA). */
export function gitInfo(): { sha?: string; ref?: string } | undefined {
  try {
    const sha = execFileSync("git", ["rev-parse", "HEAD"], { stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
    const ref = execFileSync("git", ["rev-parse", "--abbrev-ref", "HEAD"], { stdio: ["ignore", "pipe", "ignore"] })
      .toString()
      .trim();
    return { sha, ref };
  } catch {
    return undefined;
  }
}
