import { mkdir, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { readManifest, readVocabulary } from "../bundle/bundle-io.js";
import { CompressFailure } from "../compress/compress-bundle.js";
import { ParityFailure } from "../convert/convert-bundle.js";
import type { Logger } from "../log.js";
import { RECSHIP_VERSION } from "../version.js";
import { deployCanary, warmUpServers, watchCanary } from "./canary-stage.js";
import { Cleanup } from "./cleanup.js";
import { reportPaths, writeDemoReports } from "./demo-files.js";
import { STEP_TITLES, type DemoReport, type DemoSettings, type DemoVerdict, type StepKey } from "./demo-report.js";
import { demoSettings } from "./demo-settings.js";
import { keepPromoted, readDemoState, writeDemoState } from "./demo-state.js";
import { demoSummaryLines } from "./demo-summary.js";
import { explainShoppers } from "./explain-stage.js";
import { compressStage, convertStage, gateStage, trainStage, validateStage } from "./model-stages.js";
import { purchaseHistories, writeDemoShop } from "./shop-data.js";

export interface DemoOptions extends Partial<DemoSettings> {
  /** The demo's folder: data, bundles, baselines, deploy state and reports; a second run reuses it. */
  out: string;
  /** argv that runs the recship CLI: the local target starts the servers and the router with it. */
  command: string[];
  /** Write the JSON report here instead of `<out>/demo-report.json`. */
  reportFile?: string;
  /** Stops what the run started; pass one to run it from a signal handler too. */
  cleanup?: Cleanup;
  /** Aborted (by a signal): no further server is started. */
  signal?: AbortSignal;
  log: Logger;
}

/** The steps a run goes through, in order, for the progress lines ("[4/10] convert-onnx"). */
const STEPS: StepKey[] = ["shop", "validate", "train", "convert", "compress", "gate", "deploy", "warmUp", "monitor", "stop"];

/**
 * The whole chain on the built-in synthetic shop, on this machine: generate the shop →
 * validate-data (drift against the previous run's data) → train-model → convert-onnx → compress-model → benchmark-gate (against the previous run's
 * stored baseline) → deploy to the local target (stable: the previous run's promoted model,
 * else this run's fp32 export; canary: the compressed model at 0 %) → simulated shoppers +
 * monitor-canary (scrape source) → promote or roll back → every server stopped, whatever
 * happens. Writes `<out>/demo-report.json` and `.html` and returns the report; a model
 * refused on the way (data, parity, budget, gate) is a verdict ("blocked"), not an exception.
 */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const out = resolve(options.out);
  await mkdir(out, { recursive: true });
  const state = await readDemoState(out);
  state.runs += 1;
  await writeDemoState(out, state);
  const run = new DemoRun(options, out, state);
  let failure: unknown;
  try {
    run.report.verdict = await run.chain();
  } catch (error) {
    failure = error;
    run.failed(error as Error);
  } finally {
    await run.stopEverything();
  }
  await run.finish();
  if (failure) throw failure;
  return run.report;
}

/** A refused model: the run's verdict, not an error. */
const block = (decidedBy: string, reason: string): DemoVerdict => ({ outcome: "blocked", promoted: false, decidedBy, reason });

/** One demo run: its settings, folders and report, the step it is at, and what must be stopped at the end. */
class DemoRun {
  readonly settings: DemoSettings;
  readonly report: DemoReport;
  readonly bundle: string;
  readonly cleanup: Cleanup;
  private readonly started = performance.now();
  private current: StepKey = "shop";

  constructor(
    private readonly options: DemoOptions,
    private readonly out: string,
    private readonly state: Awaited<ReturnType<typeof readDemoState>>,
  ) {
    this.settings = demoSettings(options);
    this.bundle = join(out, "bundle");
    this.cleanup = options.cleanup ?? new Cleanup(options.log);
    this.report = emptyReport(options, out, state.runs, this.settings);
  }

  /** Runs one step with its progress line and timing (a signal stops the run before any step but the last). */
  async step<T>(key: StepKey, detail: string, fn: () => Promise<T>): Promise<T> {
    if (key !== "stop") this.options.signal?.throwIfAborted();
    this.current = key;
    this.options.log.info(`\n[${STEPS.indexOf(key) + 1}/${STEPS.length}] ${STEP_TITLES[key]}: ${detail}`);
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.report.timings[key] = (performance.now() - t0) / 1000;
    }
  }

  /** The chain: the model stages, then (if the model got through) deploy, traffic and the canary's verdict. */
  async chain(): Promise<DemoVerdict> {
    const blocked = await this.modelStages();
    await this.explain();
    return blocked ?? this.canaryStages();
  }

  /** shop → validate → train → convert → compress → gate; data or a model refused on the way is the run's verdict. */
  private async modelStages(): Promise<DemoVerdict | undefined> {
    const { report, settings, bundle, out } = this;
    const { log } = this.options;
    report.data.rows = await this.step("shop", `${settings.users} shoppers' purchases and views (seeded)`, () =>
      writeDemoShop(report.data.path, settings.users),
    );
    log.info(`${report.data.rows} interaction rows written to ${report.data.path}`);
    const validated = await this.step("validate", "schema, content and drift from the previous run's data", () =>
      validateStage({ data: report.data.path, bundle, log }),
    );
    report.validate = validated;
    if (!validated.passed) return block(STEP_TITLES.validate, validated.headline);
    report.train = await this.step("train", `SASRec on the purchases, ${settings.epochs} epochs`, () =>
      trainStage({ data: report.data.path, validated, bundle, epochs: settings.epochs, maxMinutes: settings.maxMinutes, log }),
    );
    try {
      report.convert = await this.step("convert", "ONNX export and parity check against the trained model", () =>
        convertStage(bundle, log),
      );
    } catch (error) {
      if (!(error instanceof ParityFailure)) throw error;
      report.convert = error.report;
      return block(STEP_TITLES.convert, error.message);
    }
    try {
      const within = `within ${(100 * settings.maxNdcgDrop).toFixed(1)} % of validation NDCG@10, objective ${settings.objective}`;
      report.compress = await this.step("compress", `${settings.methods.join(", ")} ${within}`, () =>
        compressStage({ bundle, ...settings, log }),
      );
    } catch (error) {
      if (!(error instanceof CompressFailure)) throw error;
      report.compress = error.report;
      return block(STEP_TITLES.compress, error.message);
    }
    report.gate = await this.step("gate", "the chosen variant against the previous run's stored baseline", () =>
      gateStage({ bundle, data: report.data.path, storeDir: join(out, "baselines"), workDir: join(out, ".work"), log }),
    );
    await rm(join(out, ".work"), { recursive: true, force: true });
    return report.gate.passed ? undefined : block(STEP_TITLES.gate, report.gate.headline);
  }

  /** A few shoppers' recommendations explained with the model the bundle serves; a failure here is a warning. */
  private async explain(): Promise<void> {
    if (!this.report.convert?.parity.passed) return;
    try {
      this.report.explanations = await explainShoppers(this.bundle, purchaseHistories(this.settings.users), this.options.log);
      this.options.log.info(
        `explained the recommendations of ${this.report.explanations.shoppers.length} shoppers (leave-one-out occlusion)`,
      );
    } catch (error) {
      this.report.warnings.push(`explaining recommendations: ${(error as Error).message}`);
    }
  }

  /** deploy (stable: the previous run's promoted model, else this run's fp32 export; canary at 0 %) → warm up → monitor. */
  private async canaryStages(): Promise<DemoVerdict> {
    const { report, settings, bundle, out, cleanup } = this;
    const { log, command, signal } = this.options;
    const stable = this.state.promoted
      ? { bundle: this.state.promoted.bundle, origin: "previous-promoted" as const }
      : { bundle, model: report.convert!.model, origin: "this-run-fp32" as const };
    const items = (await readVocabulary(bundle, await readManifest(bundle))).slice(1);
    const traffic = { ...settings, items, histories: purchaseHistories(settings.users) };
    const stableIs = stable.origin === "previous-promoted" ? "the previous run's promoted model" : "this run's fp32 export";
    const deployed = await this.step("deploy", `stable = ${stableIs}, canary = the compressed model at 0 %`, () =>
      deployCanary(
        { dir: join(out, "deploy"), command, stable, canary: { bundle }, cleanup, signal, log },
        (section) => (report.deploy = section),
      ),
    );
    await this.step("warmUp", `${settings.warmupRequests} recommendations pinned to each server`, () => warmUpServers(deployed, traffic));
    const m = await this.step(
      "monitor",
      `${settings.rate} recommendations/s; canary steps ${settings.steps.join(", ")} %, ${settings.intervalSeconds}s intervals (scraping /metrics)`,
      () => watchCanary(deployed, { monitor: settings, traffic, cleanup, log }, (t) => (report.traffic = t)),
    );
    report.monitor = m;
    const outcome = m.verdict === "inconclusive" ? "held" : m.verdict;
    return { outcome, promoted: m.verdict === "promoted", decidedBy: "monitor-canary", reason: m.reason };
  }

  failed(error: Error): void {
    this.report.error = error.message;
    this.report.verdict = { outcome: "failed", promoted: false, decidedBy: STEP_TITLES[this.current], reason: error.message };
  }

  /** Stops the shoppers, the servers and the router, whatever happened; a failure to stop is a warning. */
  async stopEverything(): Promise<void> {
    await this.step("stop", "stopping the shoppers, the servers and the router", () => this.cleanup.run()).catch((error: unknown) => {
      this.report.warnings.push(`stopping the servers: ${(error as Error).message}`);
    });
  }

  /** Keeps a promoted model for the next run, writes the reports and prints the summary. */
  async finish(): Promise<void> {
    const { report, state, out } = this;
    if (report.deploy && report.deploy.allStopped === false) report.warnings.push("some server process did not stop: see deploy.processes");
    if (report.verdict.promoted && report.deploy) {
      const promoted = await keepPromoted(out, this.bundle, {
        version: report.deploy.canary.version,
        artifact: report.deploy.canary.artifact,
        run: report.run,
      });
      report.verdict.promotedModel = promoted;
      state.promoted = promoted;
      await writeDemoState(out, state);
    }
    report.timings.total = (performance.now() - this.started) / 1000;
    report.endedAt = new Date().toISOString();
    await mkdir(dirname(report.reports.json), { recursive: true });
    await writeDemoReports(report);
    for (const line of demoSummaryLines(report)) this.options.log.info(line);
  }
}

/** The report before anything ran: a run that does not finish says so. */
function emptyReport(options: DemoOptions, out: string, run: number, settings: DemoSettings): DemoReport {
  return {
    schema: 1,
    tool: "recship demo",
    recshipVersion: RECSHIP_VERSION,
    run,
    startedAt: new Date().toISOString(),
    endedAt: "",
    out,
    settings,
    data: { path: join(out, "synthetic-shop.csv"), rows: 0, users: settings.users },
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
    verdict: { outcome: "failed", promoted: false, decidedBy: "demo", reason: "the run did not finish" },
    reports: reportPaths(out, options.reportFile && resolve(options.reportFile)),
    warnings: [],
  };
}
