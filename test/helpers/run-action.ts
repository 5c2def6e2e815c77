import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const root = new URL("../..", import.meta.url).pathname;

export interface ActionRun {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
}

/** Parses the GITHUB_OUTPUT file format (name<<delimiter ... delimiter, or name=value). */
export function parseOutputs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const heredoc = /^([^=<]+)<<(.+)$/.exec(lines[i]);
    if (heredoc) {
      const [, name, delimiter] = heredoc;
      const value: string[] = [];
      while (++i < lines.length && lines[i] !== delimiter) value.push(lines[i]);
      out[name] = value.join("\n");
    } else if (lines[i].includes("=")) {
      const k = lines[i].indexOf("=");
      out[lines[i].slice(0, k)] = lines[i].slice(k + 1);
    }
  }
  return out;
}

/**
 * Runs an action's dist bundle the way the runner does: a Node 24 child process with
 * INPUT_* variables, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and GITHUB_EVENT_PATH set.
 */
export async function runDistAction(
  action: string,
  inputs: Record<string, string>,
  workDir: string,
  event: object = {},
  /** RUNNER_TEMP (default: workDir): a folder of its own lets a test check what the step left there. */
  runnerTemp = workDir,
  /** More environment variables (e.g. RUNNER_TOOL_CACHE, npm settings). */
  extraEnv: Record<string, string> = {},
): Promise<ActionRun> {
  const entry = join(root, "dist", action, "index.js");
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  const outputFile = join(workDir, `${action}-output.txt`);
  const summaryFile = join(workDir, `${action}-summary.md`);
  const eventFile = join(workDir, `${action}-event.json`);
  writeFileSync(outputFile, "");
  writeFileSync(summaryFile, "");
  writeFileSync(eventFile, JSON.stringify(event));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? workDir,
    GITHUB_OUTPUT: outputFile,
    GITHUB_STEP_SUMMARY: summaryFile,
    GITHUB_EVENT_PATH: eventFile,
    GITHUB_EVENT_NAME: "push",
    GITHUB_SHA: "0123456789abcdef0123456789abcdef01234567",
    GITHUB_REF: "refs/heads/main",
    GITHUB_REPOSITORY: "shop/recs",
    GITHUB_WORKSPACE: workDir,
    RUNNER_TEMP: runnerTemp,
    ...extraEnv,
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const result = await promisify(execFile)(process.execPath, [entry], { cwd: workDir, env, maxBuffer: 64 << 20 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" }),
  );
  return {
    ...result,
    outputs: parseOutputs(readFileSync(outputFile, "utf8")),
    summary: readFileSync(summaryFile, "utf8"),
  };
}
