import { existsSync } from "node:fs";
import { join } from "node:path";
import { pickArtifact } from "../bundle/model-source.js";
import { readManifest } from "../bundle/bundle-io.js";
import { monitorCanary } from "../canary/analysis.js";
import { loadChecks } from "../canary/checks-file.js";
import type { MonitorReport } from "../canary/report.js";
import { defaultSettings } from "../canary/settings.js";
import { ScrapeSource } from "../canary/sources/scrape-source.js";
import { LocalTarget } from "../deploy/local/local-target.js";
import { isRecshipProcess } from "../deploy/local/processes.js";
import { readState } from "../deploy/local/state.js";
import type { DeployResult, DeployStatus } from "../rollout/target.js";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Cleanup } from "./cleanup.js";
import { startShopper, warmUp, type ShopperStats } from "./shopper.js";

/** Where the stable model came from: the previous run's promotion, or (first run) this run's fp32 export. */
type StableOrigin = "previous-promoted" | "this-run-fp32";

export interface DeployStageOptions {
  /** Folder of the local target's state file and server logs. */
  dir: string;
  /** argv that runs the recship CLI (the servers and the router are `recship` child processes). */
  command: string[];
  stable: { bundle: string; model?: string; origin: StableOrigin };
  canary: { bundle: string };
  cleanup: Cleanup;
  /** Aborted (a signal): no further server is started. */
  signal?: AbortSignal;
  log: Logger;
}

export interface TrafficOptions {
  rate: number;
  warmupRequests: number;
  seed: number;
  items: readonly string[];
  histories: readonly (readonly string[])[];
}

export interface MonitorStageOptions {
  /** Checks: built-in overrides and PromQL checks, inline YAML or a file (loadChecks). */
  checks: string;
  steps: number[];
  intervalSeconds: number;
  warmupSeconds: number;
  maxIntervals?: number;
}

interface ServerProcess {
  role: "router" | "stable" | "canary";
  pid: number;
  port: number;
  version?: string;
}

export interface DeploySection {
  target: "local";
  state: string;
  /** Where the shoppers sent their requests: the router. */
  endpoint: string;
  stable: { origin: StableOrigin; bundle: string; model?: string; version: string; endpoint: string };
  canary: { bundle: string; artifact: string; version: string; endpoint: string; weight: number };
  actions: DeployResult[];
  /** After the monitor's verdict, before the servers were stopped. */
  final?: DeployStatus;
  /** Every process the demo started (the promoted server too); all stopped at the end. */
  processes: ServerProcess[];
  /** Set once the servers were stopped: whether every process above is gone. */
  allStopped?: boolean;
}

export interface TrafficSection {
  ratePerSecond: number;
  /** Recommendations pinned to each server before the analysis (a fresh process is slower for its first thousand). */
  warmUpRequests: { stable: number; canary: number };
  seconds: number;
  recommendations: number;
  feedbackEvents: number;
  shoppers: ShopperStats;
}

/** A running deployment: the target that moves its traffic, and what the report says of it. */
export interface Deployed {
  target: LocalTarget;
  section: DeploySection;
  /** Records the processes the state file names now (the promoted server is a new one). */
  recordProcesses(): Promise<void>;
}

/**
 * Deploys to the local target: stable (`direct`), then the canary beside it at 0 %. Both are
 * `recship serve` processes behind the local router. Stopping everything is registered with
 * `cleanup` first, so a failure or a signal stops the servers too; `onDeployed` gets the
 * report section as soon as it exists.
 */
export async function deployCanary(o: DeployStageOptions, onDeployed: (section: DeploySection) => void): Promise<Deployed> {
  const { log } = o;
  const statePath = join(o.dir, "local-deploy.json");
  const target = new LocalTarget({
    state: statePath,
    command: o.command,
    port: 0,
    modelName: "recommender",
    serveArgs: ["--max-delay-ms", "0", "--threads", "1"],
    log,
  });
  if (existsSync(statePath)) {
    log.warn(`a previous demo run left servers behind (${statePath}): stopping them first`);
    await target.teardown();
  }
  const processes: ServerProcess[] = [];
  const recordProcesses = async () => {
    const state = await readState(statePath);
    if (!state) return;
    const seen = (pid: number) => processes.some((p) => p.pid === pid);
    if (!seen(state.router.pid)) processes.push({ role: "router", pid: state.router.pid, port: state.router.port });
    for (const b of [state.stable, state.canary])
      if (b && !seen(b.pid)) processes.push({ role: b.variant, pid: b.pid, port: b.port, version: b.version });
  };
  const deployed: { section?: DeploySection } = {};
  o.cleanup.add("stop the servers", async () => {
    await recordProcesses().catch(() => {});
    await target.teardown();
    if (deployed.section) deployed.section.allStopped = processes.every((p) => !isRecshipProcess(p.pid));
  });

  const actions: DeployResult[] = [];
  try {
    o.signal?.throwIfAborted();
    actions.push(await target.deploy({ mode: "direct", bundle: o.stable.bundle, ...(o.stable.model ? { model: o.stable.model } : {}) }));
    await recordProcesses();
    o.signal?.throwIfAborted();
    actions.push(await target.deploy({ mode: "canary", bundle: o.canary.bundle, weight: 0 }));
  } finally {
    await recordProcesses();
  }
  const status = await target.status();
  if (!status.endpoint || !status.stable || !status.canary) throw new RecshipError("the local target did not report stable and canary");
  const manifest = await readManifest(o.canary.bundle);
  const section: DeploySection = {
    target: "local",
    state: statePath,
    endpoint: status.endpoint,
    stable: { ...o.stable, version: status.stable.version, endpoint: status.stable.endpoint },
    canary: {
      bundle: o.canary.bundle,
      artifact: pickArtifact(manifest)?.name ?? "onnx",
      version: status.canary.version,
      endpoint: status.canary.endpoint,
      weight: status.canaryWeight,
    },
    actions,
    processes,
  };
  deployed.section = section;
  onDeployed(section);
  return { target, section, recordProcesses };
}

/** Pinned recommendations to each fresh server: a new process answers slower for its first thousand (the JIT). */
export async function warmUpServers(d: Deployed, traffic: TrafficOptions): Promise<void> {
  await warmUp(d.section.endpoint, traffic.items, "stable", traffic.warmupRequests);
  await warmUp(d.section.endpoint, traffic.items, "canary", traffic.warmupRequests);
}

/**
 * Simulated shoppers through the router while monitor-canary (scraping both servers'
 * /metrics, no Prometheus) steps the canary's weight and promotes or rolls it back.
 * `onTraffic` gets the traffic counts however the analysis ends.
 */
export async function watchCanary(
  d: Deployed,
  o: { monitor: MonitorStageOptions; traffic: TrafficOptions; cleanup: Cleanup; log: Logger },
  onTraffic: (traffic: TrafficSection) => void,
): Promise<MonitorReport> {
  const { traffic, log } = o;
  const { section } = d;
  const settings = defaultSettings({
    steps: o.monitor.steps,
    intervalSeconds: o.monitor.intervalSeconds,
    warmupSeconds: o.monitor.warmupSeconds,
    ...(o.monitor.maxIntervals ? { maxIntervals: o.monitor.maxIntervals } : {}),
  });
  log.info(`simulated shoppers: ${traffic.rate} recommendations/s through ${section.endpoint}, clicking and adding to cart`);
  const shopper = startShopper({
    endpoint: section.endpoint,
    items: traffic.items,
    histories: traffic.histories,
    rate: traffic.rate,
    seed: traffic.seed,
  });
  let stopped = false;
  const stopShoppers = async () => {
    if (stopped) return;
    stopped = true;
    await shopper.stop();
  };
  o.cleanup.add("stop the shoppers", stopShoppers);
  const started = performance.now();
  try {
    const report = await monitorCanary({
      source: new ScrapeSource({ endpoints: { stable: section.stable.endpoint, canary: section.canary.endpoint } }),
      checks: loadChecks(o.monitor.checks),
      settings,
      target: d.target,
      log,
    });
    section.final = await d.target.status();
    return report;
  } finally {
    await stopShoppers();
    const stats = shopper.stats();
    const total = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
    onTraffic({
      ratePerSecond: traffic.rate,
      warmUpRequests: { stable: traffic.warmupRequests, canary: traffic.warmupRequests },
      seconds: (performance.now() - started) / 1000,
      recommendations: total(stats.recommend),
      feedbackEvents: stats.feedback,
      shoppers: stats,
    });
    await d.recordProcesses();
  }
}
