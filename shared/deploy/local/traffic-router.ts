import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Counter, Gauge, Registry } from "prom-client";
import type { Logger } from "../../log.js";
import { sleep } from "./processes.js";
import { SmoothWeightedSplit } from "./traffic-split.js";

export interface RouteBackend {
  variant: "stable" | "canary";
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  /** The backend's request-id prefix. */
  tag: string;
  version: string;
}

export interface Routes {
  stable?: RouteBackend;
  canary?: RouteBackend;
  /** Canary share in percent. */
  weight: number;
}

/** Largest request body the router buffers (the servers have their own, smaller, limit). */
const MAX_BODY = 16 * 2 ** 20;
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "host",
  "content-length",
]);

interface Upstream {
  backend: RouteBackend;
  agent: Agent;
  inflight: number;
}

/**
 * The local target's front door: routes /v1/* and /v2/* to stable and canary by weight,
 * /v1/feedback back to the server whose request id it names, `x-recship-variant: stable|canary`
 * pins a request. Switching routes never drops a request: requests already sent finish on the
 * old server, and setRoutes resolves only when the servers it removed have none left. A
 * request that finds a keep-alive connection closed under it is retried (bodies are buffered).
 * An admin listener (its own port, bearer token) takes the new routes.
 */
export class TrafficRouter {
  private routes: Routes = { weight: 0 };
  private split = new SmoothWeightedSplit<Upstream>([]);
  private readonly upstreams = new Map<string, Upstream>();
  private readonly server: Server;
  private readonly admin: Server;
  private readonly registry = new Registry();
  private readonly requests: Counter<"variant" | "status">;
  private readonly upstreamErrors: Counter<"variant" | "kind">;
  private readonly weightGauge: Gauge;
  private closing = false;

  constructor(private readonly options: { token: string; log: Logger }) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: "recship_router_requests_total",
      help: "Requests routed, by variant and status",
      labelNames: ["variant", "status"],
      registers,
    });
    this.upstreamErrors = new Counter({
      name: "recship_router_upstream_errors_total",
      help: "Failed attempts to reach a server; kind retried (sent again) or failed (answered 502)",
      labelNames: ["variant", "kind"],
      registers,
    });
    this.weightGauge = new Gauge({ name: "recship_router_canary_weight", help: "Canary share of the traffic, percent", registers });
    this.server = createServer({ keepAliveTimeout: 5_000 }, (req, res) => void this.route(req, res));
    this.admin = createServer((req, res) => void this.handleAdmin(req, res));
  }

  async listen(port: number, adminPort: number, host = "127.0.0.1"): Promise<{ url: string; adminUrl: string }> {
    const bind = (server: Server, p: number) =>
      new Promise<number>((resolve, reject) => {
        server.once("error", reject);
        server.listen(p, host, () => resolve((server.address() as AddressInfo).port));
      });
    const publicPort = await bind(this.server, port);
    const admin = await bind(this.admin, adminPort);
    return { url: `http://${host}:${publicPort}`, adminUrl: `http://127.0.0.1:${admin}` };
  }

  current(): Routes {
    return this.routes;
  }

  /** Switches traffic, then waits until the servers no longer routed to have finished their requests. */
  async setRoutes(routes: Routes, drainTimeoutMs = 60_000): Promise<{ drained: boolean; removed: string[] }> {
    const keep = new Map<string, Upstream>();
    for (const backend of [routes.stable, routes.canary]) {
      if (!backend) continue;
      const existing = this.upstreams.get(backend.url);
      keep.set(
        backend.url,
        existing ? Object.assign(existing, { backend }) : { backend, agent: new Agent({ keepAlive: true, maxSockets: 256 }), inflight: 0 },
      );
    }
    const removed = [...this.upstreams.values()].filter((u) => !keep.has(u.backend.url));
    this.upstreams.clear();
    for (const [url, u] of keep) this.upstreams.set(url, u);
    this.routes = routes;
    const stable = routes.stable && this.upstreams.get(routes.stable.url);
    const canary = routes.canary && this.upstreams.get(routes.canary.url);
    this.split = new SmoothWeightedSplit([
      ...(stable ? [{ value: stable, weight: canary ? 100 - routes.weight : 100 }] : []),
      ...(canary ? [{ value: canary, weight: stable ? routes.weight : 100 }] : []),
    ]);
    this.weightGauge.set(canary ? routes.weight : 0);
    this.options.log.info(
      `routes: stable ${routes.stable ? `${routes.stable.version} @ ${routes.stable.url}` : "none"}, canary ${routes.canary ? `${routes.canary.version} @ ${routes.canary.url} (${routes.weight}%)` : "none"}`,
    );
    const deadline = Date.now() + drainTimeoutMs;
    while (removed.some((u) => u.inflight > 0) && Date.now() < deadline) await sleep(10);
    const drained = removed.every((u) => u.inflight === 0);
    for (const u of removed) u.agent.destroy();
    return { drained, removed: removed.map((u) => u.backend.url) };
  }

  /** Stops accepting, lets in-flight requests finish, closes the admin listener. */
  async close(): Promise<void> {
    this.closing = true;
    const closed = (s: Server) => new Promise<void>((resolve) => s.close(() => resolve()));
    const done = Promise.all([closed(this.server), closed(this.admin)]);
    this.server.closeIdleConnections();
    this.admin.closeIdleConnections();
    await done;
    for (const u of this.upstreams.values()) u.agent.destroy();
  }

  private pick(req: IncomingMessage, body: Buffer, path: string): Upstream | undefined {
    const pinned = req.headers["x-recship-variant"];
    if (pinned === "stable" || pinned === "canary") {
      const backend = this.routes[pinned];
      if (backend) return this.upstreams.get(backend.url);
    }
    if (path === "/v1/feedback") {
      const tag = feedbackTag(body);
      const owner = [...this.upstreams.values()].find((u) => u.backend.tag === tag);
      if (owner) return owner;
      // served by a server that is gone (promoted or rolled back): stable counts it
      if (this.routes.stable) return this.upstreams.get(this.routes.stable.url);
    }
    return this.split.pick();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.once("close", () => {
      if (this.closing) this.server.closeIdleConnections();
    });
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/metrics" && req.method === "GET") {
      res.writeHead(200, { "content-type": this.registry.contentType });
      res.end(await this.registry.metrics());
      return;
    }
    if (!path.startsWith("/v1/") && !path.startsWith("/v2/") && path !== "/v2") {
      sendJson(res, 404, { error: `the router serves /v1/* and /v2/* (and its own /metrics), not ${path}` });
      return;
    }
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (error) {
      sendJson(res, 413, { error: (error as Error).message });
      return;
    }
    for (let attempt = 1; ; attempt++) {
      const upstream = this.pick(req, body, path);
      if (!upstream) {
        sendJson(res, 503, { error: "no model is deployed behind the router" });
        this.requests.inc({ variant: "none", status: "503" });
        return;
      }
      const outcome = await this.forward(req, res, body, upstream);
      if (outcome === "done" || res.destroyed) return; // answered, or the client is gone
      const retry = outcome === "retry" && attempt < 4;
      this.upstreamErrors.inc({ variant: upstream.backend.variant, kind: retry ? "retried" : "failed" });
      if (!retry) {
        if (!res.headersSent) sendJson(res, 502, { error: `the ${upstream.backend.variant} server did not answer` });
        else res.destroy();
        this.requests.inc({ variant: upstream.backend.variant, status: "502" });
        return;
      }
    }
  }

  /** One attempt. "retry": the request never reached the server (refused, or a reused connection closed under it). */
  private forward(req: IncomingMessage, res: ServerResponse, body: Buffer, upstream: Upstream): Promise<"done" | "retry" | "failed"> {
    upstream.inflight++;
    let released = false;
    const release = () => {
      if (!released) upstream.inflight--;
      released = true;
    };
    return new Promise((resolve) => {
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) headers[k] = v;
      headers["content-length"] = String(body.length);
      headers["x-forwarded-for"] = req.socket.remoteAddress ?? "";
      const target = new URL(req.url ?? "/", upstream.backend.url);
      const out = httpRequest(target, { method: req.method, headers, agent: upstream.agent }, (up) => {
        const responseHeaders: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(up.headers))
          if (v !== undefined && (!HOP_BY_HOP.has(k) || k === "content-length")) responseHeaders[k] = v;
        if (this.closing) responseHeaders.connection = "close";
        res.writeHead(up.statusCode ?? 502, responseHeaders);
        up.pipe(res);
        up.once("end", () => {
          release();
          this.requests.inc({ variant: upstream.backend.variant, status: String(up.statusCode) });
          resolve("done");
        });
        // cut off midway (the server died, or the client left and the request was destroyed)
        const cutOff = () => {
          if (up.complete) return;
          release();
          res.destroy();
          resolve("done");
        };
        up.on("error", cutOff);
        up.once("close", cutOff);
      });
      out.on("error", (error: NodeJS.ErrnoException) => {
        release();
        const neverArrived = error.code === "ECONNREFUSED" || (out.reusedSocket && (error.code === "ECONNRESET" || error.code === "EPIPE"));
        resolve(neverArrived && !res.headersSent ? "retry" : "failed");
      });
      res.once("close", () => {
        if (!res.writableFinished) out.destroy();
      });
      out.end(body);
    });
  }

  private async handleAdmin(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers.authorization !== `Bearer ${this.options.token}`) {
      sendJson(res, 401, { error: "missing or wrong admin token" });
      return;
    }
    try {
      if (req.url === "/health" && req.method === "GET") return sendJson(res, 200, { ok: true, pid: process.pid });
      if (req.url === "/routes" && req.method === "GET") return sendJson(res, 200, this.routes);
      if (req.url === "/routes" && req.method === "PUT") {
        const routes = JSON.parse((await readBody(req)).toString("utf8")) as Routes;
        return sendJson(res, 200, await this.setRoutes(routes));
      }
      sendJson(res, 404, { error: `no admin route ${req.method} ${req.url}` });
    } catch (error) {
      sendJson(res, 400, { error: (error as Error).message });
    }
  }
}

function feedbackTag(body: Buffer): string | undefined {
  try {
    const id = (JSON.parse(body.toString("utf8")) as { request_id?: unknown }).request_id;
    return typeof id === "string" ? id.split("-")[0] : undefined;
  } catch {
    return undefined;
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error(`request body exceeds the router's limit of ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}
