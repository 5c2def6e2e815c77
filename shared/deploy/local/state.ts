import { existsSync } from "node:fs";
import { mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { RecshipError } from "../../errors.js";
import { sleep } from "./processes.js";

export interface LocalBackend {
  variant: "stable" | "canary";
  /** Request-id prefix of this server: the router sends feedback back by it. */
  tag: string;
  port: number;
  pid: number;
  bundle: string;
  model?: string;
  /** Started with --skip-bundle-checksums (a bundle edited on purpose): a promotion keeps it. */
  skipBundleChecksums?: boolean;
  version: string;
  log: string;
  startedAt: string;
}

/** What the local target runs, so separate CLI invocations can carry on where the last one stopped. */
export interface LocalState {
  schema: 1;
  host: string;
  router: { port: number; adminPort: number; pid: number; token: string; log: string };
  stable?: LocalBackend;
  canary?: LocalBackend;
  /** Canary share of the traffic, percent. */
  weight: number;
  updatedAt: string;
}

export async function readState(path: string): Promise<LocalState | undefined> {
  if (!existsSync(path)) return undefined;
  let parsed: LocalState;
  try {
    parsed = JSON.parse(await readFile(path, "utf8")) as LocalState;
  } catch (cause) {
    throw new RecshipError("the local deploy state file is not valid JSON", {
      where: path,
      fix: "stop the processes it named and delete it",
      cause,
    });
  }
  if (parsed.schema !== 1 || !parsed.router) {
    throw new RecshipError("this is not a recship local deploy state file", {
      where: path,
      fix: "pass the --state file a local deploy wrote",
    });
  }
  return parsed;
}

/** Written through a temp file and a rename, readable only by the owner (it holds the router's admin token). */
export async function writeState(path: string, state: LocalState): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  state.updatedAt = new Date().toISOString();
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

export async function removeState(path: string): Promise<void> {
  await rm(path, { force: true });
}

/**
 * Runs `fn` holding `<state>.lock`: two deploys at once would start and stop each other's
 * servers. A lock whose holder died is taken over.
 */
export async function withStateLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 120_000): Promise<T> {
  const lock = `${path}.lock`;
  await mkdir(dirname(lock), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await open(lock, "wx");
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number((await readFile(lock, "utf8").catch(() => "")).trim());
      if (holder && !isAlive(holder)) {
        await rm(lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new RecshipError(`another deploy (pid ${holder || "?"}) holds the lock on the state file`, {
          where: lock,
          fix: "wait for it to finish; if no deploy is running, delete the lock file",
        });
      }
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
