import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
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
  return runActionProcess(action, [entry], inputs, workDir, { event, runnerTemp, extraEnv });
}

/**
 * Runs an action from its TypeScript source (`actions/<name>/index.ts` through tsx) in the same
 * runner environment: its run.ts is tested without a rebuilt dist (the dist tests cover the bundling).
 */
export async function runSourceAction(action: string, inputs: Record<string, string>, workDir: string): Promise<ActionRun> {
  const entry = join(root, "actions", action, "index.ts");
  // tsx's loader by its path: the child runs in the test's folder, where "tsx" does not resolve
  const tsx = pathToFileURL(join(root, "node_modules", "tsx", "dist", "loader.mjs")).href;
  return runActionProcess(action, ["--import", tsx, entry], inputs, workDir, { event: {}, runnerTemp: workDir, extraEnv: {} });
}

async function runActionProcess(
  action: string,
  args: string[],
  inputs: Record<string, string>,
  workDir: string,
  o: { event: object; runnerTemp: string; extraEnv: Record<string, string> },
): Promise<ActionRun> {
  const outputFile = join(workDir, `${action}-output.txt`);
  const summaryFile = join(workDir, `${action}-summary.md`);
  const eventFile = join(workDir, `${action}-event.json`);
  writeFileSync(outputFile, "");
  writeFileSync(summaryFile, "");
  writeFileSync(eventFile, JSON.stringify(o.event));
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
    RUNNER_TEMP: o.runnerTemp,
    ...o.extraEnv,
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const result = await promisify(execFile)(process.execPath, args, { cwd: workDir, env, maxBuffer: 64 << 20 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" }),
  );
  return {
    ...result,
    outputs: parseOutputs(readFileSync(outputFile, "utf8")),
    summary: readFileSync(summaryFile, "utf8"),
  };
}
