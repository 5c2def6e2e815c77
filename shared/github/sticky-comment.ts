import type { Logger } from "../log.js";
import { httpStatus, type GitHubClient } from "./client.js";
import { isOwnMarkedComment, tokenLogin } from "./identity.js";

/** GitHub rejects issue comments longer than this. */
const COMMENT_LIMIT = 65536;

export interface CommentTarget {
  owner: string;
  repo: string;
  issueNumber: number;
}

export interface StickyResult {
  action: "created" | "updated" | "unchanged" | "skipped";
  commentId?: number;
  url?: string;
  /** Why it was skipped. */
  reason?: string;
  /** Older copies removed (left by concurrent runs). */
  removedDuplicates?: number;
}

/** The hidden line that marks a step's comment (the gate's by default), one per model or search on a pull request. */
export function commentMarker(id: string, step = "benchmark-gate"): string {
  return `<!-- recship:${step}:${id.replace(/--+>?/g, "-")} -->`;
}

/** `marker` and `body` as one comment, cut to GitHub's limit. */
export function markedBody(marker: string, body: string): string {
  const text = `${marker}\n${body}`;
  if (text.length <= COMMENT_LIMIT) return text;
  const note = "\n\n… (truncated)\n";
  return text.slice(0, COMMENT_LIMIT - note.length) + note;
}

interface FoundComment {
  id: number;
  body?: string | null;
  html_url: string;
}

/** The pull request's comments that this token wrote and that carry `marker`, oldest first. */
async function ownMarkedComments(client: GitHubClient, target: CommentTarget, marker: string): Promise<FoundComment[]> {
  const login = await tokenLogin(client);
  const found: FoundComment[] = [];
  for await (const page of client.paginate.iterator(client.rest.issues.listComments, {
    owner: target.owner,
    repo: target.repo,
    issue_number: target.issueNumber,
    per_page: 100,
  })) {
    for (const c of page.data) if (isOwnMarkedComment(c, login, marker)) found.push({ id: c.id, body: c.body, html_url: c.html_url });
  }
  return found;
}

/** Deletes the copies concurrent runs left (all ours); how many went. */
async function removeCopies(client: GitHubClient, target: CommentTarget, copies: FoundComment[]): Promise<number> {
  let removed = 0;
  for (const extra of copies) {
    try {
      await client.rest.issues.deleteComment({ owner: target.owner, repo: target.repo, comment_id: extra.id });
      removed++;
    } catch {
      // a duplicate we may not delete stays; the first one is still the one kept up to date
    }
  }
  return removed;
}

/**
 * Creates the pull request's comment that carries `marker`, or edits it in place when an
 * earlier run left one (so re-runs never stack comments). Only comments the token itself wrote
 * count: anyone can paste the marker into a comment, and theirs are never edited or deleted.
 * Any API failure (no permission, pull request gone, GitHub down) is a warning and a "skipped"
 * result: a comment is never worth failing the job for.
 */
export async function upsertStickyComment(
  client: GitHubClient,
  target: CommentTarget,
  marker: string,
  body: string,
  log: Logger,
): Promise<StickyResult> {
  const text = markedBody(marker, body);
  const where = `${target.owner}/${target.repo}#${target.issueNumber}`;
  try {
    const [existing, ...copies] = await ownMarkedComments(client, target, marker);
    const removed = await removeCopies(client, target, copies);
    if (existing) {
      if (existing.body === text) {
        log.info(`pull request comment on ${where} is up to date: ${existing.html_url}`);
        return { action: "unchanged", commentId: existing.id, url: existing.html_url, removedDuplicates: removed };
      }
      const r = await client.rest.issues.updateComment({ owner: target.owner, repo: target.repo, comment_id: existing.id, body: text });
      log.info(`updated the pull request comment on ${where}: ${r.data.html_url}`);
      return { action: "updated", commentId: existing.id, url: r.data.html_url, removedDuplicates: removed };
    }
    const r = await client.rest.issues.createComment({
      owner: target.owner,
      repo: target.repo,
      issue_number: target.issueNumber,
      body: text,
    });
    log.info(`commented on ${where}: ${r.data.html_url}`);
    return { action: "created", commentId: r.data.id, url: r.data.html_url, removedDuplicates: removed };
  } catch (error) {
    const code = httpStatus(error);
    const message = (error as Error)?.message?.split("\n")[0] ?? String(error);
    const reason =
      code === 403 || code === 401
        ? `the token may not comment on ${where} (HTTP ${code}: ${message}); give the job \`permissions: pull-requests: write\` (forks' pull requests get a read-only token)`
        : code === 404
          ? `${where} was not found or is not visible to the token (HTTP 404)`
          : `commenting on ${where} failed (${code ? `HTTP ${code}: ` : ""}${message})`;
    log.warn(`skipped the pull request comment: ${reason}`);
    return { action: "skipped", reason };
  }
}
