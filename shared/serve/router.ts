import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError } from "./http-error.js";

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  url: URL;
}

/** What a handler returns: a JSON body (status 200 unless given), or a raw body with its content type. */
export type RouteResult =
  { status?: number; body: unknown; headers?: Record<string, string> } | { raw: true; body: string; contentType: string };

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

  /** The matching route, a 405 naming the allowed methods, or undefined (404). */
  match(method: string, pathname: string): { route: Route; params: Record<string, string> } | HttpError | undefined {
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
    if (allowed.length)
      return new HttpError(405, `${method} is not allowed on ${pathname}; use ${allowed.join(" or ")}`, { allow: allowed.join(", ") });
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
