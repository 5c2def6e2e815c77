import { Option, type Command } from "commander";
import { RecshipError } from "../errors.js";
import { FAULT_INJECTION_ENV, parseFaultInjection } from "../serve/faults.js";
import { DEFAULT_LIMITS, type ServerLimits } from "../serve/limits.js";
import { DEVICES, type Device } from "../serve/ort-session.js";
import { DEFAULT_MODEL_NAME, ModelServer, VARIANTS, type ModelServerOptions, type Variant } from "../serve/server.js";
import { type CommandContext } from "./common.js";
import { int, nonNegative, number, oneOf } from "../util/parse.js";

/** The limit flags (ServerLimits): what one client can make the server do. Seconds on the command line, ms inside. */
const LIMIT_FLAGS: readonly { flag: string; key: keyof ServerLimits; seconds?: true; description: string }[] = [
  { flag: "--max-body-bytes", key: "maxBodyBytes", description: "largest request body" },
  { flag: "--max-infer-rows", key: "maxInferRows", description: "most rows (histories) in one V2 infer request; more: 413" },
  {
    flag: "--max-response-bytes",
    key: "maxResponseBytes",
    description:
      "largest V2 infer answer in bytes of JSON, estimated from the rows and outputs asked for before the model runs; larger: 413",
  },
  {
    flag: "--max-heavy-requests",
    key: "maxHeavyRequests",
    description: "most V2 infer answers of 1 MiB or more built and sent at once; more: 429 with Retry-After",
  },
  {
    flag: "--request-timeout",
    key: "requestTimeoutMs",
    seconds: true,
    description: "longest time to receive a whole request (408 after), and to wait for a client to read a streamed answer",
  },
  {
    flag: "--headers-timeout",
    key: "headersTimeoutMs",
    seconds: true,
    description: "longest time to receive a request's headers (408 after; at most --request-timeout)",
  },
  {
    flag: "--keep-alive-timeout",
    key: "keepAliveTimeoutMs",
    seconds: true,
    description: "how long an idle connection stays open (announced to clients; on SIGTERM idle connections close after it)",
  },
  { flag: "--max-connections", key: "maxConnections", description: "most connections held at once; more are closed as they arrive" },
];

export function registerServe(program: Command, ctx: CommandContext): void {
  const command = program
    .command("serve")
    .description("serve a bundle's model over HTTP: Open Inference Protocol (KServe V2), /v1/recommend, /v1/feedback, /metrics")
    .requiredOption("--bundle <dir>", "bundle folder (with model.onnx from convert)")
    .option("--model <file>", "ONNX file to serve (default: a compressed variant marked chosen, else model.onnx)")
    .option("--skip-bundle-checksums", "serve a bundle edited on purpose, whose files differ from the sha256s bundle.json records")
    .option("--port <port>", "TCP port (0: any free port)", "8080")
    .option("--host <host>", "address to listen on (0.0.0.0 in a container)", "127.0.0.1")
    .option("--name <name>", "model name in /v2/models/{name}", DEFAULT_MODEL_NAME)
    .option("--device <device>", `onnxruntime execution provider: ${DEVICES.join(", ")} (cuda falls back to cpu with a warning)`, "cpu")
    .option(
      "--threads <n>",
      "onnxruntime intra-op threads per session (default with workers: the cores (--cores) minus one for HTTP, or all of them for a model of over 10 M output multiply-adds a request (items x hidden), shared among the workers; with --workers 0: one per core)",
    )
    .option(
      "--cores <n>",
      "CPU cores the server may use, which the default --threads is derived from (default: the usable cores, cgroup CPU limit included)",
    )
    .option("--workers <n>", "worker threads that run the model, each with its own session; 0 = on the main thread", "1")
    .option("--max-batch <n>", "most histories per onnxruntime run", "64")
    .option(
      "--max-delay-ms <ms>",
      "longest wait of a request for others to batch with, cut short when no other request is being read (0: none)",
      "2",
    )
    .option(
      "--no-shared-queue",
      "with one worker: the main thread forms the batches (within --max-delay-ms) instead of the worker taking queued requests from shared memory whenever it is free",
    )
    .option("--variant <variant>", `${VARIANTS.join(" or ")}: a label on every metric and response`, "stable")
    .option("--request-id-prefix <prefix>", "start of every request id (letters, digits), so a router can send feedback back here")
    .option("--drain-timeout <seconds>", "on SIGTERM, longest wait for in-flight requests and open connections before they are cut", "30");
  for (const f of LIMIT_FLAGS) {
    const value = DEFAULT_LIMITS[f.key];
    command.option(`${f.flag} <${f.seconds ? "seconds" : "n"}>`, f.description, String(f.seconds ? value / 1000 : value));
  }
  command
    .addOption(new Option("--allow-fault-injection", `test only: inject the faults ${FAULT_INJECTION_ENV} describes`).hideHelp())
    .action(async (o: Record<string, string | undefined>) => runServe(o, ctx));
}

/** The limit flags' values, checked: whole numbers ≥ 1, or seconds > 0 (as ms). */
function limitOptions(o: Record<string, string | undefined>): Partial<ServerLimits> {
  const limits: Partial<ServerLimits> = {};
  for (const f of LIMIT_FLAGS) {
    const raw = o[f.flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())];
    if (f.seconds) {
      limits[f.key] = number(raw, f.flag)! * 1000;
      continue;
    }
    const n = int(raw, f.flag)!;
    if (n < 1) throw new RecshipError(`${f.flag} must be at least 1, got ${n}`);
    limits[f.key] = n;
  }
  return limits;
}

function serverOptions(o: Record<string, string | undefined>, ctx: CommandContext): ModelServerOptions {
  const maxBatch = int(o.maxBatch, "--max-batch")!;
  if (maxBatch < 1) throw new RecshipError(`--max-batch must be at least 1, got ${maxBatch}`);
  const maxDelayMs = Number(o.maxDelayMs);
  if (!Number.isFinite(maxDelayMs) || maxDelayMs < 0) throw new RecshipError(`--max-delay-ms must be 0 or more, got "${o.maxDelayMs}"`);
  const workers = int(o.workers, "--workers")!;
  if (workers < 0 || workers > 64) throw new RecshipError(`--workers must be 0 to 64, got ${workers}`);
  const cores = int(o.cores, "--cores");
  if (cores !== undefined && (cores < 1 || cores > 1024)) throw new RecshipError(`--cores must be 1 to 1024, got ${cores}`);
  return {
    bundle: String(o.bundle),
    model: o.model,
    verifyChecksums: !o.skipBundleChecksums,
    name: o.name,
    device: oneOf(o.device, DEVICES, "--device") as Device,
    threads: int(o.threads, "--threads"),
    cores,
    workers,
    maxBatch,
    maxDelayMs,
    sharedQueue: (o.sharedQueue as unknown) !== false,
    variant: oneOf(o.variant, VARIANTS, "--variant") as Variant,
    requestIdPrefix: o.requestIdPrefix,
    drainTimeoutMs: nonNegative(o.drainTimeout, "--drain-timeout")! * 1000,
    ...limitOptions(o),
    // test-only fault injection needs both the flag and the variable
    ...(o.allowFaultInjection && process.env[FAULT_INJECTION_ENV] ? { faults: parseFaultInjection(process.env[FAULT_INJECTION_ENV]) } : {}),
    log: ctx.log,
  };
}

async function runServe(o: Record<string, string | undefined>, ctx: CommandContext): Promise<void> {
  const port = int(o.port, "--port")!;
  if (port < 0 || port > 65535) throw new RecshipError(`--port must be 0 to 65535, got ${port}`);
  const server = new ModelServer(serverOptions(o, ctx));
  const { url } = await server.listen(port, o.host);
  ctx.log.info(`listening on ${url} (${server.variant}; ready once the model is loaded)`);
  const stopped = drainOnSignal(server, ctx);
  try {
    await server.load();
  } catch (error) {
    await server.shutdown();
    throw error;
  }
  await stopped;
  ctx.log.info("stopped");
}

/** Resolves once SIGTERM or SIGINT has drained the server (in-flight requests answered). */
function drainOnSignal(server: ModelServer, ctx: CommandContext): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      ctx.log.info(`${signal}: draining in-flight requests, then exiting`);
      server.shutdown().then(resolve, resolve);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
}
