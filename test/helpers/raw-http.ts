import { connect, type Socket } from "node:net";

/** A response read off a raw socket: status, lower-cased headers, the body (chunked decoded), and whether it was complete. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** The whole body arrived: Content-Length bytes, or the last chunk of a chunked body. */
  complete: boolean;
}

/** The first final (not 1xx) HTTP/1.1 response in `raw`; undefined when not even its head arrived. */
export function parseRawResponse(raw: Buffer): RawResponse | undefined {
  return parseRawResponses(raw)[0];
}

/** Every final response in `raw`, in order (pipelined requests get one each); 1xx interim responses are skipped. */
export function parseRawResponses(raw: Buffer): RawResponse[] {
  const out: RawResponse[] = [];
  let rest = raw;
  for (;;) {
    const one = parseOne(rest);
    if (!one) return out;
    if (one.response.status >= 200) out.push(one.response);
    if (!one.response.complete) return out;
    rest = rest.subarray(one.length);
  }
}

function parseOne(raw: Buffer): { response: RawResponse; length: number } | undefined {
  const headEnd = raw.indexOf("\r\n\r\n");
  if (headEnd < 0) return undefined;
  const [statusLine, ...lines] = raw.subarray(0, headEnd).toString("latin1").split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(statusLine.split(" ")[1]);
  const rest = raw.subarray(headEnd + 4);
  if (status < 200) return { response: { status, headers, body: "", complete: true }, length: headEnd + 4 };
  if (headers["transfer-encoding"] === "chunked") {
    const { body, complete, length } = decodeChunked(rest);
    return { response: { status, headers, body, complete }, length: headEnd + 4 + length };
  }
  const declared = headers["content-length"] === undefined ? undefined : Number(headers["content-length"]);
  const body = declared === undefined ? rest : rest.subarray(0, declared);
  const complete = declared === undefined || rest.length >= declared;
  return { response: { status, headers, body: body.toString("utf8"), complete }, length: headEnd + 4 + body.length };
}

function decodeChunked(raw: Buffer): { body: string; complete: boolean; length: number } {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = raw.indexOf("\r\n", at);
    if (lineEnd < 0) break;
    const size = parseInt(raw.subarray(at, lineEnd).toString("latin1"), 16);
    if (!Number.isFinite(size)) break;
    if (size === 0) return { body: Buffer.concat(parts).toString("utf8"), complete: true, length: lineEnd + 4 };
    if (raw.length < lineEnd + 2 + size) break;
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return { body: Buffer.concat(parts).toString("utf8"), complete: false, length: raw.length };
}

export interface RawConnection {
  socket: Socket;
  /** Everything received so far. */
  received(): Buffer;
  /** Resolves with the first bytes that come back. */
  firstData: Promise<void>;
  /** Resolves when the connection is closed (by either side), with everything received and the error that closed it, if any. */
  closed: Promise<{ raw: Buffer; error?: NodeJS.ErrnoException }>;
}

/** Opens a TCP connection to `url`'s host and port and writes `text` (when given). */
export function rawConnection(url: string, text?: string | Buffer): RawConnection {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  const chunks: Buffer[] = [];
  let error: NodeJS.ErrnoException | undefined;
  let gotData!: () => void;
  const firstData = new Promise<void>((resolve) => (gotData = resolve));
  socket.on("data", (d: Buffer) => {
    chunks.push(d);
    gotData();
  });
  socket.on("error", (e: NodeJS.ErrnoException) => (error = e));
  const closed = new Promise<{ raw: Buffer; error?: NodeJS.ErrnoException }>((resolve) =>
    socket.once("close", () => resolve({ raw: Buffer.concat(chunks), ...(error ? { error } : {}) })),
  );
  if (text !== undefined) socket.write(text);
  return { socket, received: () => Buffer.concat(chunks), firstData, closed };
}

/** A POST request's text with a JSON body and Content-Length (`Connection: close` unless told otherwise). */
export function postText(path: string, body: string, extraHeaders = "Connection: close\r\n"): string {
  return (
    `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n${extraHeaders}\r\n${body}`
  );
}
