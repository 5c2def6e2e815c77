import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { monitorCanary } from "../shared/canary/analysis.js";
import { loadChecks } from "../shared/canary/checks-file.js";
import type { MonitorReport } from "../shared/canary/report.js";
import { defaultSettings } from "../shared/canary/settings.js";
import { PrometheusSource } from "../shared/canary/sources/prometheus-source.js";
import { LocalTarget } from "../shared/deploy/local/local-target.js";
import { isRecshipProcess } from "../shared/deploy/local/processes.js";
import type { LocalState } from "../shared/deploy/local/state.js";
import { memoryLogger } from "../shared/log.js";
import { FAULT_INJECTION_ENV } from "../shared/serve/faults.js";
import { startFakeGitHub, type FakeGitHub } from "./helpers/github-server.js";
import { startPrometheus, type PrometheusProcess } from "./helpers/prometheus.js";
import { parseOutputs } from "./helpers/run-action.js";
import { buildServeBundle, type ServeBundle } from "./helpers/serve-bundle.js";
import { recshipCommand, spawnRecship } from "./helpers/serve-process.js";
import { startShopper, warmUp, type Shopper } from "./helpers/shopper.js";
import { tempDir } from "./helpers/tmp.js";

/**
 * End to end: stable and canary as `recship serve` processes behind the local target's router,
 * simulated shoppers sending recommendations and feedback, a real Prometheus scraping both
 * (or the servers scraped directly), and faults injected into the canary only.
 */
const root = new URL("..", import.meta.url).pathname;
const dir = tempDir("recship-monitor-e2e-");
const statePath = join(dir, "state", "deploy.json");
const serveArgs = ["--max-delay-ms", "0", "--threads", "1"];
const log = memoryLogger();
const target = new LocalTarget({ state: statePath, command: recshipCommand(), port: 0, log, serveArgs });
/** The same deployment, but servers it starts take faults from RECSHIP_FAULT_INJECTION: used for the canary only. */
const faultyTarget = new LocalTarget({
  state: statePath,
  command: recshipCommand(),
  port: 0,
  log,
  serveArgs: [...serveArgs, "--allow-fault-injection"],
});
const seenPids = new Set<number>();
let bundle: ServeBundle;
let prometheus: PrometheusProcess;
let github: FakeGitHub;
let shopper: Shopper | undefined;

function recordPids(): void {
  if (!existsSync(statePath)) return;
  const s = JSON.parse(readFileSync(statePath, "utf8")) as LocalState;
  for (const pid of [s.router.pid, s.stable?.pid, s.canary?.pid]) if (pid) seenPids.add(pid);
}

async function deployCanary(faults?: object): Promise<void> {
  if (faults) process.env[FAULT_INJECTION_ENV] = JSON.stringify(faults);
  try {
    await (faults ? faultyTarget : target).deploy({ mode: "canary", bundle: bundle.dir, weight: 0 });
  } finally {
    delete process.env[FAULT_INJECTION_ENV];
  }
  recordPids();
  const status = await target.status();
  prometheus.setTargets([status.stable!.endpoint, status.canary!.endpoint].map((u) => u.replace("http://", "")));
}

beforeAll(async () => {
  bundle = await buildServeBundle(dir, 11);
  github = await startFakeGitHub();
  await target.deploy({ mode: "direct", bundle: bundle.dir });
  recordPids();
  prometheus = await startPrometheus({ dir: join(dir, "prometheus"), scrapeIntervalSeconds: 1 });
});

afterAll(async () => {
  await shopper?.stop();
  recordPids();
  await target.teardown().catch(() => {});
  for (const pid of seenPids) if (isRecshipProcess(pid)) process.kill(pid, "SIGKILL");
  await prometheus?.stop();
  await github?.close();
});

/** The action's source run as the runner runs it (tsx instead of the dist bundle): INPUT_* variables, event file, output and summary files. */
async function runAction(inputs: Record<string, string>, event: object) {
  const files = { output: join(dir, "action-output.txt"), summary: join(dir, "action-summary.md"), event: join(dir, "action-event.json") };
  writeFileSync(files.output, "");
  writeFileSync(files.summary, "");
  writeFileSync(files.event, JSON.stringify(event));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? dir,
    GITHUB_OUTPUT: files.output,
    GITHUB_STEP_SUMMARY: files.summary,
    GITHUB_EVENT_PATH: files.event,
    GITHUB_EVENT_NAME: "pull_request",
    GITHUB_REPOSITORY: "shop/recs",
    GITHUB_SHA: "0123456789abcdef0123456789abcdef01234567",
    GITHUB_API_URL: github.url,
    GITHUB_RUN_ID: "42",
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

describe("monitor-canary end to end on the local target", () => {
  it("promotes a canary of the same model after stepping it through 25 and 50 % (real Prometheus)", async () => {
    await deployCanary();
    const status = await target.status();
    await warmUp(status.endpoint!, bundle.items, "canary", 2000);
    shopper = startShopper({ endpoint: status.endpoint!, items: bundle.items, rate: 150, seed: 3 });
    let report: MonitorReport;
    try {
      report = await monitorCanary({
        source: new PrometheusSource({ url: prometheus.url }),
        checks: loadChecks(undefined),
        settings: defaultSettings({ steps: [25, 50, 100], intervalSeconds: 8, maxIntervals: 8, warmupSeconds: 60 }),
        target,
        log,
      });
    } finally {
      await shopper.stop();
      shopper = undefined;
    }
    expect(report.verdict).toBe("promoted");
    expect(report.source.kind).toBe("prometheus");
    const after = await target.status();
    expect(after.canary).toBeUndefined();
    expect(after.stable?.ready).toBe(true);
    recordPids();
    const errors = report.checks.find((c) => c.name === "error-rate")!;
    expect(errors.decision).toBe("pass");
    expect(errors.canary.cumulativeSamples).toBeGreaterThan(300);
    expect(errors.query).toContain(`version="${status.canary!.version}"`);
    for (const c of report.checks)
      expect(Object.keys(c)).toEqual(expect.arrayContaining(["name", "query", "canary", "stable", "statistic", "pValue", "decision"]));
  });

  it("rolls back a canary answering 500 to 8 % of requests: the action observes and comments, the CLI rolls back (scraping /metrics)", async () => {
    await deployCanary({ errorRate: 0.08 });
    const status = await target.status();
    shopper = startShopper({ endpoint: status.endpoint!, items: bundle.items, rate: 150, seed: 4 });
    try {
      await target.deploy({ mode: "set-weight", weight: 50 });
      const action = await runAction(
        {
          mode: "observe",
          steps: "50",
          interval: "6",
          "max-intervals": "2",
          warmup: "20",
          state: statePath,
          "github-token": "t",
          "model-name": "shop",
        },
        { pull_request: { number: 7, head: { ref: "feature", sha: "0123456789abcdef0123456789abcdef01234567" }, base: { ref: "main" } } },
      );
      expect(action.code, action.out).toBe(1); // fail-on-rollback: the would-be rollback fails the job
      expect(action.outputs.verdict).toBe("rolled_back");
      expect(action.outputs["final-weight"]).toBe("50");
      expect(action.summary).toContain("## recship monitor-canary: ⛔ rolled back (observe mode: nothing was changed)");
      expect(action.summary).toMatch(/scrape http:\/\/127\.0\.0\.1:\d+\/metrics: increase of recship_http_requests_total/);
      expect(github.comments).toHaveLength(1);
      expect(github.comments[0]).toMatchObject({ issue: 7 });
      expect(github.comments[0].body).toContain("<!-- recship:monitor-canary:shop -->");
      expect((await target.status()).canary?.ready).toBe(true); // observe mode changed nothing

      const reportFile = join(dir, "cli-report.json");
      const cli = spawnRecship([
        "monitor",
        "--state",
        statePath,
        "--steps",
        "25,50",
        "--interval",
        "6",
        "--warmup",
        "20",
        "--report",
        reportFile,
        "--markdown",
        join(dir, "cli.md"),
      ]);
      const code = await cli.exited;
      expect(code, cli.output()).toBe(1);
      expect(cli.output()).toMatch(/error: the canary was rolled back: error-rate: Canary worse beyond the margin/);
      const report = JSON.parse(readFileSync(reportFile, "utf8")) as MonitorReport;
      expect(report).toMatchObject({ verdict: "rolled_back", applied: true, finalWeight: 0, source: { kind: "scrape" } });
      expect(report.steps.flatMap((s) => s.intervals).length).toBeLessThanOrEqual(2);
    } finally {
      await shopper.stop();
      shopper = undefined;
    }
    const after = await target.status();
    expect(after.canary).toBeUndefined();
    expect(after.canaryWeight).toBe(0);
  });
});
