import { describe, expect, it } from "vitest";
import { MicroBatcher } from "../shared/serve/batcher.js";
import type { ModelOutputs, OutputName } from "../shared/serve/model-runner.js";

const MAXLEN = 2;

/** A model whose score for a row is the row's first id; every run waits until released. */
function gatedModel() {
  const runs: number[] = [];
  const fetches: (string[] | "all")[] = [];
  let release: (() => void)[] = [];
  const run = async (input: BigInt64Array, rows: number, fetch?: ReadonlySet<OutputName>): Promise<ModelOutputs> => {
    runs.push(rows);
    fetches.push(fetch ? [...fetch].sort() : "all");
    await new Promise<void>((resolve) => release.push(resolve));
    const scores = Float32Array.from({ length: rows }, (_, r) => Number(input[r * MAXLEN]));
    if (scores.some((s) => s < 0)) throw new Error("negative id");
    return { rows, scores, topItems: new BigInt64Array(rows), topScores: new Float32Array(rows), userEmbedding: new Float32Array(rows) };
  };
  const releaseAll = () => {
    const r = release;
    release = [];
    r.forEach((f) => f());
  };
  return { run, runs, fetches, releaseAll, pending: () => release.length };
}

const job = (id: number, rows = 1) => {
  const input = new BigInt64Array(rows * MAXLEN);
  for (let r = 0; r < rows; r++) input[r * MAXLEN] = BigInt(id + r);
  return input;
};
const tick = () => new Promise((r) => setImmediate(r));
const until = async (cond: () => boolean) => {
  while (!cond()) await tick();
};

describe("MicroBatcher", () => {
  it("queues arrivals during a run and sends them together, each getting its own rows", async () => {
    const model = gatedModel();
    const batcher = new MicroBatcher(model.run, MAXLEN, { maxBatch: 64, maxDelayMs: 0 });
    const first = batcher.submit(job(100), 1);
    await until(() => model.pending() === 1);
    const rest = [1, 2, 3, 4, 5].map((i) => batcher.submit(job(i * 10, i), i)); // 15 rows queue behind the run
    model.releaseAll();
    await first;
    await until(() => model.pending() === 1);
    model.releaseAll();
    const slices = await Promise.all(rest);
    expect(model.runs).toEqual([1, 15]);
    slices.forEach((s, i) => {
      const id = (i + 1) * 10;
      expect(s.rows).toBe(i + 1);
      expect(Array.from(s.outputs.scores!.subarray(s.offset, s.offset + s.rows))).toEqual(Array.from({ length: i + 1 }, (_, r) => id + r));
    });
  });

  it("never puts more than maxBatch rows in a run, but runs a larger request alone", async () => {
    const model = gatedModel();
    const batcher = new MicroBatcher(model.run, MAXLEN, { maxBatch: 8, maxDelayMs: 60_000 });
    const all = [
      ...Array.from({ length: 19 }, (_, i) => batcher.submit(job(i), 1)),
      batcher.submit(job(50, 12), 12),
      batcher.submit(job(90), 1),
    ];
    let done = false;
    void Promise.all(all).then(() => (done = true));
    while (!done) {
      await tick();
      model.releaseAll();
    }
    expect(model.runs.reduce((a, b) => a + b, 0)).toBe(32);
    expect(model.runs.filter((r) => r > 8)).toEqual([12]);
    expect(model.runs.slice(0, 2)).toEqual([8, 8]); // full batches went out without waiting the minute
  });

  it("waits for company only while another request is on its way and requests keep joining", async () => {
    const model = gatedModel();
    let arriving = 1;
    const batcher = new MicroBatcher(model.run, MAXLEN, { maxBatch: 64, maxDelayMs: 60_000, othersInFlight: () => arriving });
    const a = batcher.submit(job(1), 1);
    const b = batcher.submit(job(2), 1); // joins in the same turn
    await tick();
    const c = batcher.submit(job(3), 1); // and one more a turn later: the window stays open
    expect(model.runs).toEqual([]);
    // a turn in which nobody joins closes the window, though a request is still being read
    await until(() => model.runs.length === 1);
    expect(model.runs).toEqual([3]);
    arriving = 0;
    const d = batcher.submit(job(4), 1); // the model is busy: queued for the next run
    model.releaseAll();
    await until(() => model.runs.length === 2);
    model.releaseAll();
    await Promise.all([a, b, c, d]);
    expect(model.runs).toEqual([3, 1]);
  });

  it("flushes at once on shutdown and reports idle", async () => {
    const model = gatedModel();
    const batcher = new MicroBatcher(model.run, MAXLEN, { maxBatch: 64, maxDelayMs: 60_000 });
    const a = batcher.submit(job(1), 1);
    batcher.flushNow();
    await until(() => model.runs.length === 1);
    const idle = batcher.idle();
    model.releaseAll();
    await a;
    await idle;
    expect(batcher.pendingRows).toBe(0);
  });

  it("fails every request of a failed run and keeps going", async () => {
    const model = gatedModel();
    const batcher = new MicroBatcher(model.run, MAXLEN, { maxBatch: 64, maxDelayMs: 0 });
    const bad = [batcher.submit(job(-5), 1), batcher.submit(job(3), 1)];
    await until(() => model.pending() === 1);
    model.releaseAll();
    for (const p of bad) await expect(p).rejects.toThrow("negative id");
    const good = batcher.submit(job(7), 1);
    await until(() => model.pending() === 1);
    model.releaseAll();
    expect((await good).outputs.scores![0]).toBe(7);
  });

  it("fetches the union of what a batch's requests read, and everything when one does not say", async () => {
    const model = gatedModel();
    const batcher = new MicroBatcher(model.run, MAXLEN, { maxBatch: 64, maxDelayMs: 0 });
    const first = batcher.submit(job(1), 1, ["top_items", "top_scores"]);
    await until(() => model.pending() === 1);
    const second = [batcher.submit(job(2), 1, ["top_items", "top_scores"]), batcher.submit(job(3), 1, ["user_embedding"])];
    model.releaseAll();
    await first;
    await until(() => model.pending() === 1);
    const third = batcher.submit(job(4), 1, ["top_items"]);
    const fourth = batcher.submit(job(5), 1);
    model.releaseAll();
    await Promise.all(second);
    await until(() => model.pending() === 1);
    model.releaseAll();
    await Promise.all([third, fourth]);
    expect(model.fetches).toEqual([["top_items", "top_scores"], ["top_items", "top_scores", "user_embedding"], "all"]);
  });

  it("keeps up to `concurrency` runs in flight, and queues the rest behind them", async () => {
    const model = gatedModel();
    const batcher = new MicroBatcher(model.run, MAXLEN, { maxBatch: 2, maxDelayMs: 0, concurrency: 2 });
    const all = [1, 2, 3, 4, 5, 6].map((i) => batcher.submit(job(i), 1));
    await until(() => model.pending() === 2);
    for (let i = 0; i < 5; i++) await tick();
    expect(model.pending()).toBe(2); // never a third run at once
    expect(batcher.pendingRows).toBeGreaterThan(0);
    while (model.runs.reduce((a, b) => a + b, 0) < 6 || model.pending() > 0) {
      model.releaseAll();
      await tick();
    }
    const slices = await Promise.all(all);
    expect(slices.map((s) => s.outputs.scores![s.offset])).toEqual([1, 2, 3, 4, 5, 6]);
    await batcher.idle();
  });
});
