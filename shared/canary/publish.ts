import type { GitHubClient } from "../github/client.js";
import { isOwnMarkedComment, tokenLogin } from "../github/identity.js";
import { markedBody, upsertStickyComment, type StickyResult } from "../github/sticky-comment.js";
import type { Logger } from "../log.js";

/** The hidden line that marks monitor-canary's comment, one per model on a pull request or commit. */
export function monitorCommentMarker(id: string): string {
  return `<!-- recship:monitor-canary:${id.replace(/--+>?/g, "-")} -->`;
}

export interface CommentWhere {
  owner: string;
  repo: string;
  /** The pull request the deployment came from, if any (wins over the commit). */
  pullRequest?: number;
  /** Otherwise the commit it came from. */
  sha?: string;
}

/** The commit's first comment that this token wrote and that carries `marker` (anyone can paste the marker). */
async function ownCommitComment(
  client: GitHubClient,
  commit: { owner: string; repo: string; sha: string },
  marker: string,
): Promise<{ id: number; body?: string; html_url: string } | undefined> {
  const login = await tokenLogin(client);
  for await (const page of client.paginate.iterator(client.rest.repos.listCommentsForCommit, {
    owner: commit.owner,
    repo: commit.repo,
    commit_sha: commit.sha,
    per_page: 100,
  })) {
    const found = page.data.find((c) => isOwnMarkedComment(c, login, marker));
    if (found) return found;
  }
  return undefined;
}

/**
 * Posts the verdict where the deployment came from: the pull request's sticky comment (the
 * same mechanism as benchmark-gate), else a sticky comment on the commit (edited in place on
 * re-runs; only a comment the token wrote is ever edited). Failures are warnings and a "skipped" result; a comment never fails the job.
 */
export async function publishVerdict(
  client: GitHubClient,
  where: CommentWhere,
  marker: string,
  body: string,
  log: Logger,
): Promise<StickyResult> {
  if (where.pullRequest !== undefined) {
    return upsertStickyComment(client, { owner: where.owner, repo: where.repo, issueNumber: where.pullRequest }, marker, body, log);
  }
  if (!where.sha) return { action: "skipped", reason: "neither a pull request nor a commit to comment on" };
  const text = markedBody(marker, body);
  const at = `${where.owner}/${where.repo}@${where.sha.slice(0, 12)}`;
  try {
    const existing = await ownCommitComment(client, { owner: where.owner, repo: where.repo, sha: where.sha }, marker);
    if (existing) {
      if (existing.body === text) return { action: "unchanged", commentId: existing.id, url: existing.html_url };
      const r = await client.rest.repos.updateCommitComment({ owner: where.owner, repo: where.repo, comment_id: existing.id, body: text });
      log.info(`updated the commit comment on ${at}: ${r.data.html_url}`);
      return { action: "updated", commentId: existing.id, url: r.data.html_url };
    }
    const r = await client.rest.repos.createCommitComment({ owner: where.owner, repo: where.repo, commit_sha: where.sha, body: text });
    log.info(`commented on ${at}: ${r.data.html_url}`);
    return { action: "created", commentId: r.data.id, url: r.data.html_url };
  } catch (error) {
    const status = (error as { status?: number }).status;
    const reason = `commenting on ${at} failed (${status ? `HTTP ${status}: ` : ""}${(error as Error)?.message?.split("\n")[0] ?? String(error)}); the job needs \`permissions: contents: write\` for commit comments`;
    log.warn(`skipped the commit comment: ${reason}`);
    return { action: "skipped", reason };
  }
}
