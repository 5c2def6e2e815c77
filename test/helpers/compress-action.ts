import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseOutputs, type ActionRun } from "./run-action.js";

const root = new URL("../..", import.meta.url).pathname;

/**
 * Runs the compress-model action's entry (actions/compress-model/index.ts, through tsx, so no
 * dist build is needed) the way the runner does: a child process with INPUT_* variables,
 * GITHUB_OUTPUT and GITHUB_STEP_SUMMARY.
 */
export async function runCompressAction(inputs: Record<string, string>, workDir: string, tag: string): Promise<ActionRun> {
  const outputFile = join(workDir, `${tag}-output.txt`);
  const summaryFile = join(workDir, `${tag}-summary.md`);
  writeFileSync(outputFile, "");
  writeFileSync(summaryFile, "");
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? workDir,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_WORKSPACE: workDir,
    RUNNER_TEMP: workDir,
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const tsx = join(root, "node_modules", ".bin", "tsx");
  const result = await promisify(execFile)(tsx, [join(root, "actions", "compress-model", "index.ts")], {
    cwd: workDir,
    env,
    maxBuffer: 64 << 20,
  }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" }),
  );
  return { ...result, outputs: parseOutputs(readFileSync(outputFile, "utf8")), summary: readFileSync(summaryFile, "utf8") };
}
