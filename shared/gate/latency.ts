import { Rng } from "../util/random.js";
import { quantile } from "./bootstrap.js";

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

export function latencyStats(batch: number, timesMs: number[]): LatencyStats {
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
  const rng = new Rng(`latency:${plan.seed}`);
  const pick = (b: number) => Array.from({ length: b }, () => rng.int(cases));
  const results: LatencyStats[][] = models.map(() => []);
  for (const batch of plan.batchSizes) {
    const times: number[][] = models.map(() => []);
    for (let w = 0; w < plan.warmup; w++) {
      const input = pick(batch);
      for (const m of models) await m.serve(input);
    }
    for (let r = 0; r < plan.repetitions; r++) {
      const input = pick(batch);
      const order = models.map((_, i) => i);
      if (r % 2 === 1) order.reverse();
      for (const i of order) {
        const t0 = performance.now();
        await models[i].serve(input);
        times[i].push(performance.now() - t0);
      }
    }
    models.forEach((_, i) => results[i].push(latencyStats(batch, times[i])));
  }
  return results;
}
