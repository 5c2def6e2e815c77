import { execFile } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { convertBundle } from "../shared/convert/convert-bundle.js";
import { writePerturbedBundle } from "../shared/gate/perturb.js";
import { silentLogger } from "../shared/log.js";
import { trainModel } from "../shared/train/train-model.js";
import { startFakeGitHub, type FakeGitHub } from "./helpers/github-server.js";
import { parseOutputs } from "./helpers/run-action.js";
import { syntheticCsv } from "./helpers/synthetic.js";
import { tempDir } from "./helpers/tmp.js";

const root = new URL("..", import.meta.url).pathname;
const entry = join(root, "dist", "benchmark-gate", "index.js");
const dir = tempDir("recship-gate-action-");
let gh: FakeGitHub;
let csv: Awaited<ReturnType<typeof syntheticCsv>>;
let bundle: string;
let degraded: string;
let runs = 0;

// latency only warns here: this file tests comments and outputs, and six timings taken while
// other test files share the two cores are too noisy to gate on (latency gating has its own tests)
const RULES = "latency:\n  batchSizes: [1, 8]\n  warmup: 1\n  repetitions: 6\n  critical: false\n";

/** Runs the dist bundle as the runner does: INPUT_* variables, an event file, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY. */
async function runGateAction(inputs: Record<string, string>, event: { name: string; payload: object; ref?: string }) {
  const n = ++runs;
  const files = { output: join(dir, `out-${n}.txt`), summary: join(dir, `summary-${n}.md`), event: join(dir, `event-${n}.json`) };
  writeFileSync(files.output, "");
  writeFileSync(files.summary, "");
  writeFileSync(files.event, JSON.stringify(event.payload));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? dir,
    GITHUB_OUTPUT: files.output,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_EVENT_PATH: files.event,
    GITHUB_EVENT_NAME: event.name,
    GITHUB_SHA: "0123456789abcdef0123456789abcdef01234567",
    GITHUB_REF: event.ref ?? "refs/heads/main",
    GITHUB_REPOSITORY: "shop/recs",
    GITHUB_SERVER_URL: "https://github.com",
    GITHUB_RUN_ID: String(1000 + n),
    GITHUB_RUN_ATTEMPT: "1",
    GITHUB_WORKSPACE: dir,
    GITHUB_API_URL: gh.url,
    RUNNER_TEMP: dir,
  };
  const all = {
    "github-token": "test-token",
    data: csv.data,
    rules: RULES,
    "baseline-dir": join(dir, "baselines"),
    report: `report-${n}.json`,
    ...inputs,
  };
  for (const [k, v] of Object.entries(all)) env[`INPUT_${k.toUpperCase()}`] = v;
  const result = await promisify(execFile)(process.execPath, [entry], { cwd: dir, env, maxBuffer: 64 << 20 }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" }),
  );
  return { ...result, outputs: parseOutputs(readFileSync(files.output, "utf8")), summary: readFileSync(files.summary, "utf8") };
}

const pullRequest = (number: number) => ({
  name: "pull_request",
  ref: `refs/pull/${number}/merge`,
  payload: {
    pull_request: { number, base: { ref: "main" }, head: { ref: "feature", sha: "f".repeat(40) } },
    repository: { default_branch: "main", name: "recs", owner: { login: "shop" } },
  },
});

beforeAll(async () => {
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  gh = await startFakeGitHub();
  csv = await syntheticCsv(dir, 800, 21);
  bundle = join(dir, "bundle");
  await trainModel({
    ...csv,
    out: bundle,
    config: "model:\n  hidden: 32\n  maxlen: 20\ntrain:\n  batchTokens: 512\n  learningRate: 0.01",
    overrides: { train: { epochs: 6 } },
    log: silentLogger,
  });
  await convertBundle({ bundle, randomSequences: 20, maxRealSequences: 50, log: silentLogger });
  degraded = join(dir, "degraded");
  await writePerturbedBundle(bundle, degraded, { noise: 4, seed: 1 });
});

afterAll(async () => {
  await gh?.close();
});

describe("benchmark-gate action from its dist bundle", () => {
  it("on main, passes the first run, stores the baseline and does not comment", async () => {
    const run = await runGateAction({ bundle }, { name: "push", payload: { repository: { default_branch: "main" } } });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.outputs).toMatchObject({ passed: "true", verdict: "no-baseline", "baseline-saved": "true", "comment-url": "" });
    expect(run.stdout).toMatch(/not commenting: a push run has no pull request/);
    expect(run.summary).toMatch(/^## 🆕 recship benchmark-gate: passed \(no baseline yet\)/);
    expect(JSON.parse(readFileSync(join(dir, run.outputs.report), "utf8")).passed).toBe(true);
    expect(gh.requests).toHaveLength(0);
  });

  it("on a pull request, fails a regression with one sticky comment, then updates it when fixed", async () => {
    const bad = await runGateAction({ bundle: degraded }, pullRequest(7));
    expect(bad.code).not.toBe(0);
    expect(bad.outputs.passed).toBe("false");
    expect(Number(bad.outputs["ndcg10-delta"])).toBeLessThan(-0.3);
    expect(bad.outputs["baseline-saved"]).toBe("false");
    expect(bad.stdout).toMatch(/::error title=recship benchmark-gate regression::ndcg@10: /);
    expect(bad.stdout).toMatch(/baseline restored from local folder/);
    expect(gh.comments).toHaveLength(1);
    expect(gh.comments[0].body).toMatch(/^<!-- recship:benchmark-gate:default -->\n## ❌ recship benchmark-gate: failed/);
    expect(gh.comments[0].body).toContain("https://github.com/shop/recs/actions/runs/");
    expect(bad.outputs["comment-url"]).toBe(gh.comments[0].html_url);
    expect(bad.summary).toMatch(/^## ❌/);

    const good = await runGateAction({ bundle }, pullRequest(7));
    expect(good.code).toBe(0);
    expect(good.outputs.passed).toBe("true");
    expect(Number(good.outputs["ndcg10-delta"])).toBe(0);
    expect(gh.comments).toHaveLength(1);
    expect(gh.comments[0].body).toMatch(/## ✅ recship benchmark-gate: passed/);
    const report = JSON.parse(readFileSync(join(dir, good.outputs.report), "utf8"));
    expect(report.baseline.evaluation.reused).toBe(true);
    expect(report.latency.tests.map((t: { batch: number }) => t.batch)).toEqual([1, 8]);
  });

  it("warns instead of crashing when the token may not comment", async () => {
    gh.forbidden = true;
    try {
      const run = await runGateAction({ bundle }, pullRequest(8));
      expect(run.code).toBe(0);
      expect(run.outputs.passed).toBe("true");
      expect(run.stdout).toMatch(/::warning::skipped the pull request comment: .*HTTP 403/);
      expect(run.outputs["comment-url"]).toBe("");
    } finally {
      gh.forbidden = false;
    }
  });

  it("reports a bad input as an annotation, not a stack trace", async () => {
    const run = await runGateAction(
      { bundle, rules: "metrics:\n  - metric: ndcg@10\n    margn: 1%" },
      { name: "workflow_dispatch", payload: {} },
    );
    expect(run.code).not.toBe(0);
    expect(run.stdout).toMatch(/::error title=recship::.*unknown key "margn"/);
    expect(run.stdout).not.toMatch(/at .*\.js:\d+/);
  });
});
