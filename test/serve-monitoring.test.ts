import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readManifest } from "../shared/bundle/bundle-io.js";
import {
  bucketOf,
  buildMonitoringReference,
  MONITORING_ARTIFACT,
  popularityShares,
  readMonitoringReference,
  SCORE_BUCKETS,
  type MonitoringReference,
} from "../shared/bundle/monitoring-reference.js";
import { readInteractions } from "../shared/data/readers.js";
import { leaveOneOut } from "../shared/data/split.js";
import { isRecshipError } from "../shared/errors.js";
import { silentLogger } from "../shared/log.js";
import { CoverageWindow } from "../shared/serve/coverage.js";
import { startModelServer, type ModelServer } from "../shared/serve/server.js";
import { buildServeBundle, type ServeBundle } from "./helpers/serve-bundle.js";
import { metricValue, postJson } from "./helpers/serve-process.js";
import { tempDir } from "./helpers/tmp.js";

describe("monitoring building blocks", () => {
  it("popularity share: the share of the catalogue strictly more popular, ties sharing a value", () => {
    expect(Array.from(popularityShares([5, 9, 5, 0]))).toEqual([0.25, 0, 0.25, 0.75]);
  });

  it("bucketOf follows Prometheus's le: a value on a bound belongs to that bucket", () => {
    expect(bucketOf(-20, SCORE_BUCKETS)).toBe(0);
    expect(bucketOf(-10, SCORE_BUCKETS)).toBe(0);
    expect(bucketOf(-9.99, SCORE_BUCKETS)).toBe(1);
    expect(bucketOf(1e9, SCORE_BUCKETS)).toBe(SCORE_BUCKETS.length);
  });

  it("the coverage window counts distinct items of the last answers and forgets the oldest", () => {
    const w = new CoverageWindow(10, 2, 3);
    w.add([1, 2, 3]);
    expect(w.distinctShare).toBeNaN(); // not full yet
    expect(w.distinct).toBe(3);
    w.add([3, 4]); // a short answer
    expect([w.size, w.distinct, w.distinctShare]).toEqual([2, 4, 0.4]);
    w.add([5, 5, 6]); // forgets [1, 2, 3]; 3 is still in [3, 4]
    expect(w.distinct).toBe(4);
    w.add([7, 8, 9]); // forgets [3, 4]
    expect(w.distinct).toBe(5);
  });

  it("a reference from lists: shares per bucket, coverage over the first `requests` users", () => {
    const ref = buildMonitoringReference(Int32Array.from([1, 2, 2, 3]), Float32Array.from([0.5, 7]), [10, 5, 1], 2);
    expect(ref.topScore.shares[bucketOf(0.5, SCORE_BUCKETS)]).toBe(0.5);
    expect(ref.topScore.shares[bucketOf(7, SCORE_BUCKETS)]).toBe(0.5);
    expect(ref.coverage).toEqual({ requests: 2, distinctShare: 1 });
    expect(ref.popularity.shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });
});

describe("the bundle's monitoring reference, served", () => {
  const root = tempDir("recship-serve-monitoring-");
  let bundle: ServeBundle;
  let server: ModelServer;
  let url = "";
  let reference: MonitoringReference;

  beforeAll(async () => {
    bundle = await buildServeBundle(root, 5);
    reference = (await readMonitoringReference(bundle.dir, await readManifest(bundle.dir)))!;
    ({ server, url } = await startModelServer({ bundle: bundle.dir, port: 0, log: silentLogger, maxDelayMs: 0 }));
  }, 300_000);

  afterAll(async () => {
    await server?.shutdown();
  });

  it("train-model records it in bundle.json, checksummed, one item count per item", async () => {
    const manifest = await readManifest(bundle.dir);
    expect(manifest.artifacts[MONITORING_ARTIFACT]?.file).toBe("monitoring-reference.json");
    expect(reference.itemCounts).toHaveLength(bundle.items.length);
    expect(reference.topScore.shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
    // an edited reference is refused like any other bundle file
    const path = join(bundle.dir, "monitoring-reference.json");
    const text = readFileSync(path, "utf8");
    writeFileSync(path, text.replace('"schema":1', '"schema":1 '));
    const error = await readMonitoringReference(bundle.dir, manifest).catch((e: unknown) => e);
    writeFileSync(path, text);
    expect(isRecshipError(error)).toBe(true);
  });

  it("the server exports the reference, and serving the validation users reproduces it: scores, popularity and coverage", async () => {
    const m0 = await (await fetch(`${url}/metrics`)).text();
    reference.topScore.shares.forEach((share, i) => {
      const le = i < SCORE_BUCKETS.length ? String(SCORE_BUCKETS[i]) : "+Inf";
      expect(metricValue(m0, "recship_reference_top_score_share", { bucket_le: le })).toBeCloseTo(share, 6);
    });
    expect(metricValue(m0, "recship_reference_distinct_share")).toBeCloseTo(reference.coverage.distinctShare, 6);
    expect(metricValue(m0, "recship_reference_observations", { histogram: "top_score" })).toBe(reference.users);
    expect(metricValue(m0, "recship_reference_observations", { histogram: "popularity" })).toBe(reference.users * reference.listLength);
    expect(metricValue(m0, "recship_cpu_limit_cores")).toBeGreaterThan(0);
    expect(metricValue(m0, "recship_memory_limit_bytes")).toBeGreaterThan(0);

    // the validation users of the training run, in the order the reference took them
    const read = await readInteractions(join(root, "shop-5.csv"), {
      userColumn: "user_id",
      itemColumn: "item_id",
      timeColumn: "timestamp",
    });
    const split = leaveOneOut(read.log);
    expect(split.evalUsers.length).toBe(reference.users);
    const before = metricValue(m0, "recship_recommendation_top_score_count");
    for (const u of split.evalUsers) {
      const items = Array.from(split.train[u], (d) => read.log.itemIds[d]);
      expect((await postJson(`${url}/v1/recommend`, { items, k: 10 })).status).toBe(200);
    }
    const m = await (await fetch(`${url}/metrics`)).text();
    const served = metricValue(m, "recship_recommendation_top_score_count") - before;
    expect(served).toBe(reference.users);
    // the ONNX model served the same lists the trained model gave: the same histogram, bucket for bucket
    let cumulative = 0;
    reference.topScore.shares.forEach((share, i) => {
      cumulative += share;
      const le = i < SCORE_BUCKETS.length ? String(SCORE_BUCKETS[i]) : "+Inf";
      const count =
        metricValue(m, "recship_recommendation_top_score_bucket", { le: le }) -
        metricValue(m0, "recship_recommendation_top_score_bucket", { le });
      expect(Math.abs(count - cumulative * served)).toBeLessThanOrEqual(2);
    });
    // the coverage window holds exactly these answers: the same distinct share as the reference
    expect(metricValue(m, "recship_coverage_window_requests")).toBe(reference.coverage.requests);
    expect(metricValue(m, "recship_recommended_items_distinct_share")).toBeCloseTo(reference.coverage.distinctShare, 2);
    expect(metricValue(m, "recship_recommended_item_popularity_count")).toBe(10 * served);
    expect(metricValue(m, "recship_model_queue_requests")).toBe(0);
  }, 120_000);
});
