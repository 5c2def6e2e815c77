import type { Command } from "commander";
import { LocalTarget } from "../deploy/local/local-target.js";
import { TrafficRouter } from "../deploy/local/traffic-router.js";
import { DEPLOY_MODES, type DeployMode } from "../rollout/target.js";
import { parseServerArgs } from "../deploy/server-args.js";
import { RecshipError } from "../errors.js";
import { type CommandContext } from "./common.js";
import { int, number, oneOf } from "../util/parse.js";

const LOCAL_MODES = [...DEPLOY_MODES, "status", "stop"] as const;

/**
 * How this CLI starts itself in a child process: RECSHIP_COMMAND (a JSON array of argv) if
 * set, else the same node, node flags (e.g. a TypeScript loader) and entry script as now.
 */
export function currentRecshipCommand(): string[] {
  const override = process.env.RECSHIP_COMMAND;
  if (override) {
    const parsed: unknown = JSON.parse(override);
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((a) => typeof a === "string")) {
      throw new RecshipError('RECSHIP_COMMAND must be a JSON array of strings, e.g. ["node", "dist/cli/index.js"]');
    }
    return parsed as string[];
  }
  const entry = process.argv[1];
  if (!entry)
    throw new RecshipError("cannot tell how recship was started", { fix: 'set RECSHIP_COMMAND, e.g. ["node", "dist/cli/index.js"]' });
  return [process.execPath, ...process.execArgv, entry];
}

export function registerDeploy(program: Command, ctx: CommandContext): void {
  program
    .command("deploy")
    .description(
      "ship a bundle: canary beside stable at a weight, promote, rollback, direct, set-weight (target local: child processes behind a weighted router)",
    )
    .option("--target <target>", "where to deploy: local", "local")
    .requiredOption("--mode <mode>", `${LOCAL_MODES.join(", ")}`)
    .option("--bundle <dir>", "bundle to ship (canary, direct)")
    .option("--model <file>", "ONNX file to serve instead of the bundle's chosen one")
    .option("--weight <percent>", "canary share of the traffic, 0 to 100 (canary: default 10; set-weight)")
    .option("--state <file>", "local target: state file (ports, pids, versions, weight)", ".recship/local-deploy.json")
    .option("--port <port>", "local target: the router's port (0: any free port)", "8080")
    .option("--host <host>", "local target: the router's address", "127.0.0.1")
    .option("--name <name>", "model name served", "recommender")
    .option(
      "--serve-args <args>",
      'extra `recship serve` tuning flags for the servers started, e.g. "--max-batch 32 --threads 1" (--workers, --threads, --max-batch, --max-delay-ms, --max-body-bytes, --drain-timeout)',
    )
    .option("--ready-timeout <seconds>", "longest wait for a new server to turn ready", "120")
    .option("--skip-bundle-checksums", "ship a bundle edited on purpose, whose files differ from the sha256s bundle.json records")
    .option("--report <file>", "write the result as JSON")
    .action(async (o: Record<string, string | undefined>) => {
      if (o.target !== "local") throw new RecshipError(`--target ${o.target} is not available in this command; use --target local`);
      const mode = oneOf(o.mode, LOCAL_MODES, "--mode");
      // the same allow-list as the action's server-args (test-only switches stay out of deployed servers)
      const serveArgs = o.serveArgs === undefined ? undefined : parseServerArgs(o.serveArgs, "--serve-args");
      const target = new LocalTarget({
        state: String(o.state),
        command: currentRecshipCommand(),
        port: int(o.port, "--port"),
        host: o.host,
        modelName: o.name,
        serveArgs,
        readyTimeoutMs: number(o.readyTimeout, "--ready-timeout")! * 1000,
        skipBundleChecksums: Boolean(o.skipBundleChecksums),
        log: ctx.log,
      });
      if (mode === "status") {
        const status = await target.status();
        process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
        await ctx.writeReport(o.report, status);
        return;
      }
      if (mode === "stop") {
        await target.teardown();
        return;
      }
      const weight = o.weight === undefined ? undefined : Number(o.weight);
      if (weight !== undefined && !Number.isFinite(weight))
        throw new RecshipError(`--weight must be a number from 0 to 100, got "${o.weight}"`);
      const result = await target.deploy({ mode: mode as DeployMode, bundle: o.bundle, model: o.model, weight });
      await ctx.writeReport(o.report, result);
    });

  program
    .command("deploy-router", { hidden: true })
    .description("the local target's weighted router (started by `recship deploy --target local`)")
    .requiredOption("--port <port>", "public port")
    .requiredOption("--admin-port <port>", "admin port (127.0.0.1 only)")
    .option("--host <host>", "public address", "127.0.0.1")
    .action(async (o: Record<string, string | undefined>) => {
      const token = process.env.RECSHIP_ROUTER_TOKEN;
      if (!token) throw new RecshipError("RECSHIP_ROUTER_TOKEN is not set: the router's admin token comes from the environment");
      const router = new TrafficRouter({ token, log: ctx.log });
      const { url } = await router.listen(int(o.port, "--port")!, int(o.adminPort, "--admin-port")!, o.host);
      ctx.log.info(`router listening on ${url}`);
      await new Promise<void>((resolve) => {
        const stop = () => void router.close().then(resolve, resolve);
        process.once("SIGTERM", stop);
        process.once("SIGINT", stop);
      });
      ctx.log.info("router stopped");
    });
}
