import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import { RECSHIP_VERSION } from "../version.js";
import { MicroBatcher, type Batcher } from "./batcher.js";
import { PullBatcher } from "./pull-batcher.js";
import { WorkerRunner } from "./worker-runner.js";
import { clip, ClientAbort, readJsonBody } from "./body.js";
import { parseFeedback, RecentRecommendations } from "./feedback.js";
import { injectedDelayMs, preciseDelay, type FaultInjection } from "./faults.js";
import { HttpError } from "./http-error.js";
import {
  awaitsContinue,
  createListener,
  releaseListener,
  sendError,
  sendJson,
  sendPieces,
  stopListening,
  type Listener,
} from "./http-listener.js";
import { HEAVY_RESPONSE_BYTES, HeavySlots, resolveLimits, type ServerLimits } from "./limits.js";
import { ServeMetrics } from "./metrics.js";
import { explanationsJson, knownIndexes, recommendWithExplanations } from "./explain.js";
import { CoverageWindow } from "./coverage.js";
import { COVERAGE_REQUESTS, LIST_LENGTH } from "../bundle/monitoring-reference.js";
import { cgroupCpuQuota, memoryLimitBytes, usableCores } from "../util/cpu-budget.js";
import { parseRecommend } from "./recommend.js";
import { Router, type RouteContext, type RouteResult } from "./router.js";
import { loadServedModel, type ServedModel } from "./served-model.js";
import type { Device } from "./ort-session.js";
import { inferResponsePieces, modelMetadata, parseInferRequest } from "./v2-infer.js";

export const VARIANTS = ["stable", "canary"] as const;
export type Variant = (typeof VARIANTS)[number];

/** The request, answer, timeout and connection limits (see limits.ts; each has a default there). */
export interface ModelServerOptions extends Partial<ServerLimits> {
  /** Bundle folder (bundle.json, items.txt, the ONNX model). */
  bundle: string;
  /** ONNX file to serve instead of the bundle's chosen one. */
  model?: string;
  /** Check the model and vocabulary against the sha256s bundle.json records (default true; false serves a bundle edited on purpose). */
  verifyChecksums?: boolean;
  /** The model's name in /v2/models/{name} (default "recommender"). */
  name?: string;
  device?: Device;
  /** onnxruntime intra-op threads per session (default: see defaultSessionThreads: the usable cores but one, shared among the workers). */
  threads?: number;
  /** CPU cores the default threads are derived from (default: usableCores(), the cgroup CPU limit included). */
  cores?: number;
  /**
   * Worker threads that run the model, each with its own session (default 1): inference then
   * overlaps with HTTP and JSON on the main thread. 0 runs the model on the main thread.
   */
  workers?: number;
  /** Most histories per onnxruntime run (default 64). */
  maxBatch?: number;
  /**
   * With exactly one worker: requests go into a shared-memory queue the worker takes from the
   * moment it is free (continuous batching; default true). false: the main thread forms batches
   * within maxDelayMs and sends them (the only mode with several workers or none).
   */
  sharedQueue?: boolean;
  /** Longest wait for company of a request reaching an idle model, in ms (default 2); cut short when no other request is being read. */
  maxDelayMs?: number;
  /** Always wait the full maxDelayMs, even when no other request is on its way (for tests and experiments). */
  waitFullDelay?: boolean;
  variant?: Variant;
  /** Start of every request id, so a router can send feedback back to this server (letters and digits; default: random). */
  requestIdPrefix?: string;
  /** Largest k for /v1/recommend (default min(1000, items)). */
  maxK?: number;
  /** Longest wait for in-flight requests on shutdown before connections are cut (default 30 s). */
  drainTimeoutMs?: number;
  /** TEST ONLY (canary experiments): errors and latency injected into model requests; see faults.ts. */
  faults?: FaultInjection;
  log: Logger;
}

export const DEFAULT_MODEL_NAME = "recommender";
/** Routes test-only fault injection applies to. */
const FAULTY_ROUTES = new Set(["/v1/recommend", "/v2/models/:name/infer"]);
const MAX_HISTORY_ITEMS = 10_000;
/** An answer estimated at this size or more is streamed in pieces instead of sent whole with its length. */
const STREAM_FROM_BYTES = 256 * 2 ** 10;

/**
 * The model server: Open Inference Protocol (KServe V2) REST plus /v1/recommend and
 * /v1/feedback over the shop's item ids, dynamic micro-batching into onnxruntime-node,
 * Prometheus metrics and a draining shutdown. `listen()` first (liveness answers while the
 * model loads), then `load()` (readiness turns on after the warm-up), `shutdown()` at the end.
 */
export class ModelServer {
  readonly name: string;
  readonly variant: Variant;
  readonly requestIdPrefix: string;
  readonly metrics: ServeMetrics;
  private readonly listener: Listener;
  private readonly limits: ServerLimits;
  private readonly heavy: HeavySlots;
  private readonly router = new Router();
  private readonly recent = new RecentRecommendations();
  private model: ServedModel | undefined;
  /** Distinct items among the last answers (see CoverageWindow), once the model is loaded. */
  private coverage: CoverageWindow | undefined;
  private batcher: Batcher | undefined;
  private isReady = false;
  private draining = false;
  private closing: Promise<void> | undefined;
  private inflight = 0;
  /** Model requests being read or parsed: the batcher need not wait for company when there are none. */
  private arriving = 0;

  constructor(private readonly options: ModelServerOptions) {
    this.name = options.name ?? DEFAULT_MODEL_NAME;
    if (!/^[A-Za-z0-9_.-]{1,100}$/.test(this.name)) {
      throw new RecshipError(`model name "${this.name}" must be 1 to 100 letters, digits, "_", "." or "-"`);
    }
    this.variant = options.variant ?? "stable";
    this.requestIdPrefix = options.requestIdPrefix ?? `${this.variant[0]}${randomBytes(3).toString("hex")}`;
    if (!/^[A-Za-z0-9]{1,32}$/.test(this.requestIdPrefix)) {
      throw new RecshipError(`request id prefix "${this.requestIdPrefix}" must be 1 to 32 letters or digits`);
    }
    this.limits = resolveLimits(options);
    this.metrics = new ServeMetrics({ model: this.name, version: "", variant: this.variant });
    this.metrics.cpuLimit.set(cgroupCpuQuota() ?? usableCores());
    this.metrics.memoryLimit.set(memoryLimitBytes());
    this.heavy = new HeavySlots(this.limits.maxHeavyRequests, (used) => this.metrics.heavyInflight.set(used));
    this.listener = createListener(this.limits, this.metrics, (req, res) => void this.handle(req, res));
    this.routes();
    if (options.faults)
      options.log.warn(`TEST-ONLY FAULT INJECTION IS ON for this ${this.variant} server: ${JSON.stringify(options.faults)}`);
  }

  get ready(): boolean {
    return this.isReady;
  }

  /** The loaded model's version, once loaded. */
  get version(): string | undefined {
    return this.model?.version;
  }

  async listen(port: number, host = "127.0.0.1"): Promise<{ url: string; port: number }> {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) =>
        reject(
          error.code === "EADDRINUSE"
            ? new RecshipError(`port ${port} on ${host} is already in use`, { fix: "pick another --port" })
            : error,
        );
      this.listener.server.once("error", onError);
      this.listener.server.listen(port, host, () => {
        this.listener.server.off("error", onError);
        resolve();
      });
    });
    const address = this.listener.server.address() as AddressInfo;
    const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
    return { url: `http://${shown}:${address.port}`, port: address.port };
  }

  /** Loads the model, runs a warm-up batch of every size the batcher will send, then turns ready. */
  async load(): Promise<void> {
    const { log } = this.options;
    const workers = this.options.workers ?? 1;
    const model = await loadServedModel({
      bundle: this.options.bundle,
      model: this.options.model,
      device: this.options.device ?? "cpu",
      threads: this.options.threads,
      cores: this.options.cores,
      workers,
      verifyChecksums: this.options.verifyChecksums,
      log,
    });
    const { shape } = model.runner;
    const maxBatch = this.options.maxBatch ?? 64;
    const warmStart = performance.now();
    for (const rows of new Set([1, Math.min(8, maxBatch), maxBatch])) {
      // as many runs at once as there are workers, so every worker's session is warm
      await Promise.all(
        Array.from({ length: Math.max(1, workers) }, () => {
          const input = new BigInt64Array(rows * shape.maxlen);
          for (let i = 0; i < input.length; i++) input[i] = BigInt(1 + (i % shape.numItems));
          return model.runner.run(input, rows);
        }),
      );
    }
    if (this.draining) {
      await model.runner.release();
      return;
    }
    this.model = model;
    const onBatch = (rows: number, requests: number, seconds: number) => {
      this.metrics.batchSize.observe(rows);
      this.metrics.batchRequests.observe(requests);
      this.metrics.batchSeconds.observe(seconds);
    };
    this.batcher =
      model.runner instanceof WorkerRunner && workers === 1 && this.options.sharedQueue !== false && !this.options.waitFullDelay
        ? new PullBatcher(model.runner, shape.maxlen, {
            maxBatch,
            capacity: Math.max(4 * maxBatch, this.limits.maxInferRows),
            onBatch,
          })
        : new MicroBatcher((input, rows, fetch) => model.runner.run(input, rows, fetch), shape.maxlen, {
            maxBatch,
            maxDelayMs: this.options.maxDelayMs ?? 2,
            concurrency: Math.max(1, workers),
            ...(this.options.waitFullDelay ? {} : { othersInFlight: () => this.arriving }),
            onBatch,
          });
    this.metrics.registry.setDefaultLabels({ model: this.name, version: model.version, variant: this.variant });
    const reference = model.monitoring?.reference;
    if (reference) this.metrics.setReference(reference);
    this.coverage = new CoverageWindow(
      shape.numItems,
      reference?.coverage.requests ?? COVERAGE_REQUESTS,
      reference?.listLength ?? LIST_LENGTH,
    );
    this.metrics.coverageShare.set(NaN);
    this.metrics.info.set(
      {
        artifact: model.artifact,
        device: model.device,
        created_at: model.manifest.createdAt,
        weights_sha256: model.manifest.weights.sha256.slice(0, 12),
      },
      1,
    );
    this.isReady = true;
    this.metrics.ready.set(1);
    log.info(
      `model "${this.name}" version ${model.version} (${this.variant}) ready: ${shape.numItems} items, maxlen ${shape.maxlen}, top-k output ${shape.topK}, ` +
        `warm-up ${Math.round(performance.now() - warmStart)} ms`,
    );
  }

  /**
   * Stops accepting connections, turns unready, finishes in-flight requests (queued ones run
   * at once), then releases the model. Requests still arriving on open connections are answered
   * (with Connection: close); idle keep-alive connections close at the keep-alive timeout they
   * announced, so a client never sends a request on a connection this server has just closed.
   * Connections still open after drainTimeoutMs are cut.
   */
  shutdown(): Promise<void> {
    this.closing ??= (async () => {
      this.draining = true;
      this.isReady = false;
      this.metrics.ready.set(0);
      this.batcher?.flushNow?.();
      await this.drainConnections();
      releaseListener(this.listener.server);
      await this.batcher?.idle();
      this.batcher?.stop?.();
      await this.model?.runner.release();
    })();
    return this.closing;
  }

  private async drainConnections(): Promise<void> {
    const closed = stopListening(this.listener.server);
    const timeoutMs = this.options.drainTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      closed.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.options.log.warn(`shutdown: ${this.inflight} request(s) still running after ${timeoutMs} ms; closing their connections`);
      this.listener.server.closeAllConnections();
      await closed;
    }
  }

  private routes(): void {
    const r = this.router;
    r.add("GET", "/v2/health/live", () => ({ body: { live: true } }));
    r.add("GET", "/v2/health/ready", () => this.readiness());
    r.add("GET", "/v2", () => ({ body: { name: "recship", version: RECSHIP_VERSION, extensions: [] } })); // and /v2/ (see Router.match)
    for (const v of ["", "/versions/:version"]) {
      r.add("GET", `/v2/models/:name${v}`, (c) => this.metadata(c), "/v2/models/:name");
      r.add("GET", `/v2/models/:name${v}/ready`, (c) => this.modelReady(c), "/v2/models/:name/ready");
      r.add("POST", `/v2/models/:name${v}/infer`, (c) => this.infer(c), "/v2/models/:name/infer");
    }
    r.add("POST", "/v1/recommend", (c) => this.recommend(c));
    r.add("POST", "/v1/feedback", (c) => this.feedback(c));
    r.add("GET", "/metrics", async () => ({
      raw: true as const,
      body: await this.metrics.registry.metrics(),
      contentType: this.metrics.registry.contentType,
    }));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const method = req.method ?? "GET";
    const url = requestUrl(req.url);
    const matched = this.router.match(method, url.pathname);
    const route = matched && !(matched instanceof HttpError) ? matched.route.name : "unmatched";
    const request = this.track(req, res, route, method, started);
    res.setHeader("x-recship-variant", this.variant);
    if (this.model) res.setHeader("x-recship-model-version", this.model.version);
    try {
      if (matched === undefined) throw new HttpError(404, `no route ${clip(method, 20)} ${clip(url.pathname, 100)}`);
      if (matched instanceof HttpError) throw matched;
      const faults = this.options.faults && FAULTY_ROUTES.has(route) ? this.options.faults : undefined;
      if (faults && Math.random() < (faults.errorRate ?? 0)) throw new HttpError(500, "injected fault (test-only fault injection)");
      const result = await matched.route.handler({ req, res, params: matched.params, url });
      const delay = faults ? injectedDelayMs(faults, performance.now() - started) : 0;
      if (delay > 0) await preciseDelay(delay);
      // set late: a request that began before SIGTERM still closes its connection when done
      if (this.draining) res.setHeader("connection", "close");
      await this.send(res, result);
    } catch (error) {
      if ((this.draining || awaitsContinue(req)) && !res.headersSent) res.setHeader("connection", "close");
      if (error instanceof ClientAbort) {
        // the client's doing: counted (an upload the server cut off, e.g. timed out, already is, as that), never logged
        request.abortCounted = true;
        if (this.listener.refusedWith(req.socket) === undefined) this.metrics.clientAborts.inc({ route, phase: "request" });
        res.destroy();
      } else if (error instanceof HttpError) {
        sendError(res, error.status, error.message, error.headers);
      } else {
        this.options.log.warn(`${method} ${clip(url.pathname, 100)} failed (a bug): ${(error as Error)?.stack ?? String(error)}`);
        sendError(res, 500, `internal error: ${(error as Error)?.message ?? String(error)}`);
      }
    }
  }

  /** Counts the request in flight until its answer closes, then by status (or as aborted, or as the connection's refusal, e.g. 408) and latency. */
  private track(req: IncomingMessage, res: ServerResponse, route: string, method: string, started: number): { abortCounted: boolean } {
    const request = { abortCounted: false };
    const counted = route !== "/metrics";
    if (counted) {
      this.inflight++;
      this.metrics.inflight.inc();
    }
    res.once("close", () => {
      if (counted) {
        this.inflight--;
        this.metrics.inflight.dec();
      }
      // a client that left before the answer was complete is not a 200
      const finished = res.writableFinished;
      const refused = finished ? undefined : this.listener.refusedWith(req.socket);
      if (!finished && refused === undefined && !request.abortCounted) this.metrics.clientAborts.inc({ route, phase: "response" });
      this.metrics.requests.inc({ route, method, status: finished ? String(res.statusCode) : (refused?.toString() ?? "aborted") });
      this.metrics.latency.observe({ route }, (performance.now() - started) / 1000);
    });
    return request;
  }

  private async send(res: ServerResponse, result: RouteResult): Promise<void> {
    if ("raw" in result) {
      res.writeHead(200, { "content-type": result.contentType });
      res.end(result.body);
    } else if ("pieces" in result) {
      await sendPieces(res, result.pieces, result.estimatedBytes, { streamFrom: STREAM_FROM_BYTES, stallMs: this.limits.requestTimeoutMs });
    } else {
      sendJson(res, result.status ?? 200, result.body, result.headers);
    }
  }

  private readiness(): RouteResult {
    if (this.isReady) return { body: { ready: true } };
    return { status: 503, body: { ready: false, error: this.draining ? "shutting down" : "the model is loading" } };
  }

  /** The served model, or a 404 for another name/version, or a 503 while loading. */
  private checkModel(params: Record<string, string>): ServedModel {
    if (params.name !== this.name) throw new HttpError(404, `unknown model "${params.name}"; this server serves "${this.name}"`);
    if (!this.model) throw new HttpError(503, "the model is loading");
    if (params.version !== undefined && params.version !== this.model.version) {
      throw new HttpError(404, `model "${this.name}" has no version "${params.version}"; it serves version ${this.model.version}`);
    }
    return this.model;
  }

  private requireReady(): { model: ServedModel; batcher: Batcher } {
    if (!this.model || !this.batcher) throw new HttpError(503, "the model is loading; retry when /v2/health/ready answers 200");
    return { model: this.model, batcher: this.batcher };
  }

  /** Counts a model request as arriving while its body is read and checked (see othersInFlight). */
  private async arrival<T>(read: () => Promise<T>): Promise<T> {
    this.arriving++;
    try {
      return await read();
    } finally {
      this.arriving--;
    }
  }

  private metadata({ params }: RouteContext): RouteResult {
    const model = this.checkModel(params);
    return { body: modelMetadata(this.name, model.version, model.runner.shape) };
  }

  private modelReady({ params }: RouteContext): RouteResult {
    if (params.name !== this.name) throw new HttpError(404, `unknown model "${params.name}"; this server serves "${this.name}"`);
    if (this.model && params.version !== undefined && params.version !== this.model.version) {
      throw new HttpError(404, `model "${this.name}" has no version "${params.version}"; it serves version ${this.model.version}`);
    }
    return this.isReady ? { body: { name: this.name, ready: true } } : { status: 503, body: { name: this.name, ready: false } };
  }

  /**
   * V2 infer. Every limit is checked before the model runs: rows, the answer's size (413), and
   * for a heavy answer a free slot (429); the slot is held until the answer is sent or the client
   * leaves. The answer is streamed when large.
   */
  private async infer({ req, res, params }: RouteContext): Promise<RouteResult> {
    this.checkModel(params);
    const { model, batcher } = this.requireReady();
    const { shape } = model.runner;
    const request = await this.arrival(async () =>
      parseInferRequest(await readJsonBody(req, this.limits.maxBodyBytes), shape, {
        maxRows: this.limits.maxInferRows,
        maxResponseBytes: this.limits.maxResponseBytes,
      }),
    );
    if (request.responseBytes >= HEAVY_RESPONSE_BYTES) this.holdHeavySlot(res, request.responseBytes);
    const slice = await this.toModel(() => batcher.submit(request.input, request.rows, request.outputs));
    const envelope = {
      model_name: this.name,
      model_version: model.version,
      ...(request.id !== undefined ? { id: request.id } : {}),
    };
    return { pieces: inferResponsePieces(envelope, slice, shape, request.outputs), estimatedBytes: request.responseBytes };
  }

  /** A heavy-answer slot (or the 429) until this answer closes, whichever way it ends. */
  private holdHeavySlot(res: ServerResponse, bytes: number): void {
    const release = this.heavy.acquire(bytes);
    res.once("close", release);
    if (res.destroyed) {
      release();
      throw new ClientAbort();
    }
  }

  private async recommend({ req }: RouteContext): Promise<RouteResult> {
    const { model, batcher } = this.requireReady();
    const { shape } = model.runner;
    const request = await this.arrival(async () =>
      parseRecommend(await readJsonBody(req, this.limits.maxBodyBytes), {
        maxK: this.options.maxK ?? Math.min(1000, shape.numItems),
        maxItems: MAX_HISTORY_ITEMS,
      }),
    );
    const { dense, unknown } = model.vocabulary.mapHistory(request.items);
    const picked = await recommendWithExplanations(
      (input, rows, needs) => this.toModel(() => batcher.submit(input, rows, needs)),
      shape,
      dense,
      { k: request.k, excludeSeen: request.excludeSeen, explainLimit: request.explain?.limit },
    );
    this.observeAnswer(model, picked.dense);
    const requestId = `${this.requestIdPrefix}-${randomUUID()}`;
    const items = Array.from(picked.dense, (d) => model.vocabulary.id(d));
    const scores = Array.from(picked.scores);
    this.recent.remember(requestId, items);
    this.metrics.recommendations.inc(items.length);
    if (unknown) this.metrics.unknownItems.inc(unknown);
    for (const s of scores) this.metrics.scores.observe(s);
    if (scores.length) this.metrics.topScore.observe(scores[0]);
    return {
      headers: { "x-request-id": requestId },
      body: {
        request_id: requestId,
        model: { name: this.name, version: model.version, variant: this.variant },
        items,
        scores,
        unknown_items: unknown,
        history_used: Math.min(dense.length, shape.maxlen),
        ...(picked.explanations
          ? { explanations: explanationsJson(picked.explanations, dense, knownIndexes(request.items, model.vocabulary), model.vocabulary) }
          : {}),
      },
    };
  }

  /** A model request counted in the queue depth until it is answered. */
  private async toModel<T>(run: () => Promise<T>): Promise<T> {
    this.metrics.queueDepth.inc();
    try {
      return await run();
    } finally {
      this.metrics.queueDepth.dec();
    }
  }

  /** The popularity of an answer's first items and the coverage window (bounded: no per-item series). */
  private observeAnswer(model: ServedModel, dense: Int32Array): void {
    const coverage = this.coverage!;
    const popularity = model.monitoring?.popularity;
    if (popularity) {
      const n = Math.min(dense.length, coverage.listLength);
      for (let j = 0; j < n; j++) this.metrics.popularity.observe(popularity[dense[j] - 1]);
    }
    coverage.add(dense);
    this.metrics.coverageWindow.set(coverage.size);
    this.metrics.coverageShare.set(coverage.distinctShare);
  }

  private async feedback({ req }: RouteContext): Promise<RouteResult> {
    const body = await readJsonBody(req, this.limits.maxBodyBytes);
    const fb = parseFeedback(body);
    const outcome = this.recent.outcome(fb.requestId, fb.item);
    this.metrics.feedback.inc({ event: fb.event, outcome });
    return {
      status: 202,
      body: {
        accepted: true,
        request_id: fb.requestId,
        event: fb.event,
        outcome,
        model: { name: this.name, version: this.model?.version, variant: this.variant },
      },
    };
  }
}

function requestUrl(raw: string | undefined): URL {
  try {
    return new URL(raw ?? "/", "http://localhost");
  } catch {
    return new URL("http://localhost/");
  }
}

/** listen + load: a ready server, or the load error after the listener is closed again. */
export async function startModelServer(
  options: ModelServerOptions & { port: number; host?: string },
): Promise<{ server: ModelServer; url: string; port: number }> {
  const server = new ModelServer(options);
  const { url, port } = await server.listen(options.port, options.host ?? "127.0.0.1");
  try {
    await server.load();
  } catch (error) {
    await server.shutdown();
    throw error;
  }
  return { server, url, port };
}
