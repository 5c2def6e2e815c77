import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { memoryLogger } from "../shared/log.js";
import { loadServedModel } from "../shared/serve/served-model.js";
import { cgroupCpuQuota, defaultSessionThreads, parseCpuMax, usableCores, WIDE_OUTPUT_LAYER } from "../shared/util/cpu-budget.js";
import { buildServeBundle } from "./helpers/serve-bundle.js";

const dir = mkdtempSync(join(tmpdir(), "recship-cpu-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the server's onnxruntime thread budget", () => {
  it("keeps one core for HTTP and shares the rest among the model workers, at least one thread each", () => {
    expect(defaultSessionThreads(2, 1)).toBe(1);
    expect(defaultSessionThreads(8, 1)).toBe(7);
    expect(defaultSessionThreads(8, 2)).toBe(3);
    expect(defaultSessionThreads(1, 1)).toBe(1);
    expect(defaultSessionThreads(4, 8)).toBe(1);
    // the model on the main thread: onnxruntime decides
    expect(defaultSessionThreads(8, 0)).toBeUndefined();
  });

  it("gives a model with a wide output layer (items x hidden) every core: scoring, not HTTP, is then a request's cost", () => {
    expect(defaultSessionThreads(2, 1, 12_101 * 64)).toBe(1); // Beauty: one core kept for HTTP
    expect(defaultSessionThreads(2, 1, 100_000 * 64)).toBe(1); // alike at 100k items: HTTP keeps its core
    expect(defaultSessionThreads(2, 1, 300_000 * 64)).toBe(2);
    expect(defaultSessionThreads(2, 1, 1_000_000 * 64)).toBe(2); // a million items
    expect(defaultSessionThreads(2, 1, WIDE_OUTPUT_LAYER)).toBe(2);
    expect(defaultSessionThreads(2, 1, WIDE_OUTPUT_LAYER - 1)).toBe(1);
    expect(defaultSessionThreads(8, 2, WIDE_OUTPUT_LAYER)).toBe(4);
    expect(defaultSessionThreads(8, 0, WIDE_OUTPUT_LAYER)).toBeUndefined();
    expect(defaultSessionThreads(2, 1, 500, 100)).toBe(2); // the threshold is injectable
  });

  it("the server derives its default threads from --cores and says so; --threads overrides", async () => {
    const bundle = await buildServeBundle(dir, 7, 10);
    const threadsFor = async (options: { cores?: number; threads?: number }) => {
      const log = memoryLogger();
      const model = await loadServedModel({ bundle: bundle.dir, device: "cpu", workers: 1, ...options, log });
      await model.runner.release();
      return log.lines.filter((l) => l.startsWith("onnxruntime intra-op threads"));
    };
    expect(await threadsFor({ cores: 3 })).toEqual([
      "onnxruntime intra-op threads: 2 per session (3 usable cores, one kept for HTTP and JSON; --threads sets it)",
    ]);
    expect(await threadsFor({ cores: 1 })).toEqual([
      "onnxruntime intra-op threads: 1 per session (1 usable core, one kept for HTTP and JSON; --threads sets it)",
    ]);
    expect(await threadsFor({ cores: 3, threads: 1 })).toEqual([]);
  });

  it("reads a cgroup v2 CPU limit (cpu.max) and caps the cores by it, rounded up", () => {
    expect(parseCpuMax("200000 100000\n")).toBe(2);
    expect(parseCpuMax("50000 100000")).toBe(0.5);
    expect(parseCpuMax("max 100000")).toBeUndefined();
    expect(parseCpuMax("garbage")).toBeUndefined();
    const file = join(dir, "cpu.max");
    writeFileSync(file, "150000 100000\n");
    expect(cgroupCpuQuota(file)).toBe(1.5);
    expect(cgroupCpuQuota(join(dir, "missing"))).toBeUndefined();
    expect(usableCores(1.5, 32)).toBe(2);
    expect(usableCores(0.25, 32)).toBe(1);
    expect(usableCores(64, 8)).toBe(8);
    expect(usableCores(undefined, 8)).toBe(8);
  });
});
