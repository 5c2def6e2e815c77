/**
 * The drift watch's acceptance figures (monitor-canary mode watch) on the local target with a
 * real Prometheus and simulated shoppers:
 *
 *   npm run bench:watch -- --drift-runs 10 --clean-runs 20 --report bench/watch.json
 *
 * One model (the synthetic shop's first 3000 users, the demo's architecture, 15 epochs) is
 * served by `recship serve` behind the local target's router; shoppers browse the purchase
 * sequences of 1500 users the model never saw (100 recommendations a second, 10 items each,
 * clicks and add-to-cart); Prometheus scrapes the server every second; the watch judges one
 * window (default 8 s) at a time, as a schedule would, and keeps its issue on a local GitHub
 * REST emulator (retraining dispatched once per issue).
 *
 * Clean runs: 3 windows of unchanged traffic each; a run raises when any of its windows is drift.
 * Drift runs: the shoppers change at a random moment inside a window; the run counts as raised
 * within 3 windows when one of the first 3 windows ending after the change is drift. The drifts
 * alternate: interest (histories keep only the 6 least popular of the 24 categories) and
 * catalogue (30 % of the items get ids the model has never seen). After a drift run the
 * shoppers go back to normal and the watch runs until it closes the issue (up to 3 windows).
 * Runs share the server and Prometheus; each starts its shoppers with a new seed.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadChecks } from "../shared/canary/checks-file.js";
import { PrometheusSource } from "../shared/canary/sources/prometheus-source.js";
import { watchProduction } from "../shared/canary/watch.js";
import type { WatchReport } from "../shared/canary/watch-decision.js";
import { publishWatch, type WatchPublishResult } from "../shared/canary/watch-issue.js";
import { convertBundle } from "../shared/convert/convert-bundle.js";
import { writeSyntheticShopCsv } from "../shared/data/synthetic.js";
import { LocalTarget } from "../shared/deploy/local/local-target.js";
import { githubClient } from "../shared/github/client.js";
import { silentLogger } from "../shared/log.js";
import { trainModel } from "../shared/train/train-model.js";
import { startFakeGitHub, type FakeGitHub } from "../test/helpers/github-server.js";
import { prometheusInstalled, startPrometheus, type PrometheusProcess } from "../test/helpers/prometheus.js";
import { recshipCommand } from "../test/helpers/serve-process.js";
import { startShopper, type Shopper } from "../test/helpers/shopper.js";
import { catalogueShift, freshHistories, interestShift } from "../test/helpers/watch-traffic.js";

const { values: args } = parseArgs({
  options: {
    "drift-runs": { type: "string", default: "10" },
    "clean-runs": { type: "string", default: "20" },
    window: { type: "string", default: "8" },
    rate: { type: "string", default: "100" },
    users: { type: "string", default: "3000" },
    epochs: { type: "string", default: "15" },
    report: { type: "string", default: "bench/watch.json" },
  },
});
const driftRuns = Number(args["drift-runs"]);
const cleanRuns = Number(args["clean-runs"]);
const WINDOW = Number(args.window);
const rate = Number(args.rate);
const users = Number(args.users);
if (!prometheusInstalled()) throw new Error("Prometheus is not installed (apt-get install prometheus)");

const SEED = 7;
const MODEL_CONFIG = "model:\n  hidden: 48\n  maxlen: 30\ntrain:\n  batchTokens: 512\n  negatives: 512\n  learningRate: 0.004";
const REPO = { owner: "shop", repo: "recs" };
const work = mkdtempSync(join(tmpdir(), "recship-bench-watch-"));
const target = new LocalTarget({
  state: join(work, "state", "deploy.json"),
  command: recshipCommand(),
  port: 0,
  log: silentLogger,
  serveArgs: ["--max-delay-ms", "0", "--threads", "1"],
});
let prometheus: PrometheusProcess | undefined;
let github: FakeGitHub | undefined;
let shopper: Shopper | undefined;

function note(message: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);
}

/** The demo's model on the synthetic shop's first `users` users. */
async function buildBundle(): Promise<{ dir: string; items: string[] }> {
  const data = join(work, "shop.csv");
  await writeSyntheticShopCsv(data, { users, seed: SEED });
  const dir = join(work, "bundle");
  await trainModel({
    data,
    userColumn: "user_id",
    itemColumn: "item_id",
    timeColumn: "timestamp",
    out: dir,
    config: MODEL_CONFIG,
    overrides: { train: { epochs: Number(args.epochs), seed: 1 } },
    log: silentLogger,
  });
  await convertBundle({ bundle: dir, log: silentLogger });
  return { dir, items: readFileSync(join(dir, "items.txt"), "utf8").split("\n").filter(Boolean) };
}

const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
/** The next window boundary at or after `from` (windows end at multiples of their length). */
const boundaryAfter = (from: number) => Math.ceil(from / (WINDOW * 1000)) * WINDOW * 1000;

/** One scheduled run: the window that just ended judged, the issue kept. */
async function watchOnce(): Promise<{ report: WatchReport; issue: WatchPublishResult }> {
  const report = await watchProduction({
    source: new PrometheusSource({ url: prometheus!.url }),
    checks: loadChecks(undefined, { for: "watch" }),
    settings: { windowSeconds: WINDOW, confidence: 0.98, namespace: ".*" },
    log: silentLogger,
  });
  const issue = await publishWatch(githubClient("t", github!.url), report, {
    repo: REPO,
    model: "shop-recs",
    body: () => report.reason,
    retrain: { workflow: "retrain.yml", ref: "main", inputs: { reason: "drift watch" } },
    log: silentLogger,
  });
  return { report, issue };
}

/** The window ending at the next boundary after `from`, judged 1.5 s after it (the last scrape is in). */
async function nextWindow(from = Date.now()): Promise<{ report: WatchReport; issue: WatchPublishResult }> {
  await sleepUntil(boundaryAfter(from + 1) + 1500);
  return watchOnce();
}

async function shop(endpoint: string, items: string[], histories: string[][]): Promise<void> {
  await shopper?.stop();
  shopper = startShopper({ endpoint, items, histories, rate, k: 10, seed: Math.floor(Math.random() * 1e9) });
}

/** What a window's report says, compactly: the status and each check's statistic and outcome. */
function windowSummary(r: WatchReport) {
  return {
    window: r.window.end,
    status: r.status,
    breached: r.breached,
    unjudged: r.unjudged,
    psi: Object.fromEntries(
      r.checks.filter((c) => c.kind === "drift").map((c) => [c.name, c.statistic === null ? null : Number(c.statistic.toFixed(4))]),
    ),
    requests: r.checks.find((c) => c.name === "error-rate")?.last.samples ?? null,
  };
}

interface DriftRun {
  kind: string;
  injectedAt: string;
  /** 1-based window (ending after the change) in which the watch first raised; null: not within 3. */
  raisedInWindow: number | null;
  issue: number | null;
  retraining: boolean;
  /** Windows after going back to normal until the issue was closed (null: not within 3). */
  closedAfterWindows: number | null;
  windows: ReturnType<typeof windowSummary>[];
}

async function driftRun(
  kind: "interest" | "catalogue",
  traffic: { endpoint: string; items: string[]; normal: string[][] },
): Promise<DriftRun> {
  const drifted =
    kind === "interest" ? interestShift(traffic.normal) : catalogueShift(traffic.normal, 0.3, Math.floor(Math.random() * 1e9));
  // a random moment inside a window: the first window ending after it is partly drifted
  const start = boundaryAfter(Date.now() + 1);
  const at = start + Math.random() * WINDOW * 1000;
  await sleepUntil(at);
  await shop(traffic.endpoint, traffic.items, drifted);
  const run: DriftRun = {
    kind,
    injectedAt: new Date(at).toISOString(),
    raisedInWindow: null,
    issue: null,
    retraining: false,
    closedAfterWindows: null,
    windows: [],
  };
  for (let w = 1; w <= 3; w++) {
    const { report, issue } = await nextWindow();
    run.windows.push(windowSummary(report));
    if (report.status === "drift" && run.raisedInWindow === null) {
      run.raisedInWindow = w;
      run.issue = issue.number ?? null;
    }
    if (issue.retrain === "dispatched") run.retraining = true;
  }
  await sleepUntil(boundaryAfter(Date.now() + 1));
  await shop(traffic.endpoint, traffic.items, traffic.normal);
  for (let w = 1; w <= 3; w++) {
    const { report, issue } = await nextWindow();
    run.windows.push(windowSummary(report));
    if (issue.action === "closed") {
      run.closedAfterWindows = w;
      break;
    }
  }
  return run;
}

async function main(): Promise<void> {
  const started = performance.now();
  note(`training the model on ${users} shop users (${args.epochs} epochs) in ${work}`);
  const bundle = await buildBundle();
  await target.deploy({ mode: "direct", bundle: bundle.dir });
  const status = await target.status();
  prometheus = await startPrometheus({ dir: join(work, "prometheus"), targets: [status.stable!.endpoint.replace("http://", "")] });
  github = await startFakeGitHub();
  github.workflows["retrain.yml"] = { id: 1, path: ".github/workflows/retrain.yml", dispatchInputs: ["reason"] };
  const traffic = { endpoint: status.endpoint!, items: bundle.items, normal: freshHistories(SEED, users, users / 2) };
  await shop(traffic.endpoint, traffic.items, traffic.normal);
  await sleepUntil(boundaryAfter(Date.now() + 2 * WINDOW * 1000));
  note(`model served (${Math.round((performance.now() - started) / 1000)} s so far); clean runs: ${cleanRuns} × 3 windows of ${WINDOW} s`);

  const clean: { raised: boolean; windows: ReturnType<typeof windowSummary>[] }[] = [];
  for (let i = 0; i < cleanRuns; i++) {
    await shop(traffic.endpoint, traffic.items, traffic.normal);
    const windows: ReturnType<typeof windowSummary>[] = [];
    for (let w = 0; w < 3; w++) windows.push(windowSummary((await nextWindow()).report));
    clean.push({ raised: windows.some((w) => w.status === "drift"), windows });
    note(`[clean ${i + 1}/${cleanRuns}] ${windows.map((w) => w.status).join(", ")}`);
  }
  const opened = github.issues.length;

  const drift: DriftRun[] = [];
  for (let i = 0; i < driftRuns; i++) {
    const run = await driftRun(i % 2 === 0 ? "interest" : "catalogue", traffic);
    drift.push(run);
    note(
      `[drift ${i + 1}/${driftRuns} ${run.kind}] raised in window ${run.raisedInWindow ?? "-"}, closed ${run.closedAfterWindows ?? "-"} window(s) after; ${run.windows.map((w) => w.status).join(", ")}`,
    );
  }

  const kinds = ["interest", "catalogue"];
  const within = (runs: DriftRun[]) => runs.filter((r) => r.raisedInWindow !== null).length;
  const psiOf = (runs: { windows: ReturnType<typeof windowSummary>[] }[], name: string) =>
    runs.flatMap((r) => r.windows.map((w) => w.psi[name])).filter((v): v is number => typeof v === "number");
  const out = {
    command: `npm run bench:watch -- --drift-runs ${driftRuns} --clean-runs ${cleanRuns} --window ${WINDOW}`,
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? "?",
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      loadAverageAtEnd: loadavg(),
    },
    settings: {
      windowSeconds: WINDOW,
      confidence: 0.98,
      ratePerSecond: rate,
      itemsPerAnswer: 10,
      trainUsers: users,
      epochs: Number(args.epochs),
      scrapeSeconds: 1,
    },
    drift: {
      runs: drift.length,
      raisedWithin3Windows: within(drift),
      byKind: Object.fromEntries(
        kinds.map((k) => [
          k,
          { runs: drift.filter((r) => r.kind === k).length, raisedWithin3Windows: within(drift.filter((r) => r.kind === k)) },
        ]),
      ),
      raisedInWindow: drift.map((r) => r.raisedInWindow),
      issuesClosedWithin3WindowsAfter: drift.filter((r) => r.closedAfterWindows !== null).length,
      retrainingDispatched: drift.filter((r) => r.retraining).length,
    },
    clean: {
      runs: clean.length,
      raised: clean.filter((r) => r.raised).length,
      windows: clean.length * 3,
      windowsWithDrift: clean.flatMap((r) => r.windows).filter((w) => w.status === "drift").length,
      windowsInconclusive: clean.flatMap((r) => r.windows).filter((w) => w.status === "inconclusive").length,
      issuesOpened: opened,
      largestPsi: Object.fromEntries(
        ["top-score-vs-validation", "popularity-vs-validation", "score-drift"].map((n) => [n, Math.max(...psiOf(clean, n))]),
      ),
    },
    dispatches: github.dispatches.length,
    seconds: Math.round((performance.now() - started) / 1000),
    cleanRuns: clean,
    driftRuns: drift,
  };
  const reportPath = resolve(args.report);
  mkdirSync(dirname(reportPath), { recursive: true });
  writeFileSync(reportPath, `${JSON.stringify(out, null, 2)}\n`);
  note(
    `drift raised within 3 windows: ${out.drift.raisedWithin3Windows}/${out.drift.runs}; unchanged runs raised: ${out.clean.raised}/${out.clean.runs}; ${out.seconds} s; report ${reportPath}`,
  );
}

try {
  await main();
} finally {
  await shopper?.stop();
  await target.teardown().catch(() => {});
  await prometheus?.stop();
  await github?.close();
  rmSync(work, { recursive: true, force: true });
}
