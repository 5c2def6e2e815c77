/**
 * Simulated shoppers for the demo and canary experiments: they ask the router for
 * recommendations at a steady rate, click recommended items with some probability, add some
 * clicked items to the cart, and send each event to /v1/feedback (which the router hands back
 * to the server that served the recommendation). Fault: the canary's recommendations can be
 * clicked less.
 */
export interface ShopperOptions {
  /** The router, e.g. http://127.0.0.1:8080 */
  endpoint: string;
  /** The shop's item ids. */
  items: readonly string[];
  /**
   * Real purchase sequences to browse from (a shopper's history is a stretch of one of them);
   * default: a few items drawn uniformly from `items`.
   */
  histories?: readonly (readonly string[])[];
  /** /v1/recommend requests per second, all shoppers together. */
  rate: number;
  /** Requests in flight at most (default 16). */
  concurrency?: number;
  /** Items per recommendation (default 4). */
  k?: number;
  /** Chance a recommended item is clicked (default 0.5). */
  clickProbability?: number;
  /** Chance a clicked item is added to the cart (default 0.3). */
  addToCartProbability?: number;
  /** Fault: the canary's click probability is multiplied by this (0.8: 20 % fewer clicks). */
  canaryClickFactor?: number;
  seed?: number;
  /** Per HTTP request (default 10 s). */
  timeoutMs?: number;
}

export interface ShopperStats {
  recommend: Record<string, number>;
  feedback: number;
  feedbackFailed: number;
  networkErrors: number;
  clicks: Record<string, number>;
  /** add_to_cart events sent, by variant. */
  addToCart: Record<string, number>;
  served: Record<string, number>;
}

export interface Shopper {
  stats(): ShopperStats;
  /** Resolves once `n` more recommendations were answered (any status). */
  atLeast(n: number): Promise<void>;
  stop(): Promise<void>;
}

/** mulberry32: a small seeded generator, so a run's shoppers do the same things. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** POSTs JSON and returns the status and the parsed body (text when it is not JSON). */
async function postJson(url: string, body: unknown, timeoutMs: number): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    // a server stopped mid-request must not keep stop() waiting
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as unknown };
  } catch {
    return { status: res.status, body: text };
  }
}

/** A shopper's history: 1 to 5 consecutive items of a real purchase sequence, else of random items. */
function historyPicker(o: ShopperOptions, rand: () => number): () => string[] {
  const histories = o.histories?.filter((h) => h.length > 0) ?? [];
  return () => {
    const length = 1 + Math.floor(rand() * 5);
    if (!histories.length) return Array.from({ length }, () => o.items[Math.floor(rand() * o.items.length)]);
    const sequence = histories[Math.floor(rand() * histories.length)];
    const end = 1 + Math.floor(rand() * sequence.length);
    return sequence.slice(Math.max(0, end - length), end);
  };
}

export function startShopper(o: ShopperOptions): Shopper {
  const rand = random(o.seed ?? 1);
  const k = o.k ?? 4;
  const click = o.clickProbability ?? 0.5;
  const cart = o.addToCartProbability ?? 0.3;
  const stats: ShopperStats = { recommend: {}, feedback: 0, feedbackFailed: 0, networkErrors: 0, clicks: {}, addToCart: {}, served: {} };
  const bump = (m: Record<string, number>, key: string, by = 1) => void (m[key] = (m[key] ?? 0) + by);
  let answered = 0;
  let running = true;
  const start = performance.now();
  let slot = 0;
  const gap = 1000 / o.rate;

  const post = (path: string, body: unknown) => postJson(`${o.endpoint}${path}`, body, o.timeoutMs ?? 10_000);

  const pickHistory = historyPicker(o, rand);

  const shop = async () => {
    const history = pickHistory();
    const res = await post("/v1/recommend", { items: history, k });
    answered++;
    const variant: string = res.body?.model?.variant ?? "none";
    bump(stats.recommend, `${variant} ${res.status}`);
    if (res.status !== 200) return;
    const items: string[] = res.body.items;
    bump(stats.served, variant, items.length);
    const p = click * (variant === "canary" ? (o.canaryClickFactor ?? 1) : 1);
    for (const item of items) {
      if (rand() >= p) continue;
      bump(stats.clicks, variant);
      const events = rand() < cart ? ["click", "add_to_cart"] : ["click"];
      if (events.length > 1) bump(stats.addToCart, variant);
      for (const event of events) {
        try {
          const fb = await post("/v1/feedback", { request_id: res.body.request_id, item, event });
          if (fb.status === 202) stats.feedback++;
          else stats.feedbackFailed++;
        } catch {
          stats.feedbackFailed++;
        }
      }
    }
  };

  const worker = async () => {
    while (running) {
      // more than a second behind (an overloaded machine): skip ahead instead of bursting
      if (performance.now() - (start + slot * gap) > 1000) slot = Math.ceil((performance.now() - start) / gap);
      const due = start + slot++ * gap;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      if (!running) break;
      try {
        await shop();
      } catch {
        answered++;
        stats.networkErrors++;
      }
    }
  };
  const workers = Array.from({ length: o.concurrency ?? 16 }, worker);

  return {
    stats: () => structuredClone(stats),
    async atLeast(n: number) {
      const goal = answered + n;
      while (answered < goal && running) await new Promise((r) => setTimeout(r, 20));
    },
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

/**
 * Sends `n` recommendations pinned to one variant (x-recship-variant), a few at a time: a
 * freshly started server answers ~10 % slower for its first thousand requests (the JIT), which
 * a latency comparison against a long-running stable would otherwise measure.
 */
export async function warmUp(endpoint: string, items: readonly string[], variant: "stable" | "canary", n = 3000): Promise<void> {
  for (let i = 0; i < n; i += 8) {
    await Promise.all(
      Array.from({ length: 8 }, async (_, j) => {
        const res = await fetch(`${endpoint}/v1/recommend`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-recship-variant": variant },
          body: JSON.stringify({ items: [items[(i + j) % items.length]], k: 4 }),
        });
        await res.arrayBuffer();
      }),
    );
  }
}
