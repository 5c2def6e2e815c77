import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { evaluate, type Scorer } from "../shared/eval/evaluator.js";
import { coverage, rankAmong, topPopularity } from "../shared/eval/metrics.js";
import { compareModels } from "../shared/gate/compare.js";
import { evaluateModel, mapVocabulary, type ModelEvaluation } from "../shared/gate/engine.js";
import { loadEvalData, type EvalData } from "../shared/gate/eval-data.js";
import { evaluationKey, readEvaluation, writeEvaluation } from "../shared/gate/eval-store.js";
import { createRowRanker, rankAndTopK } from "../shared/eval/rank-kernel.js";
import { rankingDiff, rbo } from "../shared/gate/ranking-diff.js";
import { DEFAULT_RULES, loadRules } from "../shared/gate/rules.js";
import { silentLogger } from "../shared/log.js";
import { Rng } from "../shared/util/random.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir("recship-gate-engine-");

/** A seq file: `users` users over `items` items (ids "i1".."iN"), lengths 2..maxLen. */
function writeSeq(name: string, users: number, items: number, seed: number, maxLen = 30): string {
  const rng = new Rng(seed);
  const lines: string[] = [];
  for (let u = 0; u < users; u++) {
    const n = 2 + rng.int(maxLen - 1);
    // popular items more often: a skewed draw
    lines.push(`u${u} ${Array.from({ length: n }, () => `i${1 + Math.floor(items * rng.next() ** 2)}`).join(" ")}`);
  }
  const path = join(dir, name);
  writeFileSync(path, `${lines.join("\n")}\n`);
  return path;
}

async function data(path: string, options: Partial<{ excludeSeen: boolean; sampledNegatives: number }> = {}): Promise<EvalData> {
  return loadEvalData({
    path,
    format: "seq",
    excludeSeen: options.excludeSeen ?? false,
    sampledNegatives: options.sampledNegatives ?? 20,
    seed: 3,
    slices: DEFAULT_RULES.slices,
    log: silentLogger,
  });
}

/** Scores from the original item ids, so the same model can be given any vocabulary order. */
class FakeScorer implements Scorer {
  constructor(
    private readonly itemIds: string[],
    private readonly quality: number,
    private readonly salt = 0,
  ) {}
  get numItems() {
    return this.itemIds.length - 1;
  }
  score(histories: Int32Array[]): Float32Array {
    const n = this.numItems;
    const out = new Float32Array(histories.length * n);
    histories.forEach((h, b) => {
      const last = h.length ? Number(this.itemIds[h[h.length - 1]].slice(1)) : 0;
      for (let j = 0; j < n; j++) {
        const id = Number(this.itemIds[j + 1].slice(1));
        // a popularity prior (low ids are popular), a little per-user noise, coarse so that ties happen
        const noise = Math.sin(last * 12.9898 + id * 78.233 + this.salt) * 43758.5453;
        out[b * n + j] = Math.round((this.quality * -Math.sqrt(id) + (noise - Math.floor(noise)) * 4) * 4) / 4;
      }
    });
    return out;
  }
}

describe("rank kernel", () => {
  const kernels = [
    ["JavaScript", rankAndTopK],
    ["WebAssembly SIMD", createRowRanker()],
  ] as const;
  it.each(kernels)("%s: agrees with rankAmong and a full sort, ties and -Infinity included", (_, rank) => {
    const rng = new Rng(9);
    const topItems = new Int32Array(8);
    const scratch = new Float32Array(8);
    const counts = { greater: 0, ties: 0 };
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + rng.int(trial < 200 ? 60 : 3000);
      const row = Float32Array.from({ length: n }, () => (rng.next() < 0.1 ? -Infinity : rng.int(12) + (trial % 3 === 0 ? rng.next() : 0)));
      const target = rng.int(n);
      const k = 1 + rng.int(8);
      expect(rank(row, target, k, topItems, 0, scratch, counts)).toBe(rankAmong(row, row[target], n));
      expect(counts.greater).toBe(row.filter((s) => s > row[target]).length);
      expect(counts.ties).toBe(row.filter((s) => s === row[target]).length);
      const expected = Array.from(row.keys())
        .filter((i) => row[i] > -Infinity)
        .sort((a, b) => row[b] - row[a] || a - b)
        .slice(0, k)
        .map((i) => i + 1);
      while (expected.length < k) expected.push(0);
      expect(Array.from(topItems.subarray(0, k))).toEqual(expected);
    }
  });

  it("the WebAssembly kernel gives the JavaScript kernel's ranks, counts and top lists on long rows, written at an offset", () => {
    const rng = new Rng(4);
    const wasm = createRowRanker();
    const [a, b] = [new Int32Array(3 * 20), new Int32Array(3 * 20)];
    const [sa, sb] = [new Float32Array(20), new Float32Array(20)];
    const [ca, cb] = [
      { greater: 0, ties: 0 },
      { greater: 0, ties: 0 },
    ];
    for (const n of [100_003, 65_536, 250_001]) {
      // a rounded normal-ish score (many ties) with a few masked items
      const row = Float32Array.from({ length: n }, () =>
        rng.next() < 0.01 ? -Infinity : Math.round((rng.next() + rng.next()) * 500) / 100,
      );
      for (let u = 0; u < 3; u++) {
        const target = rng.int(n);
        expect(wasm(row, target, 20, b, u * 20, sb, cb)).toBe(rankAndTopK(row, target, 20, a, u * 20, sa, ca));
        expect(cb).toEqual(ca);
        expect(Array.from(sb)).toEqual(Array.from(sa));
      }
      expect(Array.from(b)).toEqual(Array.from(a));
    }
  });
});

describe("evaluation engine", () => {
  it("gives the ranks and metrics of the shared evaluator, full and sampled", async () => {
    const d = await data(writeSeq("a.seq", 300, 80, 1));
    const scorer = new FakeScorer(d.itemIds, 1);
    const ev = await evaluateModel(scorer, d.itemIds, d, { topWidth: 10, batchSize: 64 });
    const ref = await evaluate(scorer, d.cases, { seed: 3, sampledNegatives: 20, batchSize: 50 });
    expect(Array.from(ev.ranksFull)).toEqual(Array.from(ref.ranks.full));
    expect(Array.from(ev.ranksMasked)).toEqual(Array.from(ref.ranks.fullMasked));
    expect(Array.from(ev.ranksSampled!)).toEqual(Array.from(ref.ranks.sampled!));
    expect(ev.users).toBe(d.cases.length);
    expect(ev.sameVocabulary).toBe(true);
    // every top list is sorted by score, and coverage counts its distinct items
    const row = scorer.score([d.cases[0].history]);
    const top = Array.from(ev.top.subarray(0, 10));
    for (let r = 1; r < 10; r++) expect(row[top[r - 1] - 1]).toBeGreaterThanOrEqual(row[top[r] - 1]);
    expect(coverage(ev.top, 10, 10, d.numItems)).toBeCloseTo(new Set(Array.from(ev.top)).size / d.numItems, 12);
  });

  it("masks seen items when asked, never the target", async () => {
    const d = await data(writeSeq("b.seq", 200, 60, 2), { excludeSeen: true });
    const scorer = new FakeScorer(d.itemIds, 1);
    const ev = await evaluateModel(scorer, d.itemIds, d, { topWidth: 10 });
    const ref = await evaluate(scorer, d.cases, { seed: 3, sampledNegatives: 20 });
    expect(Array.from(ev.ranksFull)).toEqual(Array.from(ref.ranks.fullMasked));
    expect(ev.ranksMasked).toBe(ev.ranksFull);
    d.cases.forEach((c, i) => {
      const seen = new Set(Array.from(c.history).filter((x) => x !== c.target));
      for (const item of ev.top.subarray(i * 10, i * 10 + 10)) expect(seen.has(item)).toBe(false);
    });
  });

  it("maps a model with its own vocabulary onto the data's items", async () => {
    const d = await data(writeSeq("c.seq", 200, 50, 4));
    // the same model, items in another order and without the data's last 5 items
    const kept = d.itemIds.slice(1, d.itemIds.length - 5).reverse();
    const modelIds = ["", ...kept];
    const ev = await evaluateModel(new FakeScorer(modelIds, 1), modelIds, d, { topWidth: 10 });
    const map = mapVocabulary(d.itemIds, modelIds);
    expect(map.same).toBe(false);
    const dropped = new Set(d.itemIds.slice(d.itemIds.length - 5));
    // reference: the data-space model with the unknown items scored -Infinity and dropped from histories
    const full = new FakeScorer(d.itemIds, 1);
    const ref: Scorer = {
      numItems: full.numItems,
      score: (hs) => {
        const known = hs.map((h) => h.filter((x) => !dropped.has(d.itemIds[x])));
        const s = full.score(known);
        for (let b = 0; b < hs.length; b++)
          for (let j = 0; j < full.numItems; j++) if (dropped.has(d.itemIds[j + 1])) s[b * full.numItems + j] = -Infinity;
        return s;
      },
    };
    const expected = await evaluate(ref, d.cases, { seed: 3, sampledNegatives: 20 });
    expect(Array.from(ev.ranksFull)).toEqual(Array.from(expected.ranks.full));
    expect(ev.unknownTargets).toBe(d.cases.filter((c) => dropped.has(d.itemIds[c.target])).length);
    expect(ev.unknownHistoryItems).toBeGreaterThan(0);
  });

  it("stores and reloads an evaluation only under the same key", async () => {
    const d = await data(writeSeq("d.seq", 100, 40, 5));
    const ev = await evaluateModel(new FakeScorer(d.itemIds, 1), d.itemIds, d, { topWidth: 12 });
    const path = join(dir, "ev.bin.gz");
    const key = evaluationKey(d.fingerprint, "ab".repeat(32), 12);
    await writeEvaluation(path, key, ev);
    const back = (await readEvaluation(path, key))!;
    expect(Array.from(back.ranksFull)).toEqual(Array.from(ev.ranksFull));
    expect(Array.from(back.ranksSampled!)).toEqual(Array.from(ev.ranksSampled!));
    expect(Array.from(back.top)).toEqual(Array.from(ev.top));
    expect(await readEvaluation(path, { ...key, fingerprint: "other" })).toBeUndefined();
    expect(await readEvaluation(path, { ...key, modelSha256: "cd".repeat(32) })).toBeUndefined();
    expect(await readEvaluation(join(dir, "missing.bin.gz"), key)).toBeUndefined();
  });

  it("fingerprints the data and the protocol", async () => {
    const path = writeSeq("e.seq", 100, 40, 6);
    const a = await data(path);
    expect((await data(path)).fingerprint).toBe(a.fingerprint);
    expect((await data(path, { excludeSeen: true })).fingerprint).not.toBe(a.fingerprint);
    expect((await data(writeSeq("f.seq", 100, 40, 7))).fingerprint).not.toBe(a.fingerprint);
  });
});

describe("coverage and popularity of the top-K", () => {
  it("counts distinct recommended items and averages their popularity per user", () => {
    // two users, top-3 lists (0 = empty slot)
    const top = Int32Array.from([1, 2, 3, 2, 4, 0]);
    expect(coverage(top, 3, 3, 10)).toBeCloseTo(4 / 10);
    expect(coverage(top, 3, 1, 10)).toBeCloseTo(2 / 10);
    expect(coverage(top, 3, 3, 10, [1])).toBeCloseTo(2 / 10);
    const popularity = Float64Array.from([0, 10, 20, 30, 40]);
    expect(Array.from(topPopularity(top, 3, 3, popularity))).toEqual([20, 30]);
    expect(Array.from(topPopularity(top, 3, 1, popularity))).toEqual([10, 20]);
  });
});

describe("ranking diff", () => {
  it("is 1 for identical lists, 0 for disjoint ones, in between otherwise", () => {
    const a = Int32Array.from([1, 2, 3, 4]);
    expect(rbo(a, 0, a, 0, 4, 0.9)).toBeCloseTo(1, 12);
    expect(rbo(a, 0, Int32Array.from([5, 6, 7, 8]), 0, 4, 0.9)).toBe(0);
    const swapped = rbo(a, 0, Int32Array.from([2, 1, 3, 4]), 0, 4, 0.9);
    const late = rbo(a, 0, Int32Array.from([1, 2, 4, 3]), 0, 4, 0.9);
    expect(swapped).toBeLessThan(late); // disagreement at the top costs more
    expect(late).toBeLessThan(1);
    const diff = rankingDiff(Int32Array.from([1, 2, 3, 4, 1, 2, 3, 4]), Int32Array.from([1, 2, 3, 4, 4, 3, 9, 8]), 4, 4, 0.9);
    expect(diff.meanOverlap).toBeCloseTo((1 + 0.5) / 2);
    expect(diff.identical).toBe(0.5);
    expect(diff.overlapHistogram).toEqual([0, 0, 1, 0, 1]);
  });
});

describe("comparison and rules", () => {
  const quality = async (d: EvalData, q: number, salt = 0): Promise<ModelEvaluation> =>
    evaluateModel(new FakeScorer(d.itemIds, q, salt), d.itemIds, d, { topWidth: 20 });

  it("never fails a model compared with itself", async () => {
    const d = await data(writeSeq("g.seq", 600, 100, 8));
    const ev = await quality(d, 1);
    const c = compareModels(d, ev, ev, { ...DEFAULT_RULES, resamples: 500 });
    expect(c.passed).toBe(true);
    expect(c.warnings).toEqual([]);
    for (const m of c.metrics) {
      expect(m.relDelta === 0 || Number.isNaN(m.relDelta)).toBe(true);
      expect(m.pass).toBe(true);
    }
    expect(c.metrics.find((m) => m.name === "ndcg@10")).toMatchObject({ gated: true, critical: true, status: "pass", pValue: 1 });
  });

  it("fails a clear drop, with its whole interval beyond the margin", async () => {
    const d = await data(writeSeq("h.seq", 1500, 100, 9));
    const good = await quality(d, 1);
    // the same model with its scores scrambled for half of the users: a large drop
    const bad: ModelEvaluation = { ...good, ranksFull: Float64Array.from(good.ranksFull, (r, i) => (i % 2 ? r : r + 40)) };
    const c = compareModels(d, bad, good, { ...DEFAULT_RULES, resamples: 1000 });
    expect(c.passed).toBe(false);
    const ndcg = c.metrics.find((m) => m.name === "ndcg@10")!;
    expect(ndcg.status).toBe("fail");
    expect(ndcg.relDelta).toBeLessThan(-0.3);
    expect(ndcg.ciHigh).toBeLessThan(-0.01);
    expect(c.failures.join("\n")).toMatch(/ndcg@10: −?-?\d/);
  });

  it("reads rules: margins as given, typos and bad values as errors", () => {
    const rules = loadRules("metrics:\n  - metric: ndcg@10\n    margin: 50%\nlatency:\n  enabled: false");
    expect(rules.metrics).toEqual([
      {
        metric: "ndcg@10",
        protocol: "full",
        slices: ["all"],
        direction: "higher",
        margin: { kind: "relative", value: 0.5 },
        critical: true,
      },
    ]);
    expect(() => loadRules("metrics:\n  - metric: ndcg@10\n    margn: 1%")).toThrow(/unknown key "margn" under metrics.0/);
    expect(() => loadRules("metrics:\n  - metric: ndgc@10")).toThrow(/unknown metric "ndgc@10"/);
    expect(() => loadRules("metrics:\n  - metric: ndcg@10\n    margin: 0.01")).toThrow(/invalid gate rules/);
    expect(loadRules("metrics:\n  - metric: hr@5\n    margin: {absolute: 0.002}\n    critical: false").metrics[0].margin).toEqual({
      kind: "absolute",
      value: 0.002,
    });
    expect(loadRules(undefined)).toEqual(DEFAULT_RULES);
    // the documented example spells out exactly the defaults
    expect(loadRules(new URL("../actions/benchmark-gate/rules.example.yml", import.meta.url).pathname)).toEqual(DEFAULT_RULES);
  });
});
