import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { RecshipError } from "../../errors.js";

export interface Daemon {
  pid: number;
  /** Resolves with the exit code if the process ends while this CLI still runs. */
  exited: Promise<number | null>;
}

/**
 * Starts `command` detached from this process (its own process group, output appended to
 * `logFile`), so it outlives the CLI invocation that started it.
 */
export function startDaemon(command: string[], args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Daemon {
  const [cmd, ...pre] = command;
  const fd = openSync(logFile, "a");
  try {
    const child = spawn(cmd, [...pre, ...args], { detached: true, stdio: ["ignore", fd, fd], env });
    if (child.pid === undefined) throw new RecshipError(`could not start ${cmd}`, { fix: "check the recship command" });
    const exited = new Promise<number | null>((resolve) => {
      child.once("exit", (code, signal) => resolve(code ?? (signal ? -1 : null)));
      child.once("error", () => resolve(-1));
    });
    child.unref();
    return { pid: child.pid, exited };
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether `pid` is running and, where /proc tells, is a recship process (a stale pid in the
 * state file may since belong to something else, which must never be signalled).
 */
export function isRecshipProcess(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false; // ESRCH: gone; EPERM: someone else's
  }
  if (!existsSync("/proc/self")) return true; // no procfs: trust the pid
  const cmdline = `/proc/${pid}/cmdline`;
  if (!existsSync(cmdline)) return false;
  try {
    const text = readFileSync(cmdline, "utf8");
    if (text === "") return false; // a zombie
    return /recship|cli[\\/](main\.[jt]s|index\.js)/.test(text);
  } catch {
    return false;
  }
}

/** SIGTERM (the server drains), wait up to `timeoutMs`, then SIGKILL. Resolves once the process is gone. */
export async function stopProcess(pid: number | undefined, timeoutMs = 30_000): Promise<"stopped" | "killed" | "not-running"> {
  if (!isRecshipProcess(pid)) return "not-running";
  try {
    process.kill(pid!, "SIGTERM");
  } catch {
    return "not-running";
  }
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isRecshipProcess(pid)) return "stopped";
    await sleep(50);
  }
  try {
    process.kill(pid!, "SIGKILL");
  } catch {
    // gone meanwhile
  }
  while (isRecshipProcess(pid)) await sleep(50);
  return "killed";
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The last `lines` lines of a log file, for error messages. */
export function logTail(path: string, lines = 15): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
