import { readFileSync } from "node:fs";
import { availableParallelism, totalmem } from "node:os";

/**
 * The CPU quota of this process's cgroup (v2 `cpu.max`, as Kubernetes writes a container's CPU
 * limit), in cores, or undefined when there is none or it cannot be read. Node's
 * availableParallelism() counts the node's cores in a container, so a pod limited to 2 CPUs on
 * a 32-core node would otherwise size its thread pools for 32. (A file read: no library needed.)
 */
export function cgroupCpuQuota(cpuMax = "/sys/fs/cgroup/cpu.max"): number | undefined {
  let text: string;
  try {
    text = readFileSync(cpuMax, "utf8");
  } catch {
    return undefined;
  }
  return parseCpuMax(text);
}

/**
 * The memory this process's cgroup may use (v2 `memory.max`, a Kubernetes memory limit), else the
 * machine's memory.
 */
export function memoryLimitBytes(memoryMax = "/sys/fs/cgroup/memory.max"): number {
  let text = "max";
  try {
    text = readFileSync(memoryMax, "utf8").trim();
  } catch {
    // no cgroup v2 file: the machine's memory
  }
  const limit = Number(text);
  return text !== "max" && Number.isFinite(limit) && limit > 0 ? Math.min(limit, totalmem()) : totalmem();
}

/** `"200000 100000"` → 2 cores; `"max 100000"` → undefined (no limit). */
export function parseCpuMax(text: string): number | undefined {
  const [quota, period] = text.trim().split(/\s+/);
  const q = Number(quota);
  const p = Number(period ?? 100_000);
  if (quota === "max" || !Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined;
  return q / p;
}

/** Cores this process can keep busy: the scheduler's (affinity) count, capped by a cgroup quota rounded up. */
export function usableCores(quota = cgroupCpuQuota(), parallelism = availableParallelism()): number {
  return quota === undefined ? parallelism : Math.max(1, Math.min(parallelism, Math.ceil(quota)));
}

/**
 * Multiply-adds of a request's output layer (items × hidden: one dot product per catalogue item)
 * from which the model gets every core: 10 M, e.g. 156,000 items at hidden 64. Measured on 2
 * cores at 100 req/s (bench/serve-threads-*.json, bench/scale.json; README "Model server threads"):
 * at 12,101 × 64 (0.8 M) one ORT thread beat two at 1 and 16 connections and at 200 req/s (HTTP's
 * ~55 µs a request is then much of a request's work); at 100,000 × 64 (6.4 M) one and two were
 * alike; at 300,000 × 64 (19 M) two cut p50 by a third; at 10^6 × 64 two halved p99.
 */
export const WIDE_OUTPUT_LAYER = 10_000_000;

/** Whether a request's output layer (items × hidden multiply-adds) is wide enough to give the model every core. */
export function isWideOutputLayer(outputWork: number, wide = WIDE_OUTPUT_LAYER): boolean {
  return outputWork >= wide;
}

/**
 * Intra-op threads per model session when --threads is not given: with the model in worker
 * threads, the cores but one (the main thread's HTTP and JSON) shared among the workers, at
 * least one each, or every core when the output layer is wide (outputWork = items × hidden ≥
 * `wide`: scoring, not HTTP, is then what a request costs); with the model on the main thread,
 * onnxruntime's default (undefined).
 */
export function defaultSessionThreads(cores: number, workers: number, outputWork = 0, wide = WIDE_OUTPUT_LAYER): number | undefined {
  if (!(workers >= 1)) return undefined;
  const forModel = isWideOutputLayer(outputWork, wide) ? cores : cores - 1;
  return Math.max(1, Math.floor(forModel / workers));
}

/**
 * Data-parallel training workers when --workers is not given: one per usable core on the CPU
 * backends (each worker runs a single-threaded tfjs engine; the coordinating thread only hands
 * out batches), none on one core or on backends with their own device or thread pool (tfjs-node,
 * a GPU), which train on the calling thread.
 */
export function defaultTrainWorkers(backend: string, cores = usableCores()): number {
  if (backend !== "wasm" && backend !== "cpu") return 0;
  return cores >= 2 ? cores : 0;
}
