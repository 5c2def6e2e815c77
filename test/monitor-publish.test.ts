import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { monitorCommentMarker, publishVerdict } from "../shared/canary/publish.js";
import { githubClient } from "../shared/github/client.js";
import { memoryLogger } from "../shared/log.js";
import { ACTIONS_BOT_LOGIN, startFakeGitHub, type FakeGitHub } from "./helpers/github-server.js";

let gh: FakeGitHub;
beforeAll(async () => {
  gh = await startFakeGitHub();
});
afterAll(async () => {
  await gh?.close();
});

const sha = "0123456789abcdef0123456789abcdef01234567";

describe("publishing the verdict", () => {
  it("keeps one sticky comment on the pull request the deployment came from", async () => {
    const client = githubClient("t", gh.url);
    const marker = monitorCommentMarker("shop");
    const first = await publishVerdict(client, { owner: "o", repo: "r", pullRequest: 3, sha }, marker, "held", memoryLogger());
    const second = await publishVerdict(client, { owner: "o", repo: "r", pullRequest: 3, sha }, marker, "promoted", memoryLogger());
    expect([first.action, second.action]).toEqual(["created", "updated"]);
    expect(gh.comments.map((c) => [c.issue, c.body])).toEqual([[3, `${marker}\npromoted`]]);
  });

  it("comments on the commit when there is no pull request, edited in place on a re-run", async () => {
    const client = githubClient("t", gh.url);
    const marker = monitorCommentMarker("shop");
    const first = await publishVerdict(client, { owner: "o", repo: "r", sha }, marker, "rolled back", memoryLogger());
    const again = await publishVerdict(client, { owner: "o", repo: "r", sha }, marker, "rolled back", memoryLogger());
    const changed = await publishVerdict(client, { owner: "o", repo: "r", sha }, marker, "promoted", memoryLogger());
    expect([first.action, again.action, changed.action]).toEqual(["created", "unchanged", "updated"]);
    expect(gh.commitComments.map((c) => [c.commit_id, c.body])).toEqual([[sha, `${marker}\npromoted`]]);
  });

  it("edits only its own commit comment: one with the marker by someone else stays as it was", async () => {
    const other = "1111111111111111111111111111111111111111";
    const marker = monitorCommentMarker("shop");
    const forged = `${marker}\npromoted (forged)`;
    gh.commitComments.push({ id: 1, commit_id: other, body: forged, html_url: "a", user: { login: "outsider" } });
    const client = githubClient("t", gh.url);
    const first = await publishVerdict(client, { owner: "o", repo: "r", sha: other }, marker, "held", memoryLogger());
    const second = await publishVerdict(client, { owner: "o", repo: "r", sha: other }, marker, "rolled back", memoryLogger());
    expect([first.action, second.action]).toEqual(["created", "updated"]);
    expect(gh.commitComments.filter((c) => c.commit_id === other).map((c) => [c.user.login, c.body])).toEqual([
      ["outsider", forged],
      [ACTIONS_BOT_LOGIN, `${marker}\nrolled back`],
    ]);
  });

  it("never deletes or edits a maintainer's pull-request comment that holds the marker", async () => {
    const marker = monitorCommentMarker("shop");
    const quoting = `> ${marker}\n> held\nwhy was it held?`;
    gh.comments.push({ id: 1, issue: 9, body: quoting, html_url: "m", user: { login: "maintainer" } });
    const client = githubClient("t", gh.url);
    const r = await publishVerdict(client, { owner: "o", repo: "r", pullRequest: 9 }, marker, "promoted", memoryLogger());
    expect(r).toMatchObject({ action: "created", removedDuplicates: 0 });
    expect(gh.comments.filter((c) => c.issue === 9).map((c) => [c.user.login, c.body])).toEqual([
      ["maintainer", quoting],
      [ACTIONS_BOT_LOGIN, `${marker}\npromoted`],
    ]);
  });

  it("turns a refused comment into a warning, not a failure", async () => {
    gh.forbidden = true;
    const log = memoryLogger();
    const r = await publishVerdict(
      githubClient("t", gh.url),
      { owner: "o", repo: "r", pullRequest: 3 },
      monitorCommentMarker("x"),
      "x",
      log,
    );
    gh.forbidden = false;
    expect(r.action).toBe("skipped");
    expect(log.warnings[0]).toMatch(/skipped the pull request comment/);
  });
});
