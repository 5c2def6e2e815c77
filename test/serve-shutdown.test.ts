import { Agent, get } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildServeBundle, type ServeBundle } from "./helpers/serve-bundle.js";
import { metricValue, spawnRecship, waitFor200, type ChildServer } from "./helpers/serve-process.js";
import { tempDir } from "./helpers/tmp.js";

const root = tempDir("recship-serve-stop-");
let bundle: ServeBundle;
let server: ChildServer | undefined;

beforeAll(async () => {
  bundle = await buildServeBundle(root, 10);
});

afterAll(async () => {
  if (server && server.child.exitCode === null) {
    server.child.kill("SIGKILL");
    await server.exited;
  }
});

async function waitForOutput(s: ChildServer, pattern: RegExp): Promise<void> {
  while (!pattern.test(s.output())) {
    if (s.child.exitCode !== null) throw new Error(`recship serve exited:\n${s.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function listeningUrl(s: ChildServer): Promise<string> {
  for (;;) {
    const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(s.output());
    if (m) return m[1];
    if (s.child.exitCode !== null) throw new Error(`recship serve exited:\n${s.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A request sent by hand: headers and half the body now, the rest when told; the raw response when the server closes. */
function slowRequest(url: string, body: string) {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  let response = "";
  socket.on("data", (d: Buffer) => (response += d.toString()));
  const closed = new Promise<string>((resolve) => socket.once("close", () => resolve(response)));
  const half = Math.floor(body.length / 2);
  socket.write(
    `POST /v1/recommend HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, half)}`,
  );
  return {
    finish: () => socket.write(body.slice(half)),
    response: closed,
  };
}

/** GET over `agent`: status, Connection header and body. */
function getVia(agent: Agent, url: string): Promise<{ status: number; connection: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode!, connection: res.headers.connection, body }));
    }).on("error", reject);
  });
}

/** Whether a new TCP connection to `url` is refused. */
function refused(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED"));
  });
}

describe("recship serve: SIGTERM", () => {
  it("finishes in-flight requests, stops accepting, exits 0", async () => {
    server = spawnRecship(["serve", "--bundle", bundle.dir, "--port", "0", "--variant", "canary", "--request-id-prefix", "c7"]);
    const url = await listeningUrl(server);
    await waitFor200(`${url}/v2/health/ready`, server);

    // three requests the server has started to read, and cannot finish before their bodies come
    const slow = [0, 1, 2].map((i) => slowRequest(url, JSON.stringify({ items: [bundle.items[i]], k: 3 })));
    // one keep-alive connection, open before SIGTERM and idle at that moment
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let tries = 0; ; tries++) {
      const metrics = (await getVia(keepAlive, `${url}/metrics`)).body;
      if (metricValue(metrics, "recship_http_inflight_requests") === 3) break;
      if (tries > 600) throw new Error(`the server never saw the 3 requests:\n${metrics}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    server.child.kill("SIGTERM");
    await waitForOutput(server, /SIGTERM: draining in-flight requests/);
    expect(await refused(url)).toBe(true); // no new connections
    // a request on a connection opened before is still answered, and told the connection closes
    expect(await getVia(keepAlive, `${url}/v2/health/live`)).toMatchObject({ status: 200, connection: "close" });
    keepAlive.destroy();

    for (const s of slow) s.finish();
    const answers = await Promise.all(slow.map((s) => s.response));
    for (const raw of answers) {
      const [head, body] = raw.split("\r\n\r\n");
      expect(head).toMatch(/^HTTP\/1\.1 200 OK/);
      expect(head.toLowerCase()).toContain("connection: close");
      const parsed = JSON.parse(body);
      expect(parsed.items).toHaveLength(3);
      expect(parsed.request_id).toMatch(/^c7-/);
    }
    expect(await server.exited).toBe(0);
    expect(server.output()).toMatch(/stopped/);
  });

  it("exits 1 naming the problem when the bundle has no model", async () => {
    const s = spawnRecship(["serve", "--bundle", root, "--port", "0"]);
    expect(await s.exited).toBe(1);
    expect(s.output()).toMatch(/error: no bundle\.json in ".*": this is not a recship model bundle/);
  });
});
