import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./helpers/tmp.js";

// The Docker image's entry script (docker/recship-serve.sh), run for real with sh, node, sha256sum
// and tar against a file server on 127.0.0.1. Its last step, `exec node …/dist/cli/index.js serve`,
// reaches a stand-in `node` that records the arguments instead of serving.
const script = fileURLToPath(new URL("../docker/recship-serve.sh", import.meta.url));
const dir = tempDir("recship-docker-entry-");
const files = new Map<string, Buffer>();
const requests: string[] = [];
let server: Server;
let base = "";
let runs = 0;

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** A bundle tarball as `tar -czf` of the bundle folder makes it. */
function tarball(): Buffer {
  const src = join(dir, "src");
  mkdirSync(src, { recursive: true });
  writeFileSync(join(src, "bundle.json"), '{"name":"docker"}');
  writeFileSync(join(src, "items.txt"), "a\nb\n");
  execFileSync("tar", ["-czf", join(dir, "bundle.tar.gz"), "-C", src, "."]);
  return readFileSync(join(dir, "bundle.tar.gz"));
}

/** A `node` that runs `node -e …` for real and records any other call (the server's start) in $SERVE_ARGS. */
function fakeNodeBin(): string {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, "node"),
    `#!/bin/sh\nif [ "$1" = "-e" ]; then exec "${process.execPath}" "$@"; fi\nprintf '%s\\n' "$@" > "$SERVE_ARGS"\n`,
  );
  chmodSync(join(bin, "node"), 0o755);
  return bin;
}

interface Run {
  code: number;
  output: string;
  /** The arguments the server was started with, if it was. */
  served?: string[];
  bundleDir: string;
}

async function entry(env: Record<string, string>): Promise<Run> {
  const n = ++runs;
  const bundleDir = join(dir, `models-${n}`);
  const tmp = join(dir, `tmp-${n}`);
  mkdirSync(tmp);
  const argsFile = join(dir, `serve-args-${n}`);
  const childEnv = {
    PATH: `${fakeNodeBin()}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    TMPDIR: tmp,
    RECSHIP_BUNDLE_DIR: bundleDir,
    SERVE_ARGS: argsFile,
    ...env,
  };
  const outcome = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile("sh", [script, "--workers", "2"], { env: childEnv }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: stdout + stderr });
    });
  });
  const served = existsSync(argsFile) ? readFileSync(argsFile, "utf8").trim().split("\n") : undefined;
  return { ...outcome, served, bundleDir };
}

let tgz: Buffer;
beforeAll(async () => {
  tgz = tarball();
  files.set("/bundle.tar.gz", tgz);
  server = createServer((req, res) => {
    requests.push(req.url ?? "");
    const body = files.get(req.url ?? "");
    if (!body) return void res.writeHead(404).end("not found");
    res.writeHead(200, { "content-length": body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

describe("the Docker image's entry script", () => {
  it("downloads the bundle, checks its sha256, unpacks it and starts the server on it", async () => {
    const r = await entry({
      RECSHIP_BUNDLE_URL: `${base}/bundle.tar.gz`,
      RECSHIP_BUNDLE_SHA256: sha(tgz),
      RECSHIP_BUNDLE_ALLOW_HTTP: "true",
    });
    expect(r.code, r.output).toBe(0);
    expect(readFileSync(join(r.bundleDir, "bundle.json"), "utf8")).toBe('{"name":"docker"}');
    expect(r.served).toEqual([
      "/opt/recship/dist/cli/index.js",
      "serve",
      "--bundle",
      r.bundleDir,
      "--host",
      "0.0.0.0",
      "--port",
      "8080",
      "--workers",
      "2",
    ]);
  });

  it("refuses a plain-http URL unless allowed, before downloading anything", async () => {
    const before = requests.length;
    const r = await entry({ RECSHIP_BUNDLE_URL: `${base}/bundle.tar.gz`, RECSHIP_BUNDLE_SHA256: sha(tgz) });
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/plain http.*RECSHIP_BUNDLE_ALLOW_HTTP=true/);
    expect(r.served).toBeUndefined();
    expect(requests.length).toBe(before);
  });

  it("refuses a URL without its sha256 unless allowed, and starts unverified only when told", async () => {
    const url = `${base}/bundle.tar.gz`;
    const refused = await entry({ RECSHIP_BUNDLE_URL: url, RECSHIP_BUNDLE_ALLOW_HTTP: "true" });
    expect(refused.code).not.toBe(0);
    expect(refused.output).toMatch(/RECSHIP_BUNDLE_SHA256 is not set.*RECSHIP_BUNDLE_ALLOW_UNVERIFIED=true/);
    expect(refused.served).toBeUndefined();
    const allowed = await entry({ RECSHIP_BUNDLE_URL: url, RECSHIP_BUNDLE_ALLOW_HTTP: "true", RECSHIP_BUNDLE_ALLOW_UNVERIFIED: "true" });
    expect(allowed.code, allowed.output).toBe(0);
    expect(allowed.output).toMatch(/not checked/);
    expect(allowed.served).toContain("serve");
  });

  it("refuses a download whose sha256 differs, and unpacks nothing", async () => {
    const r = await entry({
      RECSHIP_BUNDLE_URL: `${base}/bundle.tar.gz`,
      RECSHIP_BUNDLE_SHA256: "0".repeat(64),
      RECSHIP_BUNDLE_ALLOW_HTTP: "true",
    });
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/sha256 .* is not RECSHIP_BUNDLE_SHA256/);
    expect(r.served).toBeUndefined();
    expect(existsSync(r.bundleDir) ? readdirSync(r.bundleDir) : []).toEqual([]);
  });

  it("refuses a URL that is neither https nor http", async () => {
    const r = await entry({ RECSHIP_BUNDLE_URL: "ftp://example.com/bundle.tar.gz", RECSHIP_BUNDLE_SHA256: sha(tgz) });
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/https:\/\//);
    expect(r.served).toBeUndefined();
  });
});
