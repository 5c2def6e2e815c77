import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Server as NetServer } from "node:net";
import type { Duplex } from "node:stream";
import type { ConnectionErrorReason, ServeMetrics } from "./metrics.js";
import type { ServerLimits } from "./limits.js";

/**
 * The server's HTTP/1.1 listener, hardened: every request must arrive within the headers and
 * request timeouts, idle keep-alive connections close after the keep-alive timeout (announced
 * to clients), connections past the cap are closed as they arrive, and what the parser refuses
 * (bad request lines, huge headers, bad chunked encoding, timeouts) is answered with a JSON error
 * and counted, never logged.
 */
export interface Listener {
  server: Server;
  /** Whether the server cut this connection for not sending its request in time (it is counted as that, not as an abort). */
  timedOut(socket: Duplex): boolean;
}

export function createListener(
  limits: ServerLimits,
  metrics: ServeMetrics,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Listener {
  const server = createServer(
    {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // how often Node looks for requests past their timeouts: a tenth of the shorter one, 25 ms to 1 s
      connectionsCheckingInterval: Math.min(1000, Math.max(25, Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 10)),
    },
    handler,
  );
  server.maxConnections = limits.maxConnections;
  server.on("drop", () => metrics.connectionErrors.inc({ reason: "over_connection_limit" }));
  const timedOut = new WeakSet<Duplex>();
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    const refusal = clientErrorRefusal(error.code);
    metrics.connectionErrors.inc({ reason: refusal.reason });
    if (refusal.reason === "request_timeout") timedOut.add(socket);
    if (refusal.status === undefined || !socket.writable) {
      socket.destroy();
      return;
    }
    socket.end(rawJsonResponse(refusal.status, refusal.message), () => socket.destroy());
  });
  return { server, timedOut: (socket) => timedOut.has(socket) };
}

interface Refusal {
  reason: ConnectionErrorReason;
  /** undefined: nobody to answer (the client reset the connection). */
  status?: number;
  message: string;
}

/** What the parser's (or Node's timeout checker's) error code means for the client. */
function clientErrorRefusal(code: string | undefined): Refusal {
  if (code === "ECONNRESET" || code === "EPIPE") return { reason: "connection_reset", message: "" };
  if (code === "ERR_HTTP_REQUEST_TIMEOUT") {
    return {
      reason: "request_timeout",
      status: 408,
      message:
        "the request did not arrive in time (--headers-timeout for its headers, --request-timeout for all of it); send it whole, at once",
    };
  }
  if (code === "HPE_HEADER_OVERFLOW") {
    return {
      reason: "headers_too_large",
      status: 431,
      message: "the request's headers are too large (at most 16 KiB in all); send fewer or shorter headers",
    };
  }
  return {
    reason: "malformed",
    status: 400,
    message: `the request is not valid HTTP/1.1 (${code ?? "unknown parser error"}); check the request line, the headers and the body's framing (Content-Length or chunked)`,
  };
}

function rawJsonResponse(status: number, message: string): string {
  const body = JSON.stringify({ error: message });
  const reason = { 400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large" }[status] ?? "Error";
  return (
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

/**
 * Stops accepting connections and resolves once every open connection has closed. Unlike
 * http.Server#close it does not destroy the connections Node counts as idle: that includes one
 * whose answer has been handed over but not yet flushed to the client, which a destroy cuts off.
 * Open connections close as their requests end (answers carry Connection: close while
 * draining) or, when idle, at the keep-alive timeout they announced.
 */
export function stopListening(server: Server): Promise<void> {
  return new Promise((resolve) => NetServer.prototype.close.call(server, () => resolve()));
}

/** After the last connection: stops Node's timeout checker (http.Server#close does; on a closed server it only reports that). */
export function releaseListener(server: Server): void {
  server.close(() => undefined);
}

/** Longest error message sent: an error never repeats a whole request back. */
const MAX_ERROR_CHARS = 1000;

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    // an answer already on its way cannot turn into an error: cut it, so the client sees it incomplete
    res.destroy();
    return;
  }
  sendText(res, status, JSON.stringify(body), headers);
}

export function sendError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const clipped = message.length > MAX_ERROR_CHARS ? `${message.slice(0, MAX_ERROR_CHARS)}…` : message;
  sendJson(res, status, { error: clipped }, headers);
}

function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string>): void {
  res.writeHead(status, { ...headers, "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/**
 * Sends a JSON answer given as text pieces. A small one (under `streamFrom` bytes, estimated) is
 * joined and sent with its length; a large one is streamed (chunked) as the pieces are made,
 * waiting for the client to take each one, so it is never whole in memory and other requests are
 * served between pieces. A client that takes nothing for `stallMs` is cut off.
 */
export async function sendPieces(
  res: ServerResponse,
  pieces: Iterable<string>,
  estimatedBytes: number,
  options: { streamFrom: number; stallMs: number; headers?: Record<string, string> },
): Promise<void> {
  if (estimatedBytes < options.streamFrom) {
    sendText(res, 200, [...pieces].join(""), options.headers ?? {});
    return;
  }
  res.writeHead(200, { ...options.headers, "content-type": "application/json; charset=utf-8" });
  for (const piece of pieces) {
    if (res.destroyed) return;
    const flowing = res.write(piece);
    if (!flowing && !(await drained(res, options.stallMs))) {
      res.destroy();
      return;
    }
    // let the event loop serve others between pieces
    if (flowing) await new Promise((resolve) => setImmediate(resolve));
  }
  res.end();
}

/** true once the response can take more; false when it closed or stayed full for `ms`. */
function drained(res: ServerResponse, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      res.off("drain", onDrain);
      res.off("close", onClose);
      resolve(ok);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), ms);
    res.on("drain", onDrain);
    res.on("close", onClose);
  });
}
