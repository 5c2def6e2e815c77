import { timeInTurns } from "../eval/timing.js";
import { readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import type { SessionScorer } from "./ort-session.js";

export interface SizeStats {
  /** The model file plus any external-data file. */
  bytes: number;
  /** gzip -9 of the same bytes: what pruning's zeros save in transfer and storage. */
  gzipBytes: number;
}

export async function measureSize(files: string[]): Promise<SizeStats> {
  const data = Buffer.concat(await Promise.all(files.map((f) => readFile(f))));
  return { bytes: data.byteLength, gzipBytes: gzipSync(data, { level: 9 }).byteLength };
}

export interface LatencyStats {
  batch: number;
  p50: number;
  p99: number;
  meanMs: number;
  /** Sequences per second (batch / mean time). */
  throughput: number;
  runs: number;
}

export interface LatencyPlan {
  batchSizes: number[];
  warmup: number;
  repetitions: number;
  seed: number;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function latencyStats(batch: number, timesMs: number[]): LatencyStats {
  const sorted = Float64Array.from(timesMs).sort();
  const meanMs = timesMs.reduce((a, b) => a + b, 0) / Math.max(1, timesMs.length);
  return {
    batch,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    meanMs,
    throughput: meanMs > 0 ? (batch * 1000) / meanMs : 0,
    runs: timesMs.length,
  };
}

/**
 * Serving latency of every model on the same batches of real histories: per batch size,
 * `warmup` untimed calls each, then `repetitions` timed rounds in which the models take turns
 * (order reversed every other round), so a slow spell of a shared machine hits them alike.
 * Each call fetches the outputs a served recommendation reads (SERVED_OUTPUTS).
 */
export async function measureLatency(models: SessionScorer[], histories: Int32Array[], plan: LatencyPlan): Promise<LatencyStats[][]> {
  const times = await timeInTurns(models, histories, plan);
  return models.map((_, m) => plan.batchSizes.map((batch, b) => latencyStats(batch, times[b][m])));
}
