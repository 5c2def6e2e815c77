import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readManifest } from "../shared/bundle/bundle-io.js";
import { openModelSource } from "../shared/bundle/model-source.js";
import { compressBundle } from "../shared/compress/compress-bundle.js";
import { LocalTarget } from "../shared/deploy/local/local-target.js";
import { isRecshipProcess } from "../shared/deploy/local/processes.js";
import type { LocalState } from "../shared/deploy/local/state.js";
import { isRecshipError } from "../shared/errors.js";
import { runGate } from "../shared/gate/gate.js";
import { DEFAULT_RULES, type GateRules } from "../shared/gate/rules.js";
import { memoryLogger, silentLogger } from "../shared/log.js";
import { startModelServer } from "../shared/serve/server.js";
import { buildServeBundle, type ServeBundle } from "./helpers/serve-bundle.js";
import { recshipCommand, spawnRecship, waitFor200, type ChildServer } from "./helpers/serve-process.js";
import { tempDir } from "./helpers/tmp.js";

// Damaged and tampered bundles, as serve, the gate, compress and deploy meet them: each is refused
// with a RecshipError naming the bundle and the bundle.json field, never a crash, and a
// tampered file is never served unless the check is skipped explicitly.
const root = tempDir("recship-bundle-integrity-");
const SEED = 13;
let bundle: ServeBundle;

beforeAll(async () => {
  bundle = await buildServeBundle(root, SEED);
}, 120_000);

/** A copy of the tiny converted bundle, to damage. */
function copy(name: string): string {
  const to = join(root, name);
  cpSync(bundle.dir, to, { recursive: true });
  return to;
}

function editManifest(dir: string, edit: (m: Record<string, any>) => void): void {
  const path = join(dir, "bundle.json");
  const m = JSON.parse(readFileSync(path, "utf8"));
  edit(m);
  writeFileSync(path, JSON.stringify(m, null, 2));
}

/** Changes one byte of model.onnx inside its doc string: the model still loads and runs. */
function flipModelByte(dir: string): void {
  const path = join(dir, "model.onnx");
  const bytes = readFileSync(path);
  const at = bytes.indexOf("oldest first");
  expect(at).toBeGreaterThan(0);
  bytes[at] ^= 0x20;
  writeFileSync(path, bytes);
}

/** The error a promise rejects with (the test fails when it resolves). */
async function failure(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  if (!("error" in outcome)) throw new Error("expected a refusal, but it succeeded");
  return outcome.error as Error;
}

/** Starts and stops a server on the bundle; rejects when it does not load. */
async function serveOnce(dir: string, extra: { workers?: number; verifyChecksums?: boolean } = {}): Promise<string> {
  const { server } = await startModelServer({ bundle: dir, port: 0, log: silentLogger, maxDelayMs: 0, ...extra });
  const version = server.version!;
  await server.shutdown();
  return version;
}

/** The port a `recship serve --port 0` child says it listens on. */
async function listeningPort(child: ChildServer): Promise<number> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const port = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(child.output())?.[1];
    if (port) return Number(port);
    if (child.child.exitCode !== null || Date.now() > deadline) throw new Error(`the server did not start:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const RULES: GateRules = {
  ...structuredClone(DEFAULT_RULES),
  resamples: 1000,
  latency: { ...DEFAULT_RULES.latency, enabled: false },
};
const gateOn = (candidate: string, extra: { baseline?: string; verifyChecksums?: boolean } = {}) =>
  runGate({ candidate, data: join(root, `shop-${SEED}.csv`), read: {}, rules: RULES, log: silentLogger, ...extra });

describe("a bundle.json whose model config is wrong (issue 20, item 4)", () => {
  it("names the bundle and the field of a config value of the wrong type", async () => {
    const cases: [string, (m: Record<string, any>) => void, RegExp][] = [
      ["maxlen-abc", (m) => (m.model.config.maxlen = "abc"), /field model\.config\.maxlen must be integer/],
      ["hidden-zero", (m) => (m.model.config.hidden = 0), /field model\.config\.hidden must be >= 1/],
      ["norm-mid", (m) => (m.model.config.norm = "mid"), /field model\.config\.norm must be equal to one of the allowed values/],
      ["dropout-text", (m) => (m.model.config.dropout = "0.1"), /field model\.config\.dropout must be number/],
    ];
    for (const [name, edit, message] of cases) {
      const b = copy(name);
      editManifest(b, edit);
      const error = await failure(readManifest(b));
      expect(isRecshipError(error), error.stack).toBe(true);
      expect(error.message).toMatch(message);
      expect(error.message).toContain(join(b, "bundle.json"));
    }
  });

  it('`recship serve` refuses maxlen "abc" with a clear error, not a crash', async () => {
    const b = copy("maxlen-abc-cli");
    editManifest(b, (m) => (m.model.config.maxlen = "abc"));
    const run = spawnRecship(["serve", "--bundle", b, "--port", "0"]);
    expect(await run.exited, run.output()).toBe(1);
    expect(run.output()).toMatch(/model\.config\.maxlen must be integer/);
    expect(run.output()).toContain(b);
    expect(run.output()).not.toMatch(/crashed|\n\s+at /);
  });

  it("serve (in the process and in a worker thread) and the gate refuse a maxlen the ONNX input does not take", async () => {
    const b = copy("maxlen-20");
    editManifest(b, (m) => (m.model.config.maxlen = 20));
    const expected = /model\.config\.maxlen is 20, but the model's item_seq input takes histories of 10/;
    for (const workers of [0, 1]) {
      const error = await failure(serveOnce(b, { workers }));
      expect(isRecshipError(error), error.stack).toBe(true);
      expect(error.message).toMatch(expected);
      expect(error.message).toContain(join(b, "bundle.json"));
    }
    const gate = await failure(gateOn(b));
    expect(isRecshipError(gate), gate.stack).toBe(true);
    expect(gate.message).toMatch(expected);
    expect(gate.message).toContain(join(b, "bundle.json"));
  });

  it("`recship serve` refuses a maxlen the model does not take with a clear error, not a crash", async () => {
    const b = copy("maxlen-20-cli");
    editManifest(b, (m) => (m.model.config.maxlen = 20));
    const run = spawnRecship(["serve", "--bundle", b, "--port", "0", "--workers", "0"]);
    expect(await run.exited, run.output()).toBe(1);
    expect(run.output()).toMatch(/model\.config\.maxlen is 20/);
    expect(run.output()).not.toMatch(/crashed|\n\s+at /);
  });
});

describe("the checksums bundle.json records (issue 20, item 5)", () => {
  it("serve refuses a model.onnx with one byte changed, naming the bundle and the field; skipping the check serves it", async () => {
    const b = copy("flipped");
    const original = await serveOnce(bundle.dir);
    flipModelByte(b);
    const error = await failure(serveOnce(b));
    expect(isRecshipError(error), error.stack).toBe(true);
    expect(error.message).toMatch(/model\.onnx does not match the checksum bundle\.json records \(artifacts\.onnx\.sha256/);
    expect(error.message).toContain(b);
    expect(error.message).toMatch(/--skip-bundle-checksums/);
    // a known-modified bundle, served on purpose: under the changed file's own version id
    const version = await serveOnce(b, { verifyChecksums: false });
    expect(version).not.toBe(original);
  });

  it("`recship serve` refuses the changed model, and serves it with --skip-bundle-checksums", async () => {
    const b = copy("flipped-cli");
    flipModelByte(b);
    const refused = spawnRecship(["serve", "--bundle", b, "--port", "0", "--workers", "0"]);
    expect(await refused.exited, refused.output()).toBe(1);
    expect(refused.output()).toMatch(/artifacts\.onnx\.sha256/);
    const skipped = spawnRecship(["serve", "--bundle", b, "--port", "0", "--workers", "0", "--skip-bundle-checksums"]);
    try {
      await waitFor200(`http://127.0.0.1:${await listeningPort(skipped)}/v2/health/ready`, skipped);
      expect(skipped.output()).toMatch(/not checking the checksums/);
    } finally {
      skipped.child.kill("SIGTERM");
      await skipped.exited;
    }
  });

  it("serve refuses an edited items.txt (vocabulary.sha256)", async () => {
    const b = copy("items-edited");
    const items = readFileSync(join(b, "items.txt"), "utf8").split("\n");
    items[0] = `${items[0]}-renamed`;
    writeFileSync(join(b, "items.txt"), items.join("\n"));
    const error = await failure(serveOnce(b));
    expect(isRecshipError(error), error.stack).toBe(true);
    expect(error.message).toMatch(/items\.txt does not match the checksum bundle\.json records \(vocabulary\.sha256/);
  });

  it("the gate refuses a changed candidate or baseline, and runs with the check skipped", async () => {
    const b = copy("flipped-gate");
    flipModelByte(b);
    for (const run of [gateOn(b), gateOn(bundle.dir, { baseline: b })]) {
      const error = await failure(run);
      expect(isRecshipError(error), error.stack).toBe(true);
      expect(error.message).toMatch(/artifacts\.onnx\.sha256/);
      expect(error.message).toContain(b);
    }
    const outcome = await gateOn(b, { verifyChecksums: false });
    expect(outcome.report.candidate.bundle).toBe(b);
  });

  it("compress refuses a changed model.onnx before building anything", async () => {
    const b = copy("flipped-compress");
    flipModelByte(b);
    const error = await failure(compressBundle({ bundle: b, methods: ["fp16"], log: silentLogger }));
    expect(isRecshipError(error), error.stack).toBe(true);
    expect(error.message).toMatch(/artifacts\.onnx\.sha256/);
    expect(existsSync(join(b, "compressed"))).toBe(false);
  });

  describe("deploy (local target)", () => {
    const statePath = join(root, "deploy", "state.json");
    const seenPids = new Set<number>();
    const recordPids = () => {
      if (!existsSync(statePath)) return;
      const s = JSON.parse(readFileSync(statePath, "utf8")) as LocalState;
      for (const pid of [s.router.pid, s.stable?.pid, s.canary?.pid]) if (pid) seenPids.add(pid);
    };
    const target = (skipBundleChecksums?: boolean) =>
      new LocalTarget({
        state: statePath,
        command: recshipCommand(),
        port: 0,
        readyTimeoutMs: 90_000,
        log: memoryLogger(),
        skipBundleChecksums,
      });
    afterAll(async () => {
      recordPids();
      await target()
        .teardown()
        .catch(() => {});
      for (const pid of seenPids) if (isRecshipProcess(pid)) process.kill(pid, "SIGKILL");
    });

    it("refuses to ship a changed bundle before starting anything", async () => {
      const b = copy("flipped-deploy");
      flipModelByte(b);
      const error = await failure(target().deploy({ mode: "direct", bundle: b }));
      recordPids();
      expect(isRecshipError(error), error.stack).toBe(true);
      expect(error.message).toMatch(/artifacts\.onnx\.sha256/);
      expect(error.message).toContain(b);
      expect(existsSync(statePath)).toBe(false);
    });

    it("ships it when told to skip the check, and promotes it later without being told again", async () => {
      const b = copy("flipped-deploy-skip");
      flipModelByte(b);
      await target(true).deploy({ mode: "direct", bundle: bundle.dir }).finally(recordPids);
      await target(true).deploy({ mode: "canary", bundle: b }).finally(recordPids);
      const promoted = await target().deploy({ mode: "promote" }).finally(recordPids);
      expect(promoted.after.stable?.bundle).toBe(b);
    });
  });
});

describe("files bundle.json names outside the bundle (issue 20, item 5)", () => {
  const elsewhere = () => {
    const dir = join(root, "elsewhere");
    mkdirSync(dir, { recursive: true });
    cpSync(join(bundle.dir, "model.onnx"), join(dir, "model.onnx"));
    return dir;
  };

  it("serve refuses artifacts.onnx.file ../elsewhere/model.onnx", async () => {
    elsewhere();
    const b = copy("climbs-out");
    rmSync(join(b, "model.onnx"));
    editManifest(b, (m) => (m.artifacts.onnx.file = "../elsewhere/model.onnx"));
    const error = await failure(serveOnce(b));
    expect(isRecshipError(error), error.stack).toBe(true);
    expect(error.message).toMatch(/artifacts\.onnx\.file "\.\.\/elsewhere\/model\.onnx" is outside the bundle folder/);
    expect(error.message).toContain(join(b, "bundle.json"));
  });

  it("refuses an absolute path, a vocabulary outside, and a symlink that leaves the bundle", async () => {
    const outside = elsewhere();
    const absolute = copy("absolute");
    editManifest(absolute, (m) => (m.artifacts.onnx.file = join(outside, "model.onnx")));
    expect((await failure(openModelSource(absolute))).message).toMatch(/artifacts\.onnx\.file ".*" is outside the bundle folder/);
    const vocab = copy("vocab-out");
    editManifest(vocab, (m) => (m.vocabulary.file = "../items.txt"));
    expect((await failure(openModelSource(vocab))).message).toMatch(/vocabulary\.file "\.\.\/items\.txt" is outside the bundle folder/);
    const linked = copy("symlinked");
    rmSync(join(linked, "model.onnx"));
    symlinkSync(join(outside, "model.onnx"), join(linked, "model.onnx"));
    const error = await failure(openModelSource(linked));
    expect(isRecshipError(error), error.stack).toBe(true);
    expect(error.message).toMatch(/artifacts\.onnx\.file "model\.onnx" is a link to .* outside the bundle folder/);
  });
});
