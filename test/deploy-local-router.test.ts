import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../shared/deploy/local/free-port.js";
import { RouterAdmin } from "../shared/deploy/local/router-admin.js";
import { TrafficRouter, type RouteBackend } from "../shared/deploy/local/traffic-router.js";
import { SmoothWeightedSplit } from "../shared/deploy/local/traffic-split.js";
import { memoryLogger } from "../shared/log.js";
import { postJson } from "./helpers/serve-process.js";

/** A stand-in model server: answers with its name and the request id prefix it was given; `hold` keeps answers back. */
interface Fake {
  url: string;
  name: string;
  seen: string[];
  held: (() => void)[];
  hold: boolean;
  server: Server;
}

async function fakeServer(name: string, tag: string): Promise<Fake> {
  const fake: Fake = { url: "", name, seen: [], held: [], hold: false, server: undefined as unknown as Server };
  fake.server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      fake.seen.push(`${req.method} ${req.url} ${body}`);
      const answer = () => {
        res.writeHead(200, { "content-type": "application/json", "x-recship-variant": name });
        res.end(JSON.stringify({ server: name, request_id: `${tag}-${fake.seen.length}` }));
      };
      if (fake.hold) fake.held.push(answer);
      else answer();
    });
  });
  await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
  fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
  return fake;
}

const token = "t0ken";
const router = new TrafficRouter({ token, log: memoryLogger() });
let url = "";
let admin: RouterAdmin;
let stable: Fake;
let canary: Fake;
const backend = (f: Fake, variant: "stable" | "canary", tag: string): RouteBackend => ({ variant, url: f.url, tag, version: f.name });

beforeAll(async () => {
  const listening = await router.listen(0, await freePort());
  url = listening.url;
  admin = new RouterAdmin(listening.adminUrl, token);
  stable = await fakeServer("A", "sA");
  canary = await fakeServer("B", "cB");
});

afterAll(async () => {
  await router.close();
  for (const f of [stable, canary]) {
    f.held.forEach((a) => a());
    f.server.closeAllConnections();
    await new Promise((r) => f.server.close(r));
  }
});

describe("SmoothWeightedSplit", () => {
  it("gives each choice exactly its share, evenly spread", () => {
    const split = new SmoothWeightedSplit([
      { value: "s", weight: 90 },
      { value: "c", weight: 10 },
    ]);
    const picks = Array.from({ length: 100 }, () => split.pick());
    expect(picks.filter((p) => p === "c")).toHaveLength(10);
    // never two canary picks within 5 of each other
    const at = picks.flatMap((p, i) => (p === "c" ? [i] : []));
    expect(at.slice(1).every((i, j) => i - at[j] >= 5)).toBe(true);
    expect(new SmoothWeightedSplit([{ value: 1, weight: 0 }]).pick()).toBeUndefined();
  });
});

describe("TrafficRouter", () => {
  it("answers 503 with nothing deployed, and refuses admin calls without the token", async () => {
    const res = await postJson(`${url}/v1/recommend`, { items: [] });
    expect(res).toMatchObject({ status: 503, body: { error: "no model is deployed behind the router" } });
    expect(await new RouterAdmin(admin.url, "wrong").alive()).toBe(false);
    expect(await admin.alive()).toBe(true);
    expect((await fetch(`${url}/elsewhere`)).status).toBe(404);
  });

  it("splits by weight, pins by header, and sends feedback back to the server that answered", async () => {
    await admin.setRoutes({ stable: backend(stable, "stable", "sA"), canary: backend(canary, "canary", "cB"), weight: 25 });
    const answers = await Promise.all(Array.from({ length: 40 }, () => postJson(`${url}/v1/recommend`, { items: [] })));
    expect(answers.filter((a) => a.body.server === "B")).toHaveLength(10);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(answers[0].headers.get("x-recship-variant")).toMatch(/^[AB]$/);

    const pinned = await postJson(`${url}/v2/models/recommender/infer`, {}, { "x-recship-variant": "canary" });
    expect(pinned.body.server).toBe("B");
    expect(canary.seen.at(-1)).toMatch(/^POST \/v2\/models\/recommender\/infer /);

    for (let i = 0; i < 6; i++) {
      const fromCanary = await postJson(`${url}/v1/feedback`, { request_id: "cB-123", item: "x", event: "click" });
      expect(fromCanary.body.server).toBe("B");
    }
    expect((await postJson(`${url}/v1/feedback`, { request_id: "sA-9", item: "x", event: "click" })).body.server).toBe("A");
    // a request id of a server that is gone: stable takes it
    expect((await postJson(`${url}/v1/feedback`, { request_id: "zz-1", item: "x", event: "click" })).body.server).toBe("A");
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/recship_router_requests_total\{variant="canary",status="200"\} \d+/);
    expect(metrics).toMatch(/recship_router_canary_weight 25/);
  });

  it("switches at once but answers setRoutes only when the removed server has finished its requests", async () => {
    canary.hold = true;
    const slow = postJson(`${url}/v1/recommend`, { items: [] }, { "x-recship-variant": "canary" });
    while (canary.held.length === 0) await new Promise((r) => setTimeout(r, 10));
    let switched = false;
    const switching = admin.setRoutes({ stable: backend(stable, "stable", "sA"), weight: 0 }).then((r) => {
      switched = true;
      return r;
    });
    // new requests go to stable only, while the canary's request is still held
    while ((await admin.routes()).canary) await new Promise((r) => setTimeout(r, 10));
    const after = await Promise.all(Array.from({ length: 5 }, () => postJson(`${url}/v1/recommend`, { items: [] })));
    expect(after.map((a) => a.body.server)).toEqual(["A", "A", "A", "A", "A"]);
    expect(switched).toBe(false);
    canary.held.splice(0).forEach((answer) => answer());
    expect((await slow).body.server).toBe("B");
    expect(await switching).toEqual({ drained: true, removed: [canary.url] });
  });

  it("answers 502 naming the variant when its server is down", async () => {
    const port = await freePort();
    await admin.setRoutes({ stable: { variant: "stable", url: `http://127.0.0.1:${port}`, tag: "sX", version: "X" }, weight: 0 });
    const res = await postJson(`${url}/v1/recommend`, { items: [] });
    expect(res).toMatchObject({ status: 502, body: { error: "the stable server did not answer" } });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/recship_router_upstream_errors_total\{variant="stable",kind="retried"\} 3/);
    expect(metrics).toMatch(/recship_router_upstream_errors_total\{variant="stable",kind="failed"\} 1/);
  });
});
