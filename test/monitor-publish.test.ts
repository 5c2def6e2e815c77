import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { monitorCommentMarker, publishVerdict } from "../shared/canary/publish.js";
import { githubClient } from "../shared/github/client.js";
import { memoryLogger } from "../shared/log.js";
import { startFakeGitHub, type FakeGitHub } from "./helpers/github-server.js";

/** GitHub's commit-comment endpoints (list, create, update), on 127.0.0.1. */
async function fakeCommitComments() {
  const comments: { id: number; commit_id: string; body: string; html_url: string }[] = [];
  let next = 500;
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as { body: string }) : undefined;
    const list = /^\/repos\/[^/]+\/[^/]+\/commits\/([0-9a-f]+)\/comments$/.exec(url.pathname);
    const one = /^\/repos\/[^/]+\/[^/]+\/comments\/(\d+)$/.exec(url.pathname);
    if (list && req.method === "GET")
      return send(
        200,
        comments.filter((c) => c.commit_id === list[1]),
      );
    if (list && req.method === "POST") {
      const c = { id: next++, commit_id: list[1], body: body!.body, html_url: `https://github.com/o/r/commit/${list[1]}#c${next}` };
      comments.push(c);
      return send(201, c);
    }
    if (one && req.method === "PATCH") {
      const c = comments.find((x) => x.id === Number(one[1]));
      if (!c) return send(404, { message: "Not Found" });
      c.body = body!.body;
      return send(200, c);
    }
    send(404, { message: "Not Found" });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    comments,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

let pr: FakeGitHub;
let commits: Awaited<ReturnType<typeof fakeCommitComments>>;
beforeAll(async () => {
  pr = await startFakeGitHub();
  commits = await fakeCommitComments();
});
afterAll(async () => {
  await pr?.close();
  await commits?.close();
});

const sha = "0123456789abcdef0123456789abcdef01234567";

describe("publishing the verdict", () => {
  it("keeps one sticky comment on the pull request the deployment came from", async () => {
    const client = githubClient("t", pr.url);
    const marker = monitorCommentMarker("shop");
    const first = await publishVerdict(client, { owner: "o", repo: "r", pullRequest: 3, sha }, marker, "held", memoryLogger());
    const second = await publishVerdict(client, { owner: "o", repo: "r", pullRequest: 3, sha }, marker, "promoted", memoryLogger());
    expect([first.action, second.action]).toEqual(["created", "updated"]);
    expect(pr.comments.map((c) => [c.issue, c.body])).toEqual([[3, `${marker}\npromoted`]]);
  });

  it("comments on the commit when there is no pull request, edited in place on a re-run", async () => {
    const client = githubClient("t", commits.url);
    const marker = monitorCommentMarker("shop");
    const first = await publishVerdict(client, { owner: "o", repo: "r", sha }, marker, "rolled back", memoryLogger());
    const again = await publishVerdict(client, { owner: "o", repo: "r", sha }, marker, "rolled back", memoryLogger());
    const changed = await publishVerdict(client, { owner: "o", repo: "r", sha }, marker, "promoted", memoryLogger());
    expect([first.action, again.action, changed.action]).toEqual(["created", "unchanged", "updated"]);
    expect(commits.comments.map((c) => [c.commit_id, c.body])).toEqual([[sha, `${marker}\npromoted`]]);
  });

  it("turns a refused comment into a warning, not a failure", async () => {
    pr.forbidden = true;
    const log = memoryLogger();
    const r = await publishVerdict(
      githubClient("t", pr.url),
      { owner: "o", repo: "r", pullRequest: 3 },
      monitorCommentMarker("x"),
      "x",
      log,
    );
    pr.forbidden = false;
    expect(r.action).toBe("skipped");
    expect(log.warnings[0]).toMatch(/skipped the pull request comment/);
  });
});
