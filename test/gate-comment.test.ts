import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { MetricResult } from "../shared/gate/compare.js";
import type { GateReport } from "../shared/gate/report.js";
import { DEFAULT_RULES } from "../shared/gate/rules.js";
import { githubClient } from "../shared/github/client.js";
import { runContext } from "../shared/github/event.js";
import { commentMarker, upsertStickyComment } from "../shared/github/sticky-comment.js";
import { memoryLogger } from "../shared/log.js";
import { GITHUB_COMMENT_LIMIT, gateMarkdown } from "../shared/report/gate-markdown.js";
import { ACTIONS_BOT_LOGIN, startFakeGitHub, type FakeGitHub } from "./helpers/github-server.js";

function metric(name: string, extra: Partial<MetricResult> = {}): MetricResult {
  return {
    name,
    metric: name.replace(/^sampled /, "").split(" · ")[0],
    protocol: name.startsWith("sampled") ? "sampled" : "full",
    slice: "all",
    users: 1000,
    baseline: 0.04,
    candidate: 0.041,
    absDelta: 0.001,
    relDelta: 0.025,
    ciLow: -0.01,
    ciHigh: 0.06,
    absCiLow: -0.0004,
    absCiHigh: 0.0024,
    ciLevel: 0.95,
    gated: false,
    critical: false,
    direction: "higher",
    pass: true,
    status: "info",
    ...extra,
  };
}

/** A plausible report; `extraMetrics` rows make it as large as a test needs. */
function report(options: { passed?: boolean; extraMetrics?: number; failures?: number } = {}): GateReport {
  const passed = options.passed ?? true;
  const ndcg = metric("ndcg@10", {
    gated: true,
    critical: true,
    margin: { kind: "relative", value: 0.01 },
    pValue: passed ? 0.9 : 0.0005,
    pAdjusted: passed ? 0.9 : 0.001,
    ...(passed ? { status: "pass" } : { relDelta: -0.08, ciLow: -0.12, ciHigh: -0.04, pass: false, status: "fail" }),
  });
  const extra = Array.from({ length: options.extraMetrics ?? 0 }, (_, i) => metric(`hr@${i + 1} · warm`, { slice: "warm" }));
  const failures = passed
    ? []
    : Array.from(
        { length: options.failures ?? 1 },
        (_, i) => `ndcg@10: −8.00% (interval −12.00% to −4.00%) is beyond the 1.0% margin [${i}]`,
      );
  const model = (sha: string) => ({
    bundle: "/w/bundle",
    model: "/w/bundle/model.onnx",
    artifact: "onnx",
    sha256: sha.repeat(64),
    bytesOnDisk: 3_200_000,
    items: 12101,
    maxlen: 50,
    createdAt: "2026-11-29T00:00:00.000Z",
    trainedOn: "c".repeat(64),
    evaluation: { seconds: 4.2, scoringSeconds: 3.1, peakRssBytes: 400e6, unknownTargets: 0, sameVocabulary: true, reused: false },
  });
  const lat = (batch: number, p50: number) => ({
    batch,
    timesMs: [p50],
    runs: 1,
    p50,
    p95: p50 * 1.2,
    p99: p50 * 1.3,
    meanMs: p50,
    throughput: (batch * 1000) / p50,
  });
  return {
    schemaVersion: 1,
    step: "benchmark-gate",
    recshipVersion: "0.1.0",
    createdAt: "2026-11-29T00:00:00.000Z",
    modelName: "default",
    passed,
    verdict: passed ? "pass" : "fail",
    headline: passed ? "passed: no critical regression beyond its margin (ndcg@10 +2.5%)." : `failed: ${failures[0]}.`,
    failures,
    warnings: [],
    notes: ["The baseline's stored per-user evaluation was reused."],
    candidate: model("a"),
    baseline: { ...model("b"), origin: "actions cache recship-baseline-v1/default/main/1-1", savedAt: "2026-11-28T00:00:00.000Z" },
    data: {
      source: "beauty.seq.txt",
      sha256: "d".repeat(64),
      fingerprint: "e".repeat(64),
      format: "seq",
      users: 22363,
      items: 12101,
      interactions: 198502,
      testUsers: 22363,
      eligibleUsers: 22363,
      kCore: 0,
      excludeSeen: false,
      sampledNegatives: 100,
    },
    rules: DEFAULT_RULES,
    metrics: [ndcg, metric("hr@10"), metric("mrr"), metric("sampled ndcg@10"), ...extra],
    slices: ["all", "cold", "warm", "heavy", "head", "tail"].map((slice) => ({
      slice: slice as "all",
      label: slice,
      users: slice === "cold" ? 0 : 100,
      candidate: { "ndcg@10": 0.041, "hr@10": 0.08, mrr: 0.03 },
      baseline: { "ndcg@10": 0.04, "hr@10": 0.078, mrr: 0.03 },
    })),
    rankingDiff: {
      k: 10,
      rboP: 0.9,
      users: 22363,
      meanOverlap: 0.8,
      meanRbo: 0.85,
      identical: 0.3,
      overlapHistogram: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    },
    latency: {
      batchSizes: [1, 8, 64],
      warmup: 5,
      repetitions: 30,
      candidate: [lat(1, 1.1), lat(8, 2.1), lat(64, 9)],
      baseline: [lat(1, 1), lat(8, 2), lat(64, 9.5)],
      tests: [1, 8, 64].map((batch) => ({
        batch,
        baselineP50: 1,
        candidateP50: 1.1,
        relDelta: 0.1,
        ciLow: 0.02,
        ciHigh: 0.18,
        ciLevel: 0.95,
        margin: 0.25,
        pValue: 0.9,
        pAdjusted: 1,
        critical: true,
        pass: true,
        status: "pass" as const,
      })),
    },
    size: { candidateBytes: 3_200_000, baselineBytes: 3_200_000, relDelta: 0 },
    memory: { candidatePeakRssBytes: 400e6, baselinePeakRssBytes: 410e6, processPeakRssBytes: 500e6 },
    evalSeconds: 4.2,
    wallSeconds: 12.5,
    keyDeltas: { "ndcg@10": 0.025 },
  };
}

describe("gate report as Markdown", () => {
  it("puts the verdict first, then the tables, the chart and the run link", () => {
    const md = gateMarkdown(report({ passed: false }), { runUrl: "https://github.com/shop/recs/actions/runs/42" });
    expect(md.split("\n")[0]).toBe("## ❌ recship benchmark-gate: failed");
    expect(md.indexOf("**failed: ndcg@10")).toBeLessThan(md.indexOf("### Quality"));
    expect(md).toMatch(/\| \*\*ndcg@10\*\* \| 0\.0400 \| 0\.0410 \| −8\.0% \| −12\.0% … −4\.0% \| 1\.0% \| ❌ fail \|/);
    for (const heading of ["### Quality", "### Slices", "### Ranking diff (top-10)", "### Latency", "### Size and memory"])
      expect(md).toContain(heading);
    expect(md).toMatch(/```mermaid\nxychart-beta\n {2}title "Relative change vs baseline/);
    expect(md).toContain("[workflow run](https://github.com/shop/recs/actions/runs/42)");
    expect(md.length).toBeLessThan(GITHUB_COMMENT_LIMIT);
  });

  it("says when the users were a seeded sample, and that the intervals carry its error", () => {
    const full = gateMarkdown(report());
    expect(full).toContain("Data: `beauty.seq.txt`, 22,363 test users, 12,101 items");
    expect(full).not.toMatch(/seeded sample|sampling error/);
    const sampled = report();
    sampled.data = { ...sampled.data, testUsers: 10_000, eligibleUsers: 1_234_567 };
    const md = gateMarkdown(sampled);
    expect(md).toContain(
      `Data: \`beauty.seq.txt\`, 10,000 of 1,234,567 test users (seeded sample, seed ${DEFAULT_RULES.seed}), 12,101 items`,
    );
    expect(md).toContain("Paired bootstrap over the sampled users, so the intervals include the sampling error");
  });

  it("folds and cuts a huge report under the limit, verdict and run link kept", () => {
    const huge = report({ passed: false, extraMetrics: 4000, failures: 50 });
    const full = gateMarkdown(huge, { maxChars: 10_000_000 });
    expect(full.length).toBeGreaterThan(GITHUB_COMMENT_LIMIT * 3);
    const md = gateMarkdown(huge, { runUrl: "https://github.com/shop/recs/actions/runs/42" });
    expect(md.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT - 200);
    expect(md.startsWith("## ❌ recship benchmark-gate: failed")).toBe(true);
    expect(md).toContain("### Quality");
    expect(md).toContain("actions/runs/42");
  });
});

describe("sticky pull-request comment through the GitHub REST API", () => {
  let gh: FakeGitHub;
  beforeEach(async () => {
    gh = await startFakeGitHub();
  });
  afterEach(async () => {
    await gh.close();
  });
  const target = { owner: "shop", repo: "recs", issueNumber: 7 };
  const marker = commentMarker("default");

  it("creates the comment on the first run and updates the same one on the second", async () => {
    const client = githubClient("test-token", gh.url);
    const log = memoryLogger();
    const first = await upsertStickyComment(client, target, marker, gateMarkdown(report({ passed: false })), log);
    expect(first.action).toBe("created");
    expect(gh.comments).toHaveLength(1);
    expect(gh.comments[0].body.startsWith(`${marker}\n## ❌`)).toBe(true);

    const second = await upsertStickyComment(client, target, marker, gateMarkdown(report({ passed: true })), log);
    expect(second).toMatchObject({ action: "updated", commentId: first.commentId });
    expect(gh.comments).toHaveLength(1);
    expect(gh.comments[0].body).toMatch(/^<!-- recship:benchmark-gate:default -->\n## ✅ recship benchmark-gate: passed/);
    expect(gh.requests.filter((r) => r.method === "POST")).toHaveLength(1);
    expect(gh.requests.filter((r) => r.method === "PATCH")).toHaveLength(1);
    expect((await upsertStickyComment(client, target, marker, gateMarkdown(report({ passed: true })), log)).action).toBe("unchanged");
    expect(log.warnings).toEqual([]);
  });

  it("finds its comment past the first page among other comments, and leaves those alone", async () => {
    const client = githubClient("test-token", gh.url);
    for (let i = 0; i < 130; i++)
      gh.comments.push({ id: i + 1, issue: 7, body: `review ${i}`, html_url: `u${i}`, user: { login: "someone" } });
    const first = await upsertStickyComment(client, target, marker, "one", memoryLogger());
    gh.comments.push({ id: 999, issue: 7, body: "later chatter", html_url: "x", user: { login: "someone" } });
    const second = await upsertStickyComment(client, target, marker, "two", memoryLogger());
    expect(second).toMatchObject({ action: "updated", commentId: first.commentId });
    expect(gh.comments.filter((c) => c.body.includes(marker))).toHaveLength(1);
    expect(gh.comments).toHaveLength(132);
    // another model's comment on the same pull request is a different comment
    await upsertStickyComment(client, target, commentMarker("other-model"), "three", memoryLogger());
    expect(gh.comments).toHaveLength(133);
  });

  it("keeps a huge report under GitHub's limit", async () => {
    const client = githubClient("test-token", gh.url);
    const body = gateMarkdown(report({ passed: false, extraMetrics: 4000, failures: 50 }));
    const r = await upsertStickyComment(client, target, marker, body, memoryLogger());
    expect(r.action).toBe("created");
    expect(gh.comments[0].body.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
    // even a body that ignores the limit is cut, not rejected
    const r2 = await upsertStickyComment(client, target, marker, "x".repeat(100_000), memoryLogger());
    expect(r2.action).toBe("updated");
    expect(gh.comments[0].body.length).toBeLessThanOrEqual(GITHUB_COMMENT_LIMIT);
  });

  it("turns a 403 (read-only token) into a warning, not a crash", async () => {
    gh.forbidden = true;
    const log = memoryLogger();
    const r = await upsertStickyComment(githubClient("read-only", gh.url), target, marker, "body", log);
    expect(r.action).toBe("skipped");
    expect(r.reason).toMatch(/HTTP 403/);
    expect(log.warnings.join("\n")).toMatch(/skipped the pull request comment: .*pull-requests: write/);
  });

  it("removes duplicates left by concurrent runs", async () => {
    const client = githubClient("test-token", gh.url);
    gh.comments.push({ id: 1, issue: 7, body: `${marker}\nold`, html_url: "a", user: { login: ACTIONS_BOT_LOGIN } });
    gh.comments.push({ id: 2, issue: 7, body: `${marker}\nolder twin`, html_url: "b", user: { login: ACTIONS_BOT_LOGIN } });
    const r = await upsertStickyComment(client, target, marker, "new", memoryLogger());
    expect(r).toMatchObject({ action: "updated", commentId: 1, removedDuplicates: 1 });
    expect(gh.comments.map((c) => c.id)).toEqual([1]);
  });

  it("leaves alone an earlier comment with the marker that someone else wrote, and comments itself", async () => {
    const forged = `${marker}\n## ✅ recship benchmark-gate: passed (forged)`;
    gh.comments.push({ id: 1, issue: 7, body: forged, html_url: "a", user: { login: "outsider" } });
    const r = await upsertStickyComment(githubClient("test-token", gh.url), target, marker, "the real verdict", memoryLogger());
    expect(r.action).toBe("created");
    expect(gh.comments.find((c) => c.id === 1)).toMatchObject({ body: forged, user: { login: "outsider" } });
    expect(gh.comments.find((c) => c.id === r.commentId)).toMatchObject({ user: { login: ACTIONS_BOT_LOGIN } });
    expect(gh.requests.filter((q) => q.method === "PATCH" || q.method === "DELETE")).toEqual([]);
  });

  it("never deletes a maintainer's comment that holds the marker, and updates its own", async () => {
    const quoting = `> ${marker}\nwhy did this fail?`;
    gh.comments.push({ id: 1, issue: 7, body: quoting, html_url: "a", user: { login: "maintainer" } });
    gh.comments.push({ id: 2, issue: 7, body: `${marker}\nold`, html_url: "b", user: { login: ACTIONS_BOT_LOGIN } });
    const r = await upsertStickyComment(githubClient("test-token", gh.url), target, marker, "new", memoryLogger());
    expect(r).toMatchObject({ action: "updated", commentId: 2, removedDuplicates: 0 });
    expect(gh.comments.map((c) => [c.id, c.body])).toEqual([
      [1, quoting],
      [2, `${marker}\nnew`],
    ]);
  });

  it("with a user's token, keeps that user's comment and leaves github-actions[bot]'s alone", async () => {
    gh.users["user-token"] = "release-bot";
    const client = githubClient("user-token", gh.url);
    gh.comments.push({ id: 1, issue: 7, body: `${marker}\nbot's`, html_url: "a", user: { login: ACTIONS_BOT_LOGIN } });
    const first = await upsertStickyComment(client, target, marker, "one", memoryLogger());
    const second = await upsertStickyComment(client, target, marker, "two", memoryLogger());
    expect(first.action).toBe("created");
    expect(second).toMatchObject({ action: "updated", commentId: first.commentId, removedDuplicates: 0 });
    expect(gh.comments.map((c) => [c.user.login, c.body])).toEqual([
      [ACTIONS_BOT_LOGIN, `${marker}\nbot's`],
      ["release-bot", `${marker}\ntwo`],
    ]);
  });
});

describe("run context", () => {
  it("knows the pull request and its base branch, or the pushed branch", () => {
    const pr = runContext(
      {
        GITHUB_EVENT_NAME: "pull_request",
        GITHUB_REPOSITORY: "shop/recs",
        GITHUB_BASE_REF: "main",
        GITHUB_HEAD_REF: "feat",
        GITHUB_RUN_ID: "42",
        GITHUB_SERVER_URL: "https://github.com",
      },
      { pull_request: { number: 7, head: { sha: "abc" } }, repository: { default_branch: "main" } },
    );
    expect(pr).toMatchObject({
      eventName: "pull_request",
      owner: "shop",
      repo: "recs",
      pullRequest: 7,
      branch: "feat",
      baseBranch: "main",
      sha: "abc",
      runUrl: "https://github.com/shop/recs/actions/runs/42",
    });
    const push = runContext(
      { GITHUB_EVENT_NAME: "push", GITHUB_REPOSITORY: "shop/recs", GITHUB_REF: "refs/heads/main", GITHUB_SHA: "def" },
      {},
    );
    expect(push.pullRequest).toBeUndefined();
    expect(push).toMatchObject({ branch: "main", sha: "def" });
    expect(runContext({ GITHUB_EVENT_NAME: "workflow_dispatch", GITHUB_REF_NAME: "release" }, {}).branch).toBe("release");
  });
});
