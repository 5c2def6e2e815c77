import { execFileSync } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";

export interface CommandContext {
  log: Logger;
  writeReport(path: string | undefined, report: unknown): Promise<void>;
}

export async function writeJsonReport(path: string | undefined, report: unknown): Promise<void> {
  if (!path) return;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}

export function int(value: unknown, flag: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new RecshipError(`${flag} must be a whole number, got "${String(value)}"`);
  return n;
}

export function number(value: unknown, flag: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new RecshipError(`${flag} must be a positive number, got "${String(value)}"`);
  return n;
}

export function oneOf<T extends string>(value: unknown, allowed: readonly T[], flag: string): T {
  if (!allowed.includes(value as T)) {
    throw new RecshipError(`${flag} must be one of ${allowed.join(", ")}; got "${String(value)}"`);
  }
  return value as T;
}

export function list(value: unknown): string[] | undefined {
  if (value === undefined || value === "") return undefined;
  return String(value)
    .split(/[,\n]/)
    .map((s) => s.trim())
    .filter(Boolean);
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

/** "all" or a positive whole number of sequences. */
export function paritySequences(value: string | undefined, flag: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  if (value === "all") return Number.MAX_SAFE_INTEGER;
  const n = int(value, flag);
  if (n === undefined || n < 1) throw new RecshipError(`${flag} must be "all" or a positive whole number, got "${value}"`);
  return n;
}
