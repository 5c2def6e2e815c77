import type { IncomingMessage, ServerResponse } from "node:http";
import { clip } from "./body.js";
import { HttpError } from "./http-error.js";

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  url: URL;
}

/**
 * What a handler returns: a JSON body (status 200 unless given), a raw body with its content
 * type, or a JSON answer in text pieces with an upper bound of its size (streamed when large).
 */
export type RouteResult =
  | { status?: number; body: unknown; headers?: Record<string, string> }
  | { raw: true; body: string; contentType: string }
  | { pieces: Iterable<string>; estimatedBytes: number };

export type Handler = (ctx: RouteContext) => Promise<RouteResult> | RouteResult;

interface Route {
  method: string;
  /** The route's name in metrics, e.g. "/v2/models/:name/infer" (never the raw path: bounded label values). */
  name: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

/** A tiny path router: literal segments and `:param` segments, nothing else. */
export class Router {
  private readonly routes: Route[] = [];
  /** Routes without parameters by "METHOD path": the hot routes are found without trying every pattern. */
  private readonly literal = new Map<string, Route>();

  /** `path` is literal but for `:param` segments; `name` (default: `path`) labels the route in metrics. */
  add(method: string, path: string, handler: Handler, name = path): this {
    const keys: string[] = [];
    const source = path
      .split("/")
      .map((segment) => {
        if (!segment.startsWith(":")) return segment.replace(/[.+*?^$|()[\]{}\\]/g, "\\$&");
        keys.push(segment.slice(1));
        return "([^/]+)";
      })
      .join("/");
    const route: Route = { method, name, pattern: new RegExp(`^${source}$`), keys, handler };
    // earlier routes win: a literal path an earlier route already matches stays with the pattern search
    const shadowed = this.routes.some((r) => r.method === method && r.pattern.test(path));
    this.routes.push(route);
    if (keys.length === 0 && !shadowed) this.literal.set(`${method} ${path}`, route);
    return this;
  }

  /**
   * The matching route, a 405 naming the allowed methods, or undefined (404). HEAD is answered
   * by the GET route (Node sends the headers without the body), and one trailing slash is
   * ignored: the Open Inference Protocol spells the server metadata path `GET /v2/`.
   */
  match(requestMethod: string, requestPath: string): { route: Route; params: Record<string, string> } | HttpError | undefined {
    const method = requestMethod === "HEAD" ? "GET" : requestMethod;
    const pathname = requestPath.length > 1 && requestPath.endsWith("/") ? requestPath.slice(0, -1) : requestPath;
    const literal = this.literal.get(`${method} ${pathname}`);
    if (literal) return { route: literal, params: {} };
    const allowed: string[] = [];
    for (const route of this.routes) {
      const m = route.pattern.exec(pathname);
      if (!m) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      route.keys.forEach((key, i) => {
        const raw = m[i + 1];
        if (raw !== undefined) params[key] = safeDecode(raw);
      });
      return { route, params };
    }
    if (allowed.length) {
      const allow = [...new Set(allowed.flatMap((m) => (m === "GET" ? ["GET", "HEAD"] : [m])))];
      return new HttpError(405, `${clip(requestMethod, 20)} is not allowed on ${clip(requestPath, 100)}; use ${allowed.join(" or ")}`, {
        allow: allow.join(", "),
      });
    }
    return undefined;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
