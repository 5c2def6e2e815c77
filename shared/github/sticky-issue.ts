import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import { httpStatus, type GitHubClient } from "./client.js";
import { isOwnMarkedComment, tokenLogin } from "./identity.js";
import { markedBody } from "./sticky-comment.js";

export interface RepoRef {
  owner: string;
  repo: string;
}

export interface MarkedIssue {
  number: number;
  title: string;
  body: string;
  html_url: string;
}

export interface IssueResult {
  action: "created" | "updated" | "unchanged";
  issue: MarkedIssue;
  /** Copies concurrent runs left, closed as duplicates. */
  closedDuplicates: number;
}

/**
 * A failed GitHub call as a RecshipError that says what to do: the permission the job needs
 * (403), a token GitHub refuses (401), a repository it cannot see (404), issues switched off (410).
 */
export function githubError(error: unknown, what: string, at: RepoRef, permission: string): RecshipError {
  if (error instanceof RecshipError) return error;
  const code = httpStatus(error);
  const message = (error as Error)?.message?.split("\n")[0] ?? String(error);
  const where = `${at.owner}/${at.repo}`;
  const http = code ? `HTTP ${code}: ${message}` : message;
  if (code === 401)
    return new RecshipError(`GitHub refused the token while trying to ${what} (${http})`, { where, fix: "pass a valid github-token" });
  if (code === 403) {
    return new RecshipError(`the token may not ${what} in ${where} (${http})`, {
      where,
      fix: `give the job \`permissions: ${permission}\` (a personal token needs the same on this repository)`,
    });
  }
  if (code === 404) {
    return new RecshipError(`could not ${what}: ${where} (or what it names) was not found, or the token cannot see it (HTTP 404)`, {
      where,
      fix: "check the repository and names given, and that the token has access",
    });
  }
  if (code === 410)
    return new RecshipError(`could not ${what}: issues are switched off in ${where} (HTTP 410)`, {
      where,
      fix: "switch issues on in the repository's settings",
    });
  return new RecshipError(`could not ${what} (${http})`, { where, cause: error });
}

/** The open issues this token wrote that carry `marker`, oldest first (pull requests, which the API lists too, left out). */
export async function ownOpenMarkedIssues(client: GitHubClient, at: RepoRef, marker: string): Promise<MarkedIssue[]> {
  const login = await tokenLogin(client);
  const found: MarkedIssue[] = [];
  for await (const page of client.paginate.iterator(client.rest.issues.listForRepo, {
    owner: at.owner,
    repo: at.repo,
    state: "open",
    sort: "created",
    direction: "asc",
    per_page: 100,
  })) {
    for (const i of page.data) {
      if (i.pull_request || !isOwnMarkedComment(i, login, marker)) continue;
      found.push({ number: i.number, title: i.title, body: i.body ?? "", html_url: i.html_url });
    }
  }
  return found;
}

/** Closes copies left by concurrent runs as duplicates of `kept` (a copy that will not close stays open: the oldest is the one kept up to date). */
async function closeCopies(client: GitHubClient, at: RepoRef, kept: MarkedIssue, copies: readonly MarkedIssue[]): Promise<number> {
  let closed = 0;
  for (const copy of copies) {
    try {
      await client.rest.issues.createComment({
        ...at,
        issue_number: copy.number,
        body: `Duplicate of #${kept.number}, which is kept up to date.`,
      });
      await client.rest.issues.update({ ...at, issue_number: copy.number, state: "closed", state_reason: "not_planned" });
      closed++;
    } catch {
      // left open; the oldest is the sticky one
    }
  }
  return closed;
}

/**
 * Opens the repository's issue that carries `marker`, or edits the open one an earlier run
 * opened (so repeated runs never stack issues), by the sticky comment's rules: only issues the
 * token itself wrote count (anyone can paste the marker), the oldest is kept and copies from
 * concurrent runs are closed as its duplicates. A failure is a RecshipError saying what is missing.
 */
export async function upsertStickyIssue(
  client: GitHubClient,
  at: RepoRef,
  marker: string,
  issue: { title: string; body: string; labels?: string[] },
  log: Logger,
): Promise<IssueResult> {
  const text = markedBody(marker, issue.body);
  try {
    const [existing, ...copies] = await ownOpenMarkedIssues(client, at, marker);
    if (existing) {
      const closedDuplicates = await closeCopies(client, at, existing, copies);
      if (existing.body === text && existing.title === issue.title) return { action: "unchanged", issue: existing, closedDuplicates };
      const r = await client.rest.issues.update({ ...at, issue_number: existing.number, title: issue.title, body: text });
      log.info(`updated issue #${existing.number}: ${r.data.html_url}`);
      return { action: "updated", issue: { ...existing, title: issue.title, body: text }, closedDuplicates };
    }
    const r = await client.rest.issues.create({
      ...at,
      title: issue.title,
      body: text,
      ...(issue.labels?.length ? { labels: issue.labels } : {}),
    });
    log.info(`opened issue #${r.data.number}: ${r.data.html_url}`);
    return {
      action: "created",
      issue: { number: r.data.number, title: issue.title, body: text, html_url: r.data.html_url },
      closedDuplicates: 0,
    };
  } catch (error) {
    throw githubError(error, "open or update the issue", at, "issues: write");
  }
}

/** Comments on the issue, then closes it as completed. */
export async function closeIssue(client: GitHubClient, at: RepoRef, issue: MarkedIssue, comment: string, log: Logger): Promise<void> {
  try {
    await client.rest.issues.createComment({ ...at, issue_number: issue.number, body: comment });
    await client.rest.issues.update({ ...at, issue_number: issue.number, state: "closed", state_reason: "completed" });
    log.info(`closed issue #${issue.number}: ${issue.html_url}`);
  } catch (error) {
    throw githubError(error, `close issue #${issue.number}`, at, "issues: write");
  }
}

/** Whether the issue has a comment this token wrote carrying `marker`. */
export async function hasOwnMarkedComment(client: GitHubClient, at: RepoRef, issueNumber: number, marker: string): Promise<boolean> {
  const login = await tokenLogin(client);
  for await (const page of client.paginate.iterator(client.rest.issues.listComments, { ...at, issue_number: issueNumber, per_page: 100 })) {
    if (page.data.some((c) => isOwnMarkedComment(c, login, marker))) return true;
  }
  return false;
}
