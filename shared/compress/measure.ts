import { summarizeLatency, timeInTurns, type LatencySummary, type TimingPlan } from "../eval/timing.js";
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

export type LatencyStats = LatencySummary;
export type LatencyPlan = TimingPlan;

/**
 * Serving latency of every model on the same batches of real histories: per batch size,
 * `warmup` untimed calls each, then `repetitions` timed rounds in which the models take turns
 * (order reversed every other round), so a slow spell of a shared machine hits them alike.
 * Each call fetches the outputs a served recommendation reads (SERVED_OUTPUTS).
 */
export async function measureLatency(models: SessionScorer[], histories: Int32Array[], plan: LatencyPlan): Promise<LatencyStats[][]> {
  const times = await timeInTurns(models, histories, plan);
  return models.map((_, m) => plan.batchSizes.map((batch, b) => summarizeLatency(batch, times[b][m])));
}
