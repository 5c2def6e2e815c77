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
  /**
   * The status this connection was refused with (408 after a timeout, 400 for a malformed
   * request, ...), if the server refused it: the request cut off with it is counted as that, not
   * as the client's abort.
   */
  refusedWith(socket: Duplex): number | undefined;
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
      // checked below, to answer with a JSON error like every other refusal
      requireHostHeader: false,
    },
    (req, res) => {
      trackAnswer(req, res);
      const problem = protocolProblem(req);
      if (problem === undefined) handler(req, res);
      else {
        res.setHeader("connection", "close");
        sendError(res, 400, problem);
      }
    },
  );
  // Expect: 100-continue: the 100 goes out only once a handler starts reading the body (see allowBody)
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
    awaitingContinue.set(req, res);
    server.emit("request", req, res);
  });
  server.on("checkExpectation", (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader("connection", "close");
    sendError(
      res,
      417,
      `Expect: ${JSON.stringify(clipText(String(req.headers.expect), 40))} is not supported; send the request without it`,
    );
  });
  server.maxConnections = limits.maxConnections;
  server.on("drop", () => metrics.connectionErrors.inc({ reason: "over_connection_limit" }));
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    const state = socketState(socket);
    if (state.refusal) return; // the parser reports every later chunk too
    const refusal = clientErrorRefusal(error.code);
    state.refusal = refusal;
    const waiting = [...state.pending];
    const cutOff = waiting.some((req) => !req.complete);
    // a client that leaves mid-request is counted by the request's route, as an abort
    if (!(refusal.status === undefined && cutOff)) metrics.connectionErrors.inc({ reason: refusal.reason });
    // whole requests read before the bad one are answered first (pipelining); one cut off by it goes with the connection
    if (waiting.length === 0 || refusal.status === undefined || cutOff) refuse(socket, refusal);
  });
  return { server, refusedWith: (socket) => sockets.get(socket)?.refusal?.status };
}

/** What HTTP/1.x requires that Node lets through: a version 1 request line, a Host header in 1.1. */
function protocolProblem(req: IncomingMessage): string | undefined {
  if (req.httpVersionMajor !== 1) return `HTTP/${req.httpVersion} is not supported; send HTTP/1.1`;
  if (req.httpVersionMinor === 1 && req.headers.host === undefined) return "an HTTP/1.1 request needs a Host header";
  return undefined;
}

interface SocketState {
  /** Requests on this connection whose answers have not closed yet. */
  pending: Set<IncomingMessage>;
  /** What the connection is refused for, once the parser or a timeout gave up on it. */
  refusal?: Refusal;
}

const sockets = new WeakMap<Duplex, SocketState>();

function socketState(socket: Duplex): SocketState {
  let state = sockets.get(socket);
  if (!state) sockets.set(socket, (state = { pending: new Set() }));
  return state;
}

/** Counts the connection's open answers; a refusal waiting for them goes out after the last. */
function trackAnswer(req: IncomingMessage, res: ServerResponse): void {
  const socket = req.socket;
  const state = socketState(socket);
  state.pending.add(req);
  res.once("close", () => {
    state.pending.delete(req);
    if (state.pending.size === 0 && state.refusal) refuse(socket, state.refusal);
  });
}

/** Answers the refusal on the raw connection (nobody to answer after a reset) and closes it. */
function refuse(socket: Duplex, refusal: Refusal): void {
  if (refusal.status === undefined || !socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(rawJsonResponse(refusal.status, refusal.message), () => socket.destroy());
}

const awaitingContinue = new WeakMap<IncomingMessage, ServerResponse>();

/** A client waiting for "100 Continue" before it sends its body is told to go ahead (once the body is wanted: never for a refused request). */
export function allowBody(req: IncomingMessage): void {
  const res = awaitingContinue.get(req);
  if (!res) return;
  awaitingContinue.delete(req);
  res.writeContinue();
}

/** Whether the client still waits for "100 Continue": an answer that refuses its body closes the connection (the body never comes). */
export function awaitsContinue(req: IncomingMessage): boolean {
  return awaitingContinue.has(req);
}

function clipText(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

interface Refusal {
  reason: ConnectionErrorReason;
  /** undefined: nobody to answer (the client reset the connection). */
  status?: number;
  message: string;
}

/** What the parser's (or Node's timeout checker's) error code means for the client. */
function clientErrorRefusal(code: string | undefined): Refusal {
  // the client reset the connection, or closed it in the middle of a request (EOF)
  if (code === "ECONNRESET" || code === "EPIPE" || code === "HPE_INVALID_EOF_STATE") return { reason: "connection_reset", message: "" };
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
  sendJson(res, status, { error: clipText(message, MAX_ERROR_CHARS) }, headers);
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
