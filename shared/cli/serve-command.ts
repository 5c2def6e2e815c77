import { Option, type Command } from "commander";
import { RecshipError } from "../errors.js";
import { FAULT_INJECTION_ENV, parseFaultInjection } from "../serve/faults.js";
import { DEVICES, type Device } from "../serve/ort-session.js";
import { DEFAULT_MODEL_NAME, ModelServer, VARIANTS, type Variant } from "../serve/server.js";
import { type CommandContext } from "./common.js";
import { int, number, oneOf } from "../util/parse.js";

export function registerServe(program: Command, ctx: CommandContext): void {
  program
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
      "onnxruntime intra-op threads per session (default with workers: the usable cores, cgroup CPU limit included, minus one for HTTP, shared among the workers; with --workers 0: one per core)",
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
    .option("--max-body-bytes <n>", "largest request body", String(2 ** 20))
    .option("--drain-timeout <seconds>", "on SIGTERM, longest wait for in-flight requests", "30")
    .addOption(new Option("--allow-fault-injection", `test only: inject the faults ${FAULT_INJECTION_ENV} describes`).hideHelp())
    .action(async (o: Record<string, string | undefined>) => {
      const port = int(o.port, "--port")!;
      if (port < 0 || port > 65535) throw new RecshipError(`--port must be 0 to 65535, got ${port}`);
      const maxBatch = int(o.maxBatch, "--max-batch")!;
      if (maxBatch < 1) throw new RecshipError(`--max-batch must be at least 1, got ${maxBatch}`);
      const maxDelayMs = Number(o.maxDelayMs);
      if (!Number.isFinite(maxDelayMs) || maxDelayMs < 0) throw new RecshipError(`--max-delay-ms must be 0 or more, got "${o.maxDelayMs}"`);
      const workers = int(o.workers, "--workers")!;
      if (workers < 0 || workers > 64) throw new RecshipError(`--workers must be 0 to 64, got ${workers}`);
      const server = new ModelServer({
        bundle: String(o.bundle),
        model: o.model,
        verifyChecksums: !o.skipBundleChecksums,
        name: o.name,
        device: oneOf(o.device, DEVICES, "--device") as Device,
        threads: int(o.threads, "--threads"),
        workers,
        maxBatch,
        maxDelayMs,
        sharedQueue: (o.sharedQueue as unknown) !== false,
        variant: oneOf(o.variant, VARIANTS, "--variant") as Variant,
        requestIdPrefix: o.requestIdPrefix,
        maxBodyBytes: int(o.maxBodyBytes, "--max-body-bytes"),
        drainTimeoutMs: number(o.drainTimeout, "--drain-timeout")! * 1000,
        // test-only fault injection needs both the flag and the variable
        ...(o.allowFaultInjection && process.env[FAULT_INJECTION_ENV]
          ? { faults: parseFaultInjection(process.env[FAULT_INJECTION_ENV]) }
          : {}),
        log: ctx.log,
      });
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
    });
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
