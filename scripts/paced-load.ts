import { Agent, request as httpRequest } from "node:http";

export interface PacedResult {
  generator: string;
  targetRate: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  requests: number;
  /** Requests answered (whatever the status). */
  answered: number;
  errors: number;
  non2xx: number;
}

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * An open-loop load at a fixed rate: `rate` POSTs a second to `url`'s /v1/recommend for `seconds`,
 * evenly spaced whatever the answers' speed (a slow server queues requests, as real traffic
 * does), each request's latency counted from its due time, so queueing is not hidden.
 */
export async function pacedLoad(url: string, bodies: string[], rate: number, seconds: number): Promise<PacedResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 512 });
  const target = new URL("/v1/recommend", url);
  const total = Math.round(rate * seconds);
  const interval = 1000 / rate;
  const latencies: number[] = [];
  let errors = 0;
  let non2xx = 0;
  const inflight: Promise<void>[] = [];
  const fire = (i: number, due: number) =>
    new Promise<void>((resolve) => {
      const body = bodies[i % bodies.length];
      const req = httpRequest(
        target,
        { method: "POST", agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } },
        (res) => {
          res.resume();
          res.once("end", () => {
            if (res.statusCode !== 200) non2xx++;
            latencies.push(performance.now() - due);
            resolve();
          });
        },
      );
      req.once("error", () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
  const start = performance.now() + 20;
  let i = 0;
  while (i < total) {
    const now = performance.now();
    while (i < total && start + i * interval <= now) {
      inflight.push(fire(i, start + i * interval));
      i++;
    }
    await new Promise((r) => setTimeout(r, Math.max(0, start + i * interval - performance.now())));
  }
  await Promise.all(inflight);
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const q = (p: number) => round(latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN);
  return {
    generator: "open loop, evenly spaced; latency from each request's due time",
    targetRate: rate,
    requestsPerSecond: round(latencies.length / elapsed),
    latencyMs: { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: q(1) },
    requests: total,
    answered: latencies.length,
    errors,
    non2xx,
  };
}
