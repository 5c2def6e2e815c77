import { HttpError } from "./http-error.js";

/**
 * What one client can make the server do: the size of a request and of its answer, how many
 * heavy answers are built at once, how long a request may take to arrive, how many connections
 * are held. Each is a `recship serve` flag (see serve-command.ts) that deploy-k8s can pass in
 * server-args; a request over a limit is refused before any work is done on it.
 */
export interface ServerLimits {
  /** Largest request body in bytes. */
  maxBodyBytes: number;
  /** Most rows (histories) of one V2 infer request. */
  maxInferRows: number;
  /** Largest V2 infer answer, in bytes of JSON, as estimated from the outputs asked for before the model runs. */
  maxResponseBytes: number;
  /** Most heavy answers (estimated at HEAVY_RESPONSE_BYTES or more) built at once; more are answered 429. */
  maxHeavyRequests: number;
  /** Longest time to receive a whole request (headers and body); also the longest a streamed answer waits for its client to read. */
  requestTimeoutMs: number;
  /** Longest time to receive a request's headers, from the connection's first byte (at most requestTimeoutMs). */
  headersTimeoutMs: number;
  /** How long an idle keep-alive connection stays open (announced to clients in the Keep-Alive header). */
  keepAliveTimeoutMs: number;
  /** Most connections held at once; more are closed as they arrive. */
  maxConnections: number;
}

export const DEFAULT_LIMITS: Readonly<ServerLimits> = {
  maxBodyBytes: 2 ** 20,
  maxInferRows: 1024,
  maxResponseBytes: 16 * 2 ** 20,
  maxHeavyRequests: 2,
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1024,
};

/** An answer estimated at this many bytes or more is heavy: it takes one of the maxHeavyRequests slots while it is built and sent. */
export const HEAVY_RESPONSE_BYTES = 2 ** 20;

/** The limits among `given`, the defaults for the rest; the headers timeout never exceeds the request timeout (Node refuses that). */
export function resolveLimits(given: Partial<ServerLimits>): ServerLimits {
  const limits = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof ServerLimits)[]) {
    const value = given[key];
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value <= 0) throw new RangeError(`server limit ${key} must be a positive number, got ${value}`);
    limits[key] = value;
  }
  return { ...limits, headersTimeoutMs: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) };
}

/** "16 MiB", "64 KiB", "900 bytes": a byte count for messages. */
export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 20) return `${Number((bytes / 2 ** 20).toFixed(1))} MiB`;
  if (bytes >= 2 ** 10) return `${Number((bytes / 2 ** 10).toFixed(1))} KiB`;
  return `${bytes} bytes`;
}

/**
 * At most `capacity` heavy answers at a time. A request that finds every slot taken is
 * refused with a 429 at once (it does not queue: queued heavy requests would hold their
 * memory and their clients' connections while they wait).
 */
export class HeavySlots {
  private used = 0;

  constructor(
    private readonly capacity: number,
    private readonly onChange?: (used: number) => void,
  ) {}

  get inUse(): number {
    return this.used;
  }

  /** Takes a slot, or throws the 429; the returned function gives the slot back (once). */
  acquire(estimatedBytes: number): () => void {
    if (this.used >= this.capacity) {
      throw new HttpError(
        429,
        `${this.used} heavy request(s) are already being answered, the most this server builds at once (--max-heavy-requests ${this.capacity}); ` +
          `this one would answer about ${formatBytes(estimatedBytes)}: retry in a moment, or ask for fewer rows or only top_items and top_scores`,
        { "retry-after": "1" },
      );
    }
    this.used++;
    this.onChange?.(this.used);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used--;
      this.onChange?.(this.used);
    };
  }
}
