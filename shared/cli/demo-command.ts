import { CommanderError, type Command } from "commander";
import { parseSteps } from "../canary/settings.js";
import { OBJECTIVES, type Objective } from "../compress/report.js";
import { Cleanup } from "../demo/cleanup.js";
import { runDemo } from "../demo/demo.js";
import { DEMO_DEFAULTS } from "../demo/demo-settings.js";
import { RecshipError } from "../errors.js";
import { currentRecshipCommand } from "./deploy-command.js";
import { type CommandContext } from "./common.js";
import { int, list, number, oneOf } from "../util/parse.js";

/**
 * The candidate was not promoted (rolled back, held, or blocked on the way): exit status 1.
 * A CommanderError so the CLI exits quietly: the demo's last line already says the verdict.
 */
class DemoNotPromoted extends CommanderError {
  constructor(message: string) {
    super(1, "recship.demo.notPromoted", message);
  }
}

export function registerDemo(program: Command, ctx: CommandContext): void {
  const d = DEMO_DEFAULTS;
  program
    .command("demo")
    .description(
      "the whole chain on this machine with the built-in synthetic shop: train → convert → compress → gate → deploy (local) → shoppers + monitor-canary → promote or roll back",
    )
    .option(
      "--out <dir>",
      "the demo's folder (data, bundles, baselines, reports); run again to gate and canary against this run",
      "runs/demo",
    )
    .option("--users <n>", "synthetic shoppers in the generated shop", String(d.users))
    .option("--epochs <n>", "training epochs", String(d.epochs))
    .option("--max-minutes <n>", "training time budget", String(d.maxMinutes))
    .option("--methods <list>", "compress-model variants, comma-separated", d.methods.join(","))
    .option("--max-ndcg-drop <x>", "compress-model budget: largest relative loss of validation NDCG@10", String(d.maxNdcgDrop))
    .option("--objective <name>", `compress-model objective: ${OBJECTIVES.join(" or ")}`, d.objective)
    .option("--steps <weights>", "canary weights in percent, one interval each (a final 100 is the promotion)", d.steps.join(","))
    .option("--interval <seconds>", "length of each canary analysis interval", String(d.intervalSeconds))
    .option("--max-intervals <n>", "most analysis intervals (default: steps below 100 + 4)")
    .option("--warmup <seconds>", "longest wait for both servers' metrics before the first interval", String(d.warmupSeconds))
    .option(
      "--checks <yaml-or-file>",
      "monitor-canary checks (default: the built-ins, latency not critical: one small machine runs everything)",
    )
    .option("--rate <n>", "simulated shoppers' recommendation requests per second", String(d.rate))
    .option("--warmup-requests <n>", "recommendations pinned to each fresh server before the analysis", String(d.warmupRequests))
    .option("--seed <n>", "seed of the simulated shoppers", String(d.seed))
    .option("--report <file>", "write the demo report as JSON here (default: <out>/demo-report.json)")
    .action(async (o: Record<string, string | undefined>) => {
      const warmup = Number(o.warmup);
      if (!(warmup >= 0)) throw new RecshipError(`--warmup must be 0 or more seconds, got "${o.warmup}"`);
      const cleanup = new Cleanup(ctx.log);
      const controller = new AbortController();
      // Ctrl-C reaches this process twice under npm/tsx (the terminal's and the one tsx relays):
      // the first one stops everything, later ones must not kill the process mid-cleanup
      const onSignal = (signal: NodeJS.Signals) => {
        if (controller.signal.aborted) return;
        ctx.log.warn(`${signal}: stopping the shoppers, the servers and the router before exiting`);
        controller.abort(new RecshipError(`interrupted by ${signal}`));
        void cleanup.run().finally(() => process.exit(130));
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      try {
        const report = await runDemo({
          out: String(o.out),
          users: int(o.users, "--users"),
          epochs: int(o.epochs, "--epochs"),
          maxMinutes: number(o.maxMinutes, "--max-minutes"),
          methods: list(o.methods),
          maxNdcgDrop: Number(o.maxNdcgDrop),
          objective: oneOf<Objective>(o.objective, OBJECTIVES, "--objective"),
          steps: parseSteps(String(o.steps), "--steps"),
          intervalSeconds: number(o.interval, "--interval"),
          maxIntervals: int(o.maxIntervals, "--max-intervals"),
          warmupSeconds: warmup,
          checks: o.checks,
          rate: number(o.rate, "--rate"),
          warmupRequests: int(o.warmupRequests, "--warmup-requests"),
          seed: int(o.seed, "--seed"),
          reportFile: o.report,
          command: currentRecshipCommand(),
          cleanup,
          signal: controller.signal,
          log: ctx.log,
        });
        if (!report.verdict.promoted) throw new DemoNotPromoted(`the candidate was not promoted (${report.verdict.outcome})`);
      } finally {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
      }
    });
}
