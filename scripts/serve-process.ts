import { spawn, type ChildProcess } from "node:child_process";

/**
 * Starts `recship serve <args>` as a child process (`entry`: node arguments before the CLI's own,
 * e.g. this process's loader flags and shared/cli/main.ts, or dist/cli/index.js) and resolves
 * with its URL and what it logged up to then once it says it is listening and ready; rejects with
 * its output if it exits first.
 */
export function spawnServe(entry: string[], serveArgs: string[]): Promise<{ child: ChildProcess; url: string; startupLog: string }> {
  const child = spawn(process.execPath, [...entry, "serve", ...serveArgs], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /listening on (http:\/\/[^\s]+)/.exec(output);
      if (child.exitCode !== null) {
        clearInterval(timer);
        reject(new Error(`recship serve exited:\n${output}`));
      } else if (m && /ready: /.test(output)) {
        clearInterval(timer);
        resolve({ child, url: m[1], startupLog: output });
      }
    }, 100);
  });
}
