import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { readManifest } from "../shared/bundle/bundle-io.js";
import { csvFlags, syntheticCsv, TINY_CONFIG } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

// `recship train --backend webgpu` end to end, in its own process (a process has one tfjs
// backend). Here WebGPU runs on Debian's software Vulkan device (lavapipe): correct, but slower
// than wasm. .ci/run installs it and sets RECSHIP_REQUIRE_WEBGPU=1; elsewhere, without an adapter,
// the step must fail with the reason and the fix.
const dir = tempDir();

describe("backend webgpu", () => {
  it("trains the same model as wasm (every epoch's loss and validation NDCG@10) and writes a bundle, or says why it cannot", async () => {
    const csv = await syntheticCsv(dir, 300, 4);
    const train = (backend: string) => [
      ...process.execArgv,
      "--import",
      "tsx",
      "shared/cli/main.ts",
      "train",
      ...csvFlags(csv),
      "--config",
      TINY_CONFIG,
      "--epochs",
      "3",
      "--backend",
      backend,
      "--workers",
      "0",
      "--out",
      join(dir, `bundle-${backend}`),
    ];
    const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? dir };
    const run = await promisify(execFile)(process.execPath, train("webgpu"), { env, maxBuffer: 16 << 20 }).then(
      (r) => ({ code: 0, stderr: r.stderr }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
    );
    if (process.env.RECSHIP_REQUIRE_WEBGPU === "1") expect(run.stderr).not.toMatch(/no WebGPU adapter/);
    if (run.code !== 0) {
      expect(run.stderr).toMatch(/backend "webgpu" was asked for but no WebGPU adapter could be started.*Fix: install/s);
      return;
    }
    await promisify(execFile)(process.execPath, train("wasm"), { env, maxBuffer: 16 << 20 });
    const gpu = await readManifest(join(dir, "bundle-webgpu"));
    const cpu = await readManifest(join(dir, "bundle-wasm"));
    expect(gpu.training.backend).toMatch(/tfjs-backend-webgpu/);
    expect(gpu.training.workers).toBe(0);
    expect(gpu.training.epochs).toBe(3);
    const epochs = (bundle: string) =>
      readFileSync(join(dir, bundle, "training-log.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { loss: number; valid: { ndcg10: number } });
    const [g, w] = [epochs("bundle-webgpu"), epochs("bundle-wasm")];
    g.forEach((e, i) => {
      expect(Math.abs(e.loss - w[i].loss)).toBeLessThan(1e-3 * w[i].loss);
      expect(Math.abs(e.valid.ndcg10 - w[i].valid.ndcg10)).toBeLessThan(0.002);
    });
    expect(Math.abs(gpu.training.test.full.ndcg10 - cpu.training.test.full.ndcg10)).toBeLessThan(0.002);
  });
});
