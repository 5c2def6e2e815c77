import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkModel } from "../shared/deploy/k8s/inputs.js";
import { FETCH_SCRIPT, modelDir, modelFileList, VERIFY_SCRIPT } from "../shared/deploy/k8s/render-model.js";
import type { ModelSource } from "../shared/deploy/k8s/types.js";
import { tempDir } from "./helpers/tmp.js";

// The init containers' scripts, run for real with sh, curl, sha256sum and tar against a file server on 127.0.0.1.
const dir = tempDir("recship-k8s-fetch-");
const files = new Map<string, Buffer>();
let server: Server;
let base = "";
let runs = 0;

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

function which(cmd: string): string | undefined {
  try {
    return (
      execFileSync("sh", ["-c", `command -v ${cmd}`])
        .toString()
        .trim() || undefined
    );
  } catch {
    return undefined;
  }
}

/**
 * The init images are busybox (verify) and curl's Alpine image (fetch): where busybox is
 * installed the scripts also run with only busybox applets (and curl) on the PATH.
 */
function busyboxPath(): string | undefined {
  const busybox = which("busybox");
  if (!busybox) return undefined;
  const curl = which("curl");
  if (!busybox || !curl) return undefined;
  const bin = join(dir, "busybox-bin");
  mkdirSync(bin, { recursive: true });
  for (const applet of ["sh", "sha256sum", "tar", "gzip", "cut", "mv", "rm", "mkdir", "touch", "cat", "printf", "echo", "basename"]) {
    symlinkSync(busybox, join(bin, applet));
  }
  symlinkSync(curl, join(bin, "curl"));
  return bin;
}
const SYSTEM = { PATH: process.env.PATH ?? "/usr/bin:/bin", sh: "sh" };
const SHELLS: [string, { PATH: string; sh: string }][] = [["the system shell", SYSTEM]];
const bb = busyboxPath();
if (bb) SHELLS.push(["busybox", { PATH: bb, sh: join(bb, "sh") }]);
let shell = SYSTEM;

function tarball(name: string, topFolder?: string): Buffer {
  const src = join(dir, `src-${name}`);
  const bundle = topFolder ? join(src, topFolder) : src;
  mkdirSync(bundle, { recursive: true });
  writeFileSync(join(bundle, "bundle.json"), JSON.stringify({ name }));
  writeFileSync(join(bundle, "items.txt"), "a\nb\n");
  writeFileSync(join(bundle, "model.onnx"), Buffer.from([8, 1, 2, 3]));
  const out = join(dir, `${name}.tar.gz`);
  execFileSync("tar", ["-czf", out, "-C", src, "."]);
  return readFileSync(out);
}

async function deliver(model: ModelSource): Promise<{ code: number; output: string; root: string; termination: string }> {
  const n = ++runs;
  const root = join(dir, `models-${n}`);
  const termination = join(dir, `termination-${n}`);
  mkdirSync(root);
  const env = {
    PATH: shell.PATH,
    HOSTNAME: `pod-${n}`,
    RECSHIP_MODEL_ROOT: root,
    RECSHIP_TERMINATION_LOG: termination,
    RECSHIP_MODEL_DIR: modelDir(model),
    RECSHIP_MODEL_FILES: modelFileList(model),
  };
  let output = "";
  for (const script of [FETCH_SCRIPT, VERIFY_SCRIPT]) {
    try {
      const r = await promisify(execFile)(shell.sh, ["-c", script], { env });
      output += r.stdout + r.stderr;
    } catch (e) {
      const err = e as { code?: number; stdout?: string; stderr?: string };
      return {
        code: err.code ?? 1,
        output: output + (err.stdout ?? "") + (err.stderr ?? ""),
        root,
        termination: existsSync(termination) ? readFileSync(termination, "utf8") : "",
      };
    }
  }
  return { code: 0, output, root, termination: "" };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const body = files.get(req.url ?? "");
    if (!body) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-length": body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

describe.each(SHELLS)("model delivery scripts with %s", (_name, chosen) => {
  beforeAll(() => {
    shell = chosen;
  });

  it("download a bundle tarball, verify it, unpack it where the server looks, and skip it the next time", async () => {
    const tgz = tarball("flat");
    files.set("/flat.tar.gz", tgz);
    const model = checkModel({ version: "v1", url: `${base}/flat.tar.gz`, sha256: sha(tgz) }, "model");
    const r = await deliver(model);
    expect(r.code, r.output).toBe(0);
    const bundle = join(r.root, modelDir(model), "bundle");
    expect(JSON.parse(readFileSync(join(bundle, "bundle.json"), "utf8"))).toEqual({ name: "flat" });
    expect(readFileSync(join(bundle, "items.txt"), "utf8")).toBe("a\nb\n");
    expect(existsSync(join(r.root, modelDir(model), ".verified"))).toBe(true);
    // a second pod on the same (persistent) volume finds it verified
    const again = await promisify(execFile)(shell.sh, ["-c", FETCH_SCRIPT], {
      env: { PATH: shell.PATH, RECSHIP_MODEL_ROOT: r.root, RECSHIP_MODEL_DIR: modelDir(model), RECSHIP_MODEL_FILES: "" },
    });
    expect(again.stdout).toMatch(/already on the volume/);
  });

  it("accept a tarball whose files sit in one top folder", async () => {
    const tgz = tarball("nested", "recship-bundle");
    files.set("/nested.tgz", tgz);
    const model = checkModel({ version: "v2", url: `${base}/nested.tgz`, sha256: sha(tgz) }, "model");
    const r = await deliver(model);
    expect(r.code, r.output).toBe(0);
    expect(existsSync(join(r.root, modelDir(model), "bundle", "bundle.json"))).toBe(true);
  });

  it("refuse a download whose sha256 differs, with the reason in the termination message, and leave no model", async () => {
    const tgz = tarball("tampered");
    files.set("/tampered.tar.gz", tgz);
    const model = checkModel({ version: "v3", url: `${base}/tampered.tar.gz`, sha256: "0".repeat(64) }, "model");
    const r = await deliver(model);
    expect(r.code).not.toBe(0);
    expect(r.termination).toContain(`checksum mismatch for ${base}/tampered.tar.gz: expected sha256 ${"0".repeat(64)}, got ${sha(tgz)}`);
    expect(existsSync(join(r.root, modelDir(model)))).toBe(false);
  });

  it("put a lone ONNX file beside the bundle files it needs", async () => {
    const onnx = Buffer.from("onnx-bytes");
    const manifest = Buffer.from('{"name":"onnx"}');
    const items = Buffer.from("x\n");
    files.set("/m.onnx", onnx);
    files.set("/bundle.json", manifest);
    files.set("/items.txt", items);
    const model = checkModel(
      {
        version: "v4",
        url: `${base}/m.onnx`,
        sha256: sha(onnx),
        files: [
          { name: "bundle.json", url: `${base}/bundle.json`, sha256: sha(manifest) },
          { name: "items.txt", url: `${base}/items.txt`, sha256: sha(items) },
        ],
      },
      "model",
    );
    const r = await deliver(model);
    expect(r.code, r.output).toBe(0);
    const bundle = join(r.root, modelDir(model), "bundle");
    expect(readFileSync(join(bundle, "model.onnx"), "utf8")).toBe("onnx-bytes");
    expect(readFileSync(join(bundle, "items.txt"), "utf8")).toBe("x\n");
  });

  it("fail with the URL when the download fails", async () => {
    const model = checkModel({ version: "v5", url: `${base}/missing.tar.gz`, sha256: "1".repeat(64) }, "model");
    const r = await deliver(model);
    expect(r.code).not.toBe(0);
    expect(r.termination).toContain(`download of ${base}/missing.tar.gz failed`);
  });
});
