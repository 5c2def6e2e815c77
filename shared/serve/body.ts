import type { IncomingMessage } from "node:http";
import { HttpError } from "./http-error.js";
import { allowBody } from "./http-listener.js";

/** JSON, and what curl -d and fetch send by default for a JSON string. */
const ACCEPTED_TYPES = /^\s*(application\/([\w.-]+\+)?json|text\/plain|application\/x-www-form-urlencoded)\s*(;|$)/i;

/** Past this many bytes a refused body is no longer read to its end: the connection is dropped. */
const DISCARD_CAP = 64 * 2 ** 20;

/**
 * The client hung up before its request was complete. Not an error of the server and not an
 * answer to anyone: the server counts it (recship_http_client_aborts_total) and moves on, with
 * no log line, so a client cannot flood the log by hanging up.
 */
export class ClientAbort extends Error {
  constructor() {
    super("the client closed the connection before the request was complete");
    this.name = "ClientAbort";
  }
}

/**
 * Reads a request body of at most `limit` bytes and parses it as JSON. A body over the limit
 * (declared or streamed) is read to its end and discarded before the 413 goes out, so the
 * client, still uploading, gets the answer instead of a reset connection; past DISCARD_CAP the
 * connection is dropped instead. A client that hangs up mid-body rejects with ClientAbort.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers["content-type"];
  if (type && !ACCEPTED_TYPES.test(type)) {
    req.resume();
    throw new HttpError(415, `content-type must be application/json (binary tensors are not supported), got ${quote(type)}`);
  }
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) {
    if (Number(declared) > DISCARD_CAP) req.destroy();
    else req.resume();
    throw new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes (--max-body-bytes)`);
  }
  allowBody(req);
  const text = await readText(req, limit);
  if (text.length === 0) throw new HttpError(400, "request body is empty; send a JSON object");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `request body is not valid JSON: ${clip((error as Error).message, 200)}`);
  }
}

function readText(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > DISCARD_CAP) req.destroy();
      else if (size <= limit) chunks.push(chunk);
    });
    req.on("end", () => {
      if (size > limit) reject(new HttpError(413, `request body exceeds the limit of ${limit} bytes (--max-body-bytes)`));
      else resolve(Buffer.concat(chunks).toString("utf8"));
    });
    // an aborted upload emits "error" (ECONNRESET "aborted") and "close": the client's doing either way
    req.on("error", () => reject(new ClientAbort()));
    req.on("close", () => {
      if (!req.complete) reject(new ClientAbort());
    });
  });
}

/** The parsed body as a plain object, or a 400 naming what came instead. */
export function asObject(value: unknown, what = "request body"): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new HttpError(400, `${what} must be a JSON object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

/** What a client sent, in a few words, for error messages (strings are clipped: an error never echoes a whole request). */
export function describe(value: unknown): string {
  if (value === undefined) return "nothing (the field is missing)";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${quote(value)}`;
  return `${typeof value === "object" ? "an object" : `the ${typeof value} ${clip(String(value), 40)}`}`;
}

/** A client's text in quotes, clipped to `max` characters. */
function quote(text: string, max = 40): string {
  return JSON.stringify(clip(text, max));
}

export function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** `"a", "b", "c" and 12 more`: the first few of a client's names, clipped, for error messages. */
export function quoteList(names: readonly string[], shown = 5): string {
  const listed = names.slice(0, shown).map((name) => quote(name));
  return names.length > shown ? `${listed.join(", ")} and ${names.length - shown} more` : listed.join(", ");
}
