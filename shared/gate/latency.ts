import { summarizeLatency, timeInTurns, type LatencySummary, type TimingPlan } from "../eval/timing.js";

/** Something that answers a batch of users (test-case indexes) the way it would in serving. */
export interface Servable {
  serve(cases: number[]): Promise<unknown>;
}

export interface LatencyStats extends LatencySummary {
  /** Per-batch wall times, in run order. */
  timesMs: number[];
}

/**
 * Times every model on the same batches of real test histories: per batch size, `warmup`
 * untimed runs each, then `repetitions` timed rounds in which the models take turns (the
 * order alternating every round), so a slow spell of a shared runner hits them alike.
 */
export async function measureLatency(models: Servable[], cases: number, plan: TimingPlan): Promise<LatencyStats[][]> {
  const indexes = Array.from({ length: cases }, (_, i) => i);
  const times = await timeInTurns(models, indexes, plan);
  return models.map((_, m) => plan.batchSizes.map((batch, b) => ({ ...summarizeLatency(batch, times[b][m]), timesMs: times[b][m] })));
}
