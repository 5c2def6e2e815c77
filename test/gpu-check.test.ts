import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { csvFlags, syntheticCsv } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

// scripts/gpu-check.ts trains a few steps on every backend that loads and compares the first
// step's gradient with wasm's. On this machine tfjs-node-gpu cannot install (libtensorflow comes
// from a CDN), so it must report itself unavailable with the reason; WebGPU runs on Debian's
// software Vulkan device (lavapipe, Mesa ≥ 25) when .ci/run has installed it and Dawn's binding
// (RECSHIP_WEBGPU_DIR). With RECSHIP_REQUIRE_WEBGPU=1 (set by .ci/run) it must load and agree.
const dir = tempDir();

interface Line {
  backend: string;
  available: boolean;
  reason?: string;
  device?: string;
  steps?: number;
  sequencesPerSecond?: number;
  lossAfterSteps?: number;
  firstStepGradMaxDiff?: number;
  firstStepGradRelDiff?: number;
}

describe("gpu-check", () => {
  it("prints one JSON line per backend: wasm as the reference, webgpu's gradients within float rounding of it, absent backends with a reason", async () => {
    const csv = await syntheticCsv(dir, 400, 3);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [...process.execArgv, "--import", "tsx", "scripts/gpu-check.ts", "--steps", "3", ...csvFlags(csv), "--backends", "wasm,webgpu,gpu"],
      { env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? dir }, maxBuffer: 16 << 20 },
    );
    const lines = stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Line);
    expect(lines.map((l) => l.backend)).toEqual(["wasm", "webgpu", "gpu"]);
    const [wasm, webgpu, gpu] = lines;
    expect(wasm).toMatchObject({ available: true, steps: 3, firstStepGradMaxDiff: 0 });
    expect(wasm.device).toMatch(/wasm/);
    expect(wasm.sequencesPerSecond).toBeGreaterThan(0);
    expect(Number.isFinite(wasm.lossAfterSteps)).toBe(true);
    expect(gpu.available).toBe(false);
    expect(gpu.reason).toMatch(/tfjs-node-gpu/);
    if (process.env.RECSHIP_REQUIRE_WEBGPU === "1") expect(webgpu.available).toBe(true);
    if (webgpu.available) {
      expect(webgpu.device).toMatch(/webgpu/);
      expect(webgpu.firstStepGradRelDiff).toBeLessThan(1e-4);
      // the same steps from the same weights: the same loss up to float rounding
      expect(Math.abs(webgpu.lossAfterSteps! - wasm.lossAfterSteps!)).toBeLessThan(1e-3 * wasm.lossAfterSteps!);
    } else {
      expect(webgpu.reason).toMatch(/webgpu/i);
    }
  });
});
