import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../shared/cli/main.js";
import { demoHtml } from "../shared/demo/demo-html.js";
import type { DemoReport } from "../shared/demo/demo-report.js";
import { demoSettings } from "../shared/demo/demo-settings.js";
import { explainShoppers } from "../shared/demo/explain-stage.js";
import { occlusionContributions, occlusionInput, topContributors } from "../shared/eval/occlusion.js";
import { silentLogger } from "../shared/log.js";
import { explainOffline, type ExplainReport } from "../shared/serve/explain.js";
import { loadServedModel, type ServedModel } from "../shared/serve/served-model.js";
import { startModelServer, type ModelServer } from "../shared/serve/server.js";
import { buildServeBundle, type ServeBundle } from "./helpers/serve-bundle.js";
import { postJson } from "./helpers/serve-process.js";
import { tempDir } from "./helpers/tmp.js";

const root = tempDir("recship-explain-");
const MAXLEN = 10;
let bundle: ServeBundle;
let model: ServedModel;
let server: ModelServer | undefined;
let url = "";

beforeAll(async () => {
  bundle = await buildServeBundle(root, 11, 10);
  model = await loadServedModel({ bundle: bundle.dir, device: "cpu", workers: 0, log: silentLogger });
  ({ server, url } = await startModelServer({ bundle: bundle.dir, port: 0, log: silentLogger }));
}, 120_000);

afterAll(async () => {
  await server?.shutdown();
  await model?.runner.release();
});

afterEach(() => {
  vi.restoreAllMocks();
});

const rowOf = (input: BigInt64Array, row: number) => Array.from(input.subarray(row * 4, (row + 1) * 4), Number);

describe("occlusion input", () => {
  it("removes one window item per row and shifts the older items, left-padded", () => {
    const plan = occlusionInput(Int32Array.from([5, 6, 7]), 4);
    expect(plan).toMatchObject({ rows: 4, window: 3, firstIndex: 0 });
    expect([0, 1, 2, 3].map((r) => rowOf(plan.input, r))).toEqual([
      [0, 5, 6, 7],
      [0, 0, 6, 7],
      [0, 0, 5, 7],
      [0, 0, 5, 6],
    ]);
  });

  it("explains only the last maxlen items, and lets the next older item move in when one is removed", () => {
    const plan = occlusionInput(Int32Array.from([1, 2, 3, 4, 5, 6, 7]), 4);
    expect(plan).toMatchObject({ rows: 5, window: 4, firstIndex: 3 });
    expect([0, 1, 2, 3, 4].map((r) => rowOf(plan.input, r))).toEqual([
      [4, 5, 6, 7],
      [3, 5, 6, 7],
      [3, 4, 6, 7],
      [3, 4, 5, 7],
      [3, 4, 5, 6],
    ]);
  });

  it("turns score rows into contributions and ranks them", () => {
    // 3 items; rows: full, without window item 0, without window item 1
    const scores = Float32Array.from([1, 2, 3, 0.5, 2.5, 1, 1, 1, 3]);
    const c = occlusionContributions(scores, 3, 0, 2, [3, 1]);
    expect(Array.from(c)).toEqual([2, 0, 0.5, 0]);
    expect(topContributors(c, 2, 0, 5, 7)).toEqual([
      { index: 7, contribution: 2 },
      { index: 8, contribution: 0 },
    ]);
    expect(topContributors(c, 2, 1, 1, 7)).toEqual([{ index: 7, contribution: 0.5 }]);
  });
});

/** score(item | history) from its own run of one left-padded row. */
async function scoreAlone(history: number[], items: readonly number[]): Promise<number[]> {
  const { maxlen, numItems } = model.runner.shape;
  const kept = history.slice(-maxlen);
  const input = new BigInt64Array(maxlen);
  kept.forEach((d, i) => (input[maxlen - kept.length + i] = BigInt(d)));
  const out = await model.runner.run(input, 1, new Set(["scores"]));
  expect(out.scores!.length).toBe(numItems);
  return items.map((d) => out.scores![d - 1]);
}

/** The reference: every contribution from separate runs, the history without each item built by hand. */
async function referenceContributions(history: number[], items: number[]): Promise<number[][]> {
  const full = await scoreAlone(history, items);
  const first = Math.max(0, history.length - MAXLEN);
  const without: number[][] = [];
  for (let j = first; j < history.length; j++) without.push(await scoreAlone([...history.slice(0, j), ...history.slice(j + 1)], items));
  return items.map((_, r) => without.map((w) => full[r] - w[r]));
}

const denseOf = (id: string) => bundle.items.indexOf(id) + 1;

async function checkAgainstReference(report: { explanations: ExplainReport["explanations"] }, historyIds: string[], limit: number) {
  const history = historyIds.map(denseOf);
  const items = report.explanations.map((e) => denseOf(e.item));
  const reference = await referenceContributions(history, items);
  const first = Math.max(0, history.length - MAXLEN);
  report.explanations.forEach((e, r) => {
    const expected = reference[r]
      .map((contribution, j) => ({ index: first + j, contribution }))
      .sort((a, b) => b.contribution - a.contribution || b.index - a.index);
    expect(e.because.length).toBe(Math.min(limit, reference[r].length));
    e.because.forEach((c, i) => {
      expect(c.contribution).toBeCloseTo(expected[i].contribution, 4);
      expect(c.item).toBe(historyIds[c.history_index]);
      // the same position, unless two contributions tie within the tolerance
      if (Math.abs(expected[i].contribution - (expected[i + 1]?.contribution ?? -Infinity)) > 1e-4)
        expect(c.history_index).toBe(expected[i].index);
    });
  });
}

describe("explanations equal separate leave-one-out runs", () => {
  it("offline (recship explain's path), a short history", async () => {
    const ids = bundle.items.slice(3, 8);
    const report = await explainOffline({ bundle: bundle.dir, items: ids, k: 4, limit: 5, excludeSeen: true, log: silentLogger });
    expect(report.history).toEqual({ given: 5, known: 5, explained: 5 });
    expect(report.explanations).toHaveLength(4);
    for (const e of report.explanations) expect(ids).not.toContain(e.item);
    await checkAgainstReference(report, ids, 5);
  });

  it("through the server, a history longer than maxlen, while another request is in flight", async () => {
    const ids = bundle.items.slice(0, 14);
    const other = postJson(`${url}/v1/recommend`, { items: bundle.items.slice(20, 25), k: 3 });
    const res = await postJson(`${url}/v1/recommend`, { items: ids, k: 3, explain: true, explain_limit: 4 });
    expect((await other).status).toBe(200);
    expect(res.status).toBe(200);
    expect(res.body.history_used).toBe(MAXLEN);
    expect(res.body.explanations.map((e: { item: string }) => e.item)).toEqual(res.body.items);
    expect(res.body.explanations.map((e: { score: number }) => e.score)).toEqual(res.body.scores);
    for (const e of res.body.explanations) for (const c of e.because) expect(c.history_index).toBeGreaterThanOrEqual(14 - MAXLEN);
    await checkAgainstReference(res.body, ids, 4);
  });

  it("the plain answer is unchanged by explain", async () => {
    const ids = bundle.items.slice(30, 36);
    const plain = await postJson(`${url}/v1/recommend`, { items: ids, k: 5 });
    const explained = await postJson(`${url}/v1/recommend`, { items: ids, k: 5, explain: true });
    expect(plain.body.explanations).toBeUndefined();
    expect(explained.body.items).toEqual(plain.body.items);
    explained.body.scores.forEach((s: number, i: number) => expect(s).toBeCloseTo(plain.body.scores[i], 4));
    expect(explained.body.explanations[0].because).toHaveLength(3);
  });

  it("counts history indexes in the request's items, unknown ids included", async () => {
    const ids = ["no-such-item", bundle.items[40], "another-unknown", bundle.items[41]];
    const res = await postJson(`${url}/v1/recommend`, { items: ids, k: 2, explain: true });
    expect(res.status).toBe(200);
    expect(res.body.unknown_items).toBe(2);
    for (const e of res.body.explanations) {
      expect(e.because.map((c: { history_index: number }) => c.history_index).sort()).toEqual([1, 3]);
      for (const c of e.because) expect(c.item).toBe(ids[c.history_index]);
    }
  });
});

describe("request validation", () => {
  const bad = async (body: unknown, message: RegExp) => {
    const res = await postJson(`${url}/v1/recommend`, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(message);
  };

  it("refuses a non-boolean explain and a bad or lone explain_limit", async () => {
    await bad({ items: ["1"], explain: "yes" }, /"explain" must be true or false, got/);
    await bad({ items: ["1"], explain: 1 }, /"explain" must be true or false/);
    await bad({ items: ["1"], explain_limit: 2 }, /"explain_limit" is only read with "explain": true/);
    await bad({ items: ["1"], explain: false, explain_limit: 2 }, /"explain_limit" is only read with "explain": true/);
    await bad({ items: ["1"], explain: true, explain_limit: 0 }, /"explain_limit" must be a whole number from 1 to 20, got the number 0/);
    await bad({ items: ["1"], explain: true, explain_limit: 21 }, /from 1 to 20/);
    await bad({ items: ["1"], explain: true, explain_limit: 2.5 }, /from 1 to 20/);
  });

  it("bounds the work of a huge history by maxlen", async () => {
    const ids = Array.from({ length: 10_000 }, (_, i) => bundle.items[i % bundle.items.length]);
    const res = await postJson(`${url}/v1/recommend`, { items: ids, k: 2, explain: true, exclude_seen: false });
    expect(res.status).toBe(200);
    expect(res.body.history_used).toBe(MAXLEN);
    for (const e of res.body.explanations) for (const c of e.because) expect(c.history_index).toBeGreaterThanOrEqual(10_000 - MAXLEN);
  });

  it("explains an empty history with no items", async () => {
    const res = await postJson(`${url}/v1/recommend`, { items: [], k: 2, explain: true });
    expect(res.status).toBe(200);
    expect(res.body.explanations).toHaveLength(2);
    for (const e of res.body.explanations) expect(e.because).toEqual([]);
  });
});

describe("recship explain", () => {
  function capture(stream: NodeJS.WriteStream): () => string {
    const chunks: string[] = [];
    vi.spyOn(stream, "write").mockImplementation((chunk: string | Uint8Array) => {
      chunks.push(String(chunk));
      return true;
    });
    return () => chunks.join("");
  }

  it("prints each recommendation with the history items behind it, as text and as JSON", async () => {
    const ids = bundle.items.slice(50, 54);
    capture(process.stderr);
    let stdout = capture(process.stdout);
    expect(await main(["explain", "--bundle", bundle.dir, "--items", ids.join(","), "--k", "2", "--limit", "2"])).toBe(0);
    const text = stdout();
    expect(text).toMatch(/history: 4 item\(s\), 4 known to the model, the last 4 explained/);
    const offline = await explainOffline({ bundle: bundle.dir, items: ids, k: 2, limit: 2, excludeSeen: true, log: silentLogger });
    for (const [r, e] of offline.explanations.entries()) {
      expect(text).toContain(`${r + 1}. ${e.item}  score ${e.score.toFixed(4)}`);
      expect(text).toContain(`${e.because[0].item} (#${e.because[0].history_index}, `);
    }
    vi.restoreAllMocks();
    capture(process.stderr);
    stdout = capture(process.stdout);
    expect(await main(["explain", "--bundle", bundle.dir, "--items", ids.join(","), "--k", "2", "--limit", "2", "--json"])).toBe(0);
    const json = JSON.parse(stdout()) as ExplainReport;
    expect(json.method).toBe("leave-one-out occlusion");
    expect(json.explanations).toEqual(offline.explanations);
  });

  it("exits 1 naming the flag on a bad limit or a missing history", async () => {
    const stderr = capture(process.stderr);
    capture(process.stdout);
    expect(await main(["explain", "--bundle", bundle.dir, "--items", "1", "--limit", "0"])).toBe(1);
    expect(stderr()).toMatch(/error: --limit must be from 1 to 20, got 0/);
    expect(await main(["explain", "--bundle", bundle.dir, "--items", ","])).toBe(1);
    expect(stderr()).toMatch(/error: --items names no item/);
  });
});

describe("the demo's report", () => {
  it("explains a few shoppers' recommendations with the served model and shows them", async () => {
    const histories = [
      bundle.items.slice(0, 2),
      bundle.items.slice(5, 11),
      bundle.items.slice(20, 24),
      bundle.items.slice(60, 72),
      bundle.items.slice(80, 85),
    ];
    const section = await explainShoppers(bundle.dir, histories, silentLogger);
    // the shopper with two purchases is left out
    expect(section.shoppers.map((s) => s.shopper)).toEqual([1, 2, 3]);
    for (const s of section.shoppers) {
      const alone = await explainOffline({ bundle: bundle.dir, items: s.history, k: 3, limit: 3, excludeSeen: true, log: silentLogger });
      expect(s.explanations).toEqual(alone.explanations);
    }
    const report = { ...emptyDemoReport(), explanations: section } as DemoReport;
    const html = demoHtml(report);
    expect(html).toContain('<section id="explain">');
    const first = section.shoppers[0].explanations[0];
    const c = first.because[0];
    expect(html).toContain(`${first.item} (${first.score.toFixed(3)})`);
    expect(html).toContain(`${c.item} (purchase ${c.history_index + 1}, `);
    expect(demoHtml(emptyDemoReport())).toContain("No model to explain.");
  });
});

/** A demo report of a run that stopped before any step (every section empty). */
function emptyDemoReport(): DemoReport {
  return {
    schema: 1,
    tool: "recship demo",
    recshipVersion: "test",
    run: 1,
    startedAt: "",
    endedAt: "",
    out: root,
    settings: demoSettings({}),
    data: { path: "", rows: 0, users: 0 },
    validate: null,
    train: null,
    convert: null,
    compress: null,
    gate: null,
    explanations: null,
    deploy: null,
    monitor: null,
    traffic: null,
    timings: {},
    verdict: { outcome: "failed", promoted: false, decidedBy: "demo", reason: "test" },
    reports: { json: "", html: "", markdown: {} },
    warnings: [],
  };
}
