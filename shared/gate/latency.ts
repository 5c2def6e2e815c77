import { timeInTurns } from "../eval/timing.js";
import { quantile } from "../stats/bootstrap.js";

/** Something that answers a batch of users (test-case indexes) the way it would in serving. */
export interface Servable {
  serve(cases: number[]): Promise<unknown>;
}

export interface LatencyStats {
  batch: number;
  /** Per-batch wall times, in run order. */
  timesMs: number[];
  p50: number;
  p95: number;
  p99: number;
  meanMs: number;
  /** Sequences per second (batch / mean time). */
  throughput: number;
}

export interface LatencyPlan {
  batchSizes: number[];
  warmup: number;
  repetitions: number;
  seed: number;
}

function latencyStats(batch: number, timesMs: number[]): LatencyStats {
  const sorted = Float64Array.from(timesMs).sort();
  const meanMs = timesMs.reduce((a, b) => a + b, 0) / Math.max(1, timesMs.length);
  return {
    batch,
    timesMs,
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    meanMs,
    throughput: meanMs > 0 ? (batch * 1000) / meanMs : 0,
  };
}

/**
 * Times every model on the same batches of real test histories: per batch size, `warmup`
 * untimed runs each, then `repetitions` timed rounds in which the models take turns (the
 * order alternating every round), so a slow spell of a shared runner hits them alike.
 */
export async function measureLatency(models: Servable[], cases: number, plan: LatencyPlan): Promise<LatencyStats[][]> {
  const indexes = Array.from({ length: cases }, (_, i) => i);
  const times = await timeInTurns(models, indexes, plan);
  return models.map((_, m) => plan.batchSizes.map((batch, b) => latencyStats(batch, times[b][m])));
}
