import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** argv that starts the recship CLI from source in a child process (node + the tsx loader, no wrapper process). */
export function recshipCommand(): string[] {
  const loader = pathToFileURL(createRequire(join(root, "package.json")).resolve("tsx")).href;
  return [process.execPath, "--import", loader, join(root, "shared", "cli", "main.ts")];
}

export interface ChildServer {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** `recship <args>` as a child process, stdout and stderr collected. */
export function spawnRecship(args: string[]): ChildServer {
  const [cmd, ...pre] = recshipCommand();
  const child = spawn(cmd, [...pre, ...args], { stdio: ["ignore", "pipe", "pipe"], cwd: root });
  let text = "";
  child.stdout!.on("data", (d: Buffer) => (text += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, output: () => text, exited };
}

/** Polls `url` until it answers 200; fails early when the child has exited. */
export async function waitFor200(url: string, server?: ChildServer, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (server && server.child.exitCode !== null) throw new Error(`the server exited (${server.child.exitCode}):\n${server.output()}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms:\n${server?.output() ?? ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** POSTs JSON and returns the status and parsed body. */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** Value of one Prometheus sample line (`name{labels} value`) whose name and labels all match, summed over matches. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  let found = false;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
    found = true;
  }
  if (!found) throw new Error(`no sample ${name}${JSON.stringify(labels)} in the metrics`);
  return total;
}
