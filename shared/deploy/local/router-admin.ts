import { RecshipError } from "../../errors.js";
import type { Routes } from "./traffic-router.js";

/** The CLI's handle on a running router's admin listener. */
export class RouterAdmin {
  constructor(
    readonly url: string,
    private readonly token: string,
  ) {}

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const res = await fetch(this.url + path, {
      method,
      headers: { authorization: `Bearer ${this.token}`, "content-type": "application/json" },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(120_000),
    });
    const parsed = (await res.json()) as { error?: string };
    if (!res.ok) throw new RecshipError(`the router refused ${method} ${path}: ${parsed.error ?? res.status}`);
    return parsed;
  }

  /** Whether a router answers with this token. */
  async alive(): Promise<boolean> {
    try {
      await this.call("GET", "/health");
      return true;
    } catch {
      return false;
    }
  }

  routes(): Promise<Routes> {
    return this.call("GET", "/routes") as Promise<Routes>;
  }

  /** Resolves once traffic is switched and the servers taken out have drained. */
  async setRoutes(routes: Routes): Promise<{ drained: boolean; removed: string[] }> {
    return (await this.call("PUT", "/routes", routes)) as { drained: boolean; removed: string[] };
  }
}
