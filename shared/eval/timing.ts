import { quantile } from "../stats/bootstrap.js";
import { Rng } from "../util/random.js";

/** Anything that answers a batch of inputs the way it would in serving. */
export interface Served<T> {
  serve(batch: T[]): Promise<unknown>;
}

export interface TimingPlan {
  batchSizes: number[];
  warmup: number;
  repetitions: number;
  seed: number;
}

/**
 * Times every model on the same random batches drawn from `pool`: per batch size, `warmup`
 * untimed calls each, then `repetitions` timed rounds in which the models take turns (the
 * order reversed every other round), so a slow spell of a shared machine hits them alike.
 * Returns wall times in ms, [batch size][model][round]. Used by benchmark-gate and compress-model.
 */
export async function timeInTurns<T>(models: Served<T>[], pool: T[], plan: TimingPlan): Promise<number[][][]> {
  const rng = new Rng(`latency:${plan.seed}`);
  const pick = (b: number) => Array.from({ length: b }, () => pool[rng.int(pool.length)]);
  const out: number[][][] = [];
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
    out.push(times);
  }
  return out;
}

/** One batch size's wall times summarised: percentiles, mean and throughput. */
export interface LatencySummary {
  batch: number;
  p50: number;
  p95: number;
  p99: number;
  meanMs: number;
  /** Sequences per second (batch / mean time). */
  throughput: number;
  runs: number;
}

export function summarizeLatency(batch: number, timesMs: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(timesMs).sort();
  const meanMs = timesMs.reduce((a, b) => a + b, 0) / Math.max(1, timesMs.length);
  return {
    batch,
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    meanMs,
    throughput: meanMs > 0 ? (batch * 1000) / meanMs : 0,
    runs: timesMs.length,
  };
}
