import type { IncomingMessage } from "node:http";
import { HttpError } from "./http-error.js";

/** JSON, and what curl -d and fetch send by default for a JSON string. */
const ACCEPTED_TYPES = /^\s*(application\/([\w.-]+\+)?json|text\/plain|application\/x-www-form-urlencoded)\s*(;|$)/i;

/** Past this many bytes a refused body is no longer read to its end: the connection is dropped. */
const DISCARD_CAP = 64 * 2 ** 20;

/**
 * Reads a request body of at most `limit` bytes and parses it as JSON. A body over the limit
 * (declared or streamed) is read to its end and discarded before the 413 goes out, so the
 * client, still uploading, gets the answer instead of a reset connection; past DISCARD_CAP the
 * connection is dropped instead.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = req.headers["content-type"];
  if (type && !ACCEPTED_TYPES.test(type)) {
    req.resume();
    throw new HttpError(415, `content-type must be application/json (binary tensors are not supported), got "${type}"`);
  }
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) {
    if (Number(declared) > DISCARD_CAP) req.destroy();
    else req.resume();
    throw new HttpError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  }
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > DISCARD_CAP) req.destroy();
      else if (size <= limit) chunks.push(chunk);
    });
    req.on("end", () => {
      if (size > limit) reject(new HttpError(413, `request body exceeds the limit of ${limit} bytes`));
      else resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", reject);
    // (every request closes; only one that closes before its end is an error worth an Error's stack trace)
    req.on("close", () => {
      if (!req.complete) reject(new HttpError(400, "the client closed the connection before the body was complete"));
    });
  });
  if (text.length === 0) throw new HttpError(400, "request body is empty; send a JSON object");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** The parsed body as a plain object, or a 400 naming what came instead. */
export function asObject(value: unknown, what = "request body"): Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new HttpError(400, `${what} must be a JSON object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

export function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  return `${typeof value === "object" ? "an object" : `the ${typeof value} ${String(value)}`}`;
}
