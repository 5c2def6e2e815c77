import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { silentLogger } from "../shared/log.js";
import { startModelServer, type ModelServer } from "../shared/serve/server.js";
import { buildServeBundle, type ServeBundle } from "./helpers/serve-bundle.js";
import { metricValue, postJson } from "./helpers/serve-process.js";
import { tempDir } from "./helpers/tmp.js";

const root = tempDir("recship-serve-batch-");
let bundle: ServeBundle;
const servers: ModelServer[] = [];
let batched = "";
let unbatched = "";
let queued = "";

beforeAll(async () => {
  bundle = await buildServeBundle(root, 9);
  // batches of up to 8 rows, and a long wait for company: arrivals together must share runs;
  // the model runs in two worker threads
  const a = await startModelServer({
    bundle: bundle.dir,
    port: 0,
    log: silentLogger,
    maxBatch: 8,
    maxDelayMs: 2_000,
    waitFullDelay: true,
    workers: 2,
  });
  // one row per run on the main thread: the reference answers
  const b = await startModelServer({ bundle: bundle.dir, port: 0, log: silentLogger, maxBatch: 1, maxDelayMs: 0, workers: 0 });
  // one worker taking requests from the shared-memory queue whenever it is free, at most 8 rows a run
  const c = await startModelServer({ bundle: bundle.dir, port: 0, log: silentLogger, maxBatch: 8, workers: 1 });
  servers.push(a.server, b.server, c.server);
  batched = a.url;
  unbatched = b.url;
  queued = c.url;
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.shutdown()));
});

describe("micro-batching", () => {
  it("runs concurrent requests together, within the batch limit, each getting its own rows back", async () => {
    const histories = Array.from({ length: 13 }, (_, i) => ({
      items: [bundle.items[i * 7], bundle.items[i * 3 + 1], bundle.items[i + 4]],
      k: 5,
    }));
    const rows = Array.from({ length: 3 }, (_, i) => [0, 0, 0, 0, 0, 0, 0, i + 1, i + 2, i + 3]);
    const v2 = {
      inputs: [{ name: "item_seq", datatype: "INT64", shape: [3, 10], data: rows }],
      outputs: [{ name: "top_items" }, { name: "top_scores" }],
    };
    const send = (base: string) =>
      Promise.all([...histories.map((h) => postJson(`${base}/v1/recommend`, h)), postJson(`${base}/v2/models/recommender/infer`, v2)]);
    const [got, reference] = [await send(batched), await send(unbatched)];
    for (const r of [...got, ...reference]) expect(r.status).toBe(200);
    got.slice(0, -1).forEach((r, i) => {
      expect(r.body.items).toEqual(reference[i].body.items);
      expect(r.body.scores.map((s: number) => s.toFixed(4))).toEqual(reference[i].body.scores.map((s: number) => s.toFixed(4)));
    });
    expect(got.at(-1)!.body.outputs[0].data).toEqual(reference.at(-1)!.body.outputs[0].data);

    const m = await (await fetch(`${batched}/metrics`)).text();
    const runs = metricValue(m, "recship_batch_size_count");
    expect(metricValue(m, "recship_batch_size_sum")).toBe(13 + 3);
    expect(runs).toBeLessThan(14); // 14 requests, fewer runs
    expect(metricValue(m, "recship_batch_size_bucket", { le: "8" })).toBe(runs); // never past --max-batch
    expect(metricValue(m, "recship_batch_size_bucket", { le: "4" })).toBeLessThan(runs); // some run held more than 4 rows
    expect(metricValue(m, "recship_batch_requests_sum")).toBe(14);

    const ref = await (await fetch(`${unbatched}/metrics`)).text();
    // with --max-batch 1, the V2 request's 3 rows still run together (a request is never split), the rest alone
    expect(metricValue(ref, "recship_batch_size_count")).toBe(14);
    expect(metricValue(ref, "recship_batch_size_bucket", { le: "1" })).toBe(13);
  });

  it("with the shared queue, concurrent requests get their own rows back, in runs of whole requests within the limit", async () => {
    const bodies = Array.from({ length: 40 }, (_, i) => ({
      items: [bundle.items[(i * 5) % bundle.items.length], bundle.items[(i * 11 + 3) % bundle.items.length]],
      k: 4,
    }));
    const v2 = (rows: number, seed: number) => ({
      inputs: [
        {
          name: "item_seq",
          datatype: "INT64",
          shape: [rows, 10],
          data: Array.from({ length: rows }, (_, r) => [0, 0, 0, 0, 0, 0, 0, 0, 1 + ((r + seed) % 9), 1 + ((r * 3 + seed) % 9)]),
        },
      ],
      outputs: [{ name: "top_items" }],
    });
    const send = (base: string) =>
      Promise.all([
        ...bodies.map((b) => postJson(`${base}/v1/recommend`, b)),
        postJson(`${base}/v2/models/recommender/infer`, v2(3, 1)),
        postJson(`${base}/v2/models/recommender/infer`, v2(12, 2)), // more rows than a run holds: runs alone, whole
      ]);
    const before = await (await fetch(`${queued}/metrics`)).text();
    const [got, reference] = [await send(queued), await send(unbatched)];
    for (const r of [...got, ...reference]) expect(r.status).toBe(200);
    got.slice(0, 40).forEach((r, i) => {
      expect(r.body.items).toEqual(reference[i].body.items);
      expect(r.body.scores.map((s: number) => s.toFixed(4))).toEqual(reference[i].body.scores.map((s: number) => s.toFixed(4)));
    });
    expect(got[40].body.outputs[0].data).toEqual(reference[40].body.outputs[0].data);
    expect(got[41].body.outputs[0].data).toEqual(reference[41].body.outputs[0].data);
    const m = await (await fetch(`${queued}/metrics`)).text();
    const runs = metricValue(m, "recship_batch_size_count") - metricValue(before, "recship_batch_size_count");
    expect(metricValue(m, "recship_batch_size_sum") - metricValue(before, "recship_batch_size_sum")).toBe(40 + 3 + 12);
    expect(metricValue(m, "recship_batch_requests_sum") - metricValue(before, "recship_batch_requests_sum")).toBe(42);
    expect(runs).toBeLessThan(42); // requests shared runs
    // every run but the 12-row request's held at most 8 rows
    expect(metricValue(m, "recship_batch_size_bucket", { le: "8" }) - metricValue(before, "recship_batch_size_bucket", { le: "8" })).toBe(
      runs - 1,
    );
  });
});
