import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cgroupCpuQuota, defaultSessionThreads, parseCpuMax, usableCores } from "../shared/util/cpu-budget.js";

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
