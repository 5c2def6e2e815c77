import { RecshipError } from "../errors.js";

/**
 * TEST-ONLY fault injection for canary experiments: a share of the model requests answered
 * 500, and model requests made slower. A server gets it only through the `faults` constructor
 * option; the CLI sets that only when `recship serve --allow-fault-injection` is passed AND
 * RECSHIP_FAULT_INJECTION holds the JSON, so neither alone switches it on.
 */
export interface FaultInjection {
  /** Share of /v1/recommend and V2 infer requests answered 500, 0 to 1. */
  errorRate?: number;
  /** Every model request takes this many times as long (1.5: +50 %, every quantile). */
  latencyFactor?: number;
  /** Extra milliseconds on every model request. */
  addedLatencyMs?: number;
}

export const FAULT_INJECTION_ENV = "RECSHIP_FAULT_INJECTION";

/** `{"errorRate": 0.05, "latencyFactor": 1.5, "addedLatencyMs": 0}`, checked. */
export function parseFaultInjection(text: string): FaultInjection {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new RecshipError(`${FAULT_INJECTION_ENV} is not JSON`, { cause, fix: 'e.g. {"errorRate": 0.05}' });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new RecshipError(`${FAULT_INJECTION_ENV} must be a JSON object`);
  }
  const o = parsed as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !["errorRate", "latencyFactor", "addedLatencyMs"].includes(k));
  if (unknown.length) throw new RecshipError(`${FAULT_INJECTION_ENV}: unknown field(s) ${unknown.join(", ")}`);
  const num = (key: string, ok: (v: number) => boolean, range: string): number | undefined => {
    const v = o[key];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v) || !ok(v)) throw new RecshipError(`${FAULT_INJECTION_ENV}: ${key} must be ${range}`);
    return v;
  };
  const faults: FaultInjection = {};
  const errorRate = num("errorRate", (v) => v >= 0 && v <= 1, "from 0 to 1");
  const latencyFactor = num("latencyFactor", (v) => v >= 1 && v <= 100, "from 1 to 100");
  const addedLatencyMs = num("addedLatencyMs", (v) => v >= 0 && v <= 60_000, "from 0 to 60000");
  if (errorRate !== undefined) faults.errorRate = errorRate;
  if (latencyFactor !== undefined) faults.latencyFactor = latencyFactor;
  if (addedLatencyMs !== undefined) faults.addedLatencyMs = addedLatencyMs;
  return faults;
}

/** How long to hold a model request that took `elapsedMs` before answering it. */
export function injectedDelayMs(faults: FaultInjection, elapsedMs: number): number {
  return Math.max(0, ((faults.latencyFactor ?? 1) - 1) * elapsedMs + (faults.addedLatencyMs ?? 0));
}

/**
 * Waits `ms` with sub-millisecond precision (timers alone round a 0.4 ms wait up to over 1 ms,
 * which would make "+50 %" far more): a timer for all but the last millisecond, then
 * setImmediate turns (other requests still run in between).
 */
export async function preciseDelay(ms: number): Promise<void> {
  const until = performance.now() + ms;
  if (ms > 2) await new Promise((r) => setTimeout(r, ms - 1.5));
  while (performance.now() < until) await new Promise((r) => setImmediate(r));
}
