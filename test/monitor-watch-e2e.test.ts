import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadChecks } from "../shared/canary/checks-file.js";
import { PrometheusSource } from "../shared/canary/sources/prometheus-source.js";
import { watchProduction } from "../shared/canary/watch.js";
import type { WatchReport } from "../shared/canary/watch-decision.js";
import { publishWatch, readIssueState } from "../shared/canary/watch-issue.js";
import { LocalTarget } from "../shared/deploy/local/local-target.js";
import { isRecshipProcess } from "../shared/deploy/local/processes.js";
import { githubClient } from "../shared/github/client.js";
import { memoryLogger } from "../shared/log.js";
import { watchMarkdown } from "../shared/report/watch-summary.js";
import { startFakeGitHub, type FakeGitHub } from "./helpers/github-server.js";
import { startPrometheus, type PrometheusProcess } from "./helpers/prometheus.js";
import { parseOutputs } from "./helpers/run-action.js";
import { buildServeBundle, type ServeBundle } from "./helpers/serve-bundle.js";
import { recshipCommand } from "./helpers/serve-process.js";
import { startShopper, type Shopper } from "./helpers/shopper.js";
import { tempDir } from "./helpers/tmp.js";
import { catalogueShift, freshHistories } from "./helpers/watch-traffic.js";

/**
 * The drift watch end to end: the model served by `recship serve` behind the local target's
 * router, simulated shoppers, a real Prometheus scraping the server every second, 5-second
 * windows, and the GitHub REST emulator. Unchanged traffic raises nothing; a catalogue change
 * (every item new to the model) opens the issue and dispatches retraining (through the action,
 * as the runner runs it), the next window updates the same issue, and a healthy window closes it.
 */
const root = new URL("..", import.meta.url).pathname;
const dir = tempDir("recship-watch-e2e-");
const statePath = join(dir, "state", "deploy.json");
const log = memoryLogger();
const target = new LocalTarget({
  state: statePath,
  command: recshipCommand(),
  port: 0,
  log,
  serveArgs: ["--max-delay-ms", "0", "--threads", "1"],
});
const WINDOW = 5;
const REPO = { owner: "shop", repo: "recs" };
let bundle: ServeBundle;
let prometheus: PrometheusProcess;
let github: FakeGitHub;
let shopper: Shopper | undefined;
let endpoint = "";
const pids = new Set<number>();
const normal = freshHistories(11, 300, 300);

async function shop(histories: string[][], seed: number): Promise<void> {
  await shopper?.stop();
  shopper = startShopper({ endpoint, items: bundle.items, histories, rate: 120, k: 10, seed });
}

/** Sleeps until `extraMs` after the next window boundary at or after `from` (windows end at multiples of their length). */
async function afterBoundary(extraMs: number, from = Date.now()): Promise<number> {
  const boundary = Math.ceil(from / (WINDOW * 1000)) * WINDOW * 1000;
  await new Promise((r) => setTimeout(r, Math.max(0, boundary + extraMs - Date.now())));
  return boundary;
}

/** Waits until Prometheus has scraped the server's model requests (its first scrapes can take seconds on a busy machine). */
async function untilScraped(): Promise<void> {
  const query = encodeURIComponent('sum(recship_http_requests_total{variant="stable",route="/v1/recommend"})');
  for (let i = 0; i < 300; i++) {
    const body = (await (await fetch(`${prometheus.url}/api/v1/query?query=${query}`)).json()) as {
      data: { result: { value: [number, string] }[] };
    };
    if (Number(body.data.result[0]?.value[1] ?? 0) > 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("Prometheus scraped no model requests within 30 s");
}

/** One watch run as the action runs it, through the library: the window judged, then the issue. */
async function watchOnce() {
  const report = await watchProduction({
    source: new PrometheusSource({ url: prometheus.url }),
    checks: loadChecks(undefined, { for: "watch" }),
    settings: { windowSeconds: WINDOW, confidence: 0.98, namespace: ".*" },
    log,
  });
  const issue = await publishWatch(githubClient("t", github.url), report, {
    repo: REPO,
    model: "shop-recs",
    body: (history) => watchMarkdown(report, history ? { history } : {}),
    retrain: { workflow: "retrain.yml", ref: "main", inputs: { reason: "drift watch" } },
    log,
  });
  return { report, issue };
}

/** The action's source run as the runner runs it (tsx instead of the dist bundle), on a schedule event. */
async function runAction(inputs: Record<string, string>) {
  const files = { output: join(dir, "output.txt"), summary: join(dir, "summary.md"), event: join(dir, "event.json") };
  writeFileSync(files.output, "");
  writeFileSync(files.summary, "");
  writeFileSync(files.event, JSON.stringify({ schedule: "*/5 * * * *" }));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? dir,
    GITHUB_OUTPUT: files.output,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_EVENT_PATH: files.event,
    GITHUB_EVENT_NAME: "schedule",
    GITHUB_REPOSITORY: `${REPO.owner}/${REPO.repo}`,
    GITHUB_REF_NAME: "main",
    GITHUB_SHA: "0123456789abcdef0123456789abcdef01234567",
    GITHUB_API_URL: github.url,
    GITHUB_RUN_ID: "43",
    RUNNER_TEMP: dir,
  };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const loader = pathToFileURL(createRequire(join(root, "package.json")).resolve("tsx")).href;
  const child = spawn(process.execPath, ["--import", loader, join(root, "actions", "monitor-canary", "index.ts")], {
    env,
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  return { code, out, outputs: parseOutputs(readFileSync(files.output, "utf8")), summary: readFileSync(files.summary, "utf8") };
}

beforeAll(async () => {
  bundle = await buildServeBundle(dir, 11);
  github = await startFakeGitHub();
  github.workflows["retrain.yml"] = { id: 91, path: ".github/workflows/retrain.yml", dispatchInputs: ["reason"] };
  await target.deploy({ mode: "direct", bundle: bundle.dir });
  const status = await target.status();
  endpoint = status.endpoint!;
  const s = JSON.parse(readFileSync(statePath, "utf8")) as { router: { pid: number }; stable?: { pid: number } };
  for (const pid of [s.router.pid, s.stable?.pid]) if (pid) pids.add(pid);
  prometheus = await startPrometheus({ dir: join(dir, "prometheus"), targets: [status.stable!.endpoint.replace("http://", "")] });
  await shop(normal, 1);
});

afterAll(async () => {
  await shopper?.stop();
  await target.teardown().catch(() => {});
  for (const pid of pids) if (isRecshipProcess(pid)) process.kill(pid, "SIGKILL");
  await prometheus?.stop();
  await github?.close();
});

describe("the drift watch on the local target with a real Prometheus", () => {
  it("unchanged traffic: healthy, nothing opened; a catalogue change opens the issue and dispatches retraining; it is updated, then closed", async () => {
    // two whole windows of unchanged traffic, scraped: the last and the one before it
    await untilScraped();
    await afterBoundary(1500, Date.now() + 2 * WINDOW * 1000);
    const unchanged = await watchOnce();
    expect(unchanged.report.status, unchanged.report.reason).toBe("healthy");
    expect(unchanged.report.stable).toEqual({ version: (await target.status()).stable!.version, from: "prometheus" });
    expect(unchanged.report.checks.find((c) => c.name === "top-score-vs-validation")).toMatchObject({ decision: "pass", judged: true });
    expect(unchanged.issue.action).toBe("none");
    expect(github.issues).toHaveLength(0);

    // the shop's catalogue changes: every item is new to the model
    await afterBoundary(0);
    await shop(catalogueShift(normal, 1), 2);
    await afterBoundary(1500, Date.now() + WINDOW * 1000 - 500);
    const action = await runAction({
      mode: "watch",
      window: String(WINDOW),
      "prometheus-url": prometheus.url,
      state: statePath,
      "github-token": "t",
      "model-name": "shop-recs",
      "retrain-workflow": "retrain.yml",
      "retrain-inputs": "reason=drift watch",
      report: join(dir, "watch-report.json"),
    });
    expect(action.code, action.out).toBe(0);
    expect(action.outputs).toMatchObject({
      status: "drift",
      "issue-url": "https://github.com/shop/recs/issues/1",
      retraining: "dispatched",
    });
    const first = JSON.parse(readFileSync(join(dir, "watch-report.json"), "utf8")) as WatchReport;
    expect(first.breached).toContain("top-score-vs-validation");
    expect(first.stable.from).toBe("target");
    expect(action.summary).toMatch(/^## recship drift watch: ⚠️ drift in production/);
    expect(action.summary).toMatch(/recship_recommendation_top_score_bucket\{variant="stable",version="[^"]+",namespace=~"\.\*"\}\[5s\]/);
    expect(github.issues).toHaveLength(1);
    expect(github.issues[0].title).toMatch(/^recship drift watch: shop-recs \(\w+\) drifted: .*top-score-vs-validation/);
    expect(github.dispatches).toEqual([{ workflow: "retrain.yml", ref: "main", inputs: { reason: "drift watch" } }]);

    // the next window: still drifted, the same issue updated, no second retraining
    await afterBoundary(1500, Date.parse(first.window.end) + WINDOW * 1000 + 1);
    const repeat = await watchOnce();
    expect(repeat.report.status, repeat.report.reason).toBe("drift");
    expect(repeat.issue).toMatchObject({ action: "updated", number: 1, retrain: "already" });
    expect(github.issues).toHaveLength(1);
    expect(readIssueState(github.issues[0].body)).toMatchObject({ windows: 2, since: first.window.end });
    expect(github.dispatches).toHaveLength(1);

    // the catalogue is known again: the first whole window after is healthy and closes the issue
    await afterBoundary(0);
    await shop(normal, 3);
    await afterBoundary(1500, Date.now() + WINDOW * 1000 - 500);
    const healthy = await watchOnce();
    expect(healthy.report.status, healthy.report.reason).toBe("healthy");
    expect(healthy.issue).toMatchObject({ action: "closed", number: 1 });
    expect(github.issues[0]).toMatchObject({ state: "closed", state_reason: "completed" });
  });
});
