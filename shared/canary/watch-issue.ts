import type { GitHubClient } from "../github/client.js";
import {
  closeIssue,
  hasOwnMarkedComment,
  ownOpenMarkedIssues,
  upsertStickyIssue,
  githubError,
  type RepoRef,
} from "../github/sticky-issue.js";
import { dispatchWorkflow, type WorkflowDispatch } from "../github/workflow-dispatch.js";
import type { Logger } from "../log.js";
import type { WatchReport } from "./watch-decision.js";

/** The hidden line that marks the drift watch's issue, one per model in a repository. */
export function watchIssueMarker(model: string): string {
  return `<!-- recship:monitor-canary-watch:${model.replace(/--+>?/g, "-")} -->`;
}

/** The comment that records a retraining dispatched for the issue's drift (so it is dispatched once per issue). */
const RETRAIN_MARKER = "<!-- recship:monitor-canary-watch:retrain -->";

/** What the issue remembers between runs, in a hidden line of its body. */
export interface WatchIssueState {
  /** The end of the first window with the breach. */
  since: string;
  /** Windows with a breach so far (a window judged twice counts once). */
  windows: number;
  /** The end of the last window with a breach. */
  last: string;
}

const STATE = /<!-- recship:watch-state (\{.*?\}) -->/;

/** The state in an issue body, or undefined (none, or unreadable: the issue starts over). */
export function readIssueState(body: string): WatchIssueState | undefined {
  const m = STATE.exec(body);
  if (!m) return undefined;
  try {
    const s = JSON.parse(m[1]) as Partial<WatchIssueState>;
    if (typeof s.since === "string" && typeof s.last === "string" && Number.isInteger(s.windows) && s.windows! > 0)
      return s as WatchIssueState;
  } catch {
    // unreadable: start over
  }
  return undefined;
}

/** The state after this window's breach: one more window, unless the same window was judged again. */
export function nextIssueState(previous: WatchIssueState | undefined, windowEnd: string): WatchIssueState {
  if (!previous) return { since: windowEnd, windows: 1, last: windowEnd };
  if (previous.last === windowEnd) return previous;
  return { since: previous.since, windows: previous.windows + 1, last: windowEnd };
}

export interface WatchPublishOptions {
  repo: RepoRef;
  /** The model's name in the marker and the title. */
  model: string;
  /** The report as Markdown, with a line about the drift's history when there is one. */
  body: (history: string | undefined) => string;
  labels?: string[];
  /** Retraining to dispatch once per issue (workflow_dispatch). */
  retrain?: WorkflowDispatch;
  runUrl?: string;
  log: Logger;
}

export interface WatchPublishResult {
  /** What happened to the issue: created, updated, unchanged (drift); closed (healthy again); none. */
  action: "created" | "updated" | "unchanged" | "closed" | "none";
  number?: number;
  url?: string;
  /** dispatched now, or already for this issue; absent when no retraining is set up. */
  retrain?: "dispatched" | "already";
  message: string;
}

const utc = (iso: string) => iso.replace("T", " ").replace(/\.000Z$|Z$/, " UTC");

function historyLine(s: WatchIssueState): string {
  return s.windows === 1
    ? `**First breach** in the window ending ${utc(s.since)}. This issue is updated while the drift lasts and closed when a window is healthy again.`
    : `**Drift since** the window ending ${utc(s.since)}: ${s.windows} windows with a breach so far. This issue is updated while the drift lasts and closed when a window is healthy again.`;
}

/** Dispatches the retraining unless this issue already has; records it as a comment on the issue. */
async function retrainOnce(
  client: GitHubClient,
  o: WatchPublishOptions,
  issue: number,
  report: WatchReport,
): Promise<"dispatched" | "already"> {
  const r = o.retrain!;
  const has = await hasOwnMarkedComment(client, o.repo, issue, RETRAIN_MARKER).catch((e: unknown) => {
    throw githubError(e, `read the comments of issue #${issue}`, o.repo, "issues: write");
  });
  if (has) return "already";
  await dispatchWorkflow(client, o.repo, r);
  const inputs = Object.entries(r.inputs).map(([k, v]) => `\`${k}\`: \`${v}\``);
  const body =
    `${RETRAIN_MARKER}\n🔁 Retraining dispatched: workflow \`${r.workflow}\` on \`${r.ref}\`${inputs.length ? ` with ${inputs.join(", ")}` : ""}, ` +
    `for the drift in the window ending ${utc(report.window.end)}${o.runUrl ? ` ([watch run](${o.runUrl}))` : ""}.`;
  await client.rest.issues.createComment({ ...o.repo, issue_number: issue, body }).catch((e: unknown) => {
    throw githubError(e, `comment on issue #${issue}`, o.repo, "issues: write");
  });
  o.log.info(`dispatched ${r.workflow} on ${r.ref} for issue #${issue}`);
  return "dispatched";
}

/**
 * The drift watch's issue: on drift, opens the model's issue or updates the open one (the
 * sticky comment's rules: found by its hidden marker, only ones this token wrote) and, when set
 * up, dispatches retraining once per issue; when healthy again, comments and closes it; when
 * inconclusive, leaves it as it is. A failure is a RecshipError naming the permission missing.
 */
export async function publishWatch(client: GitHubClient, report: WatchReport, o: WatchPublishOptions): Promise<WatchPublishResult> {
  const marker = watchIssueMarker(o.model);
  if (report.status === "inconclusive") return { action: "none", message: "inconclusive: the issue, if there is one, is left as it is" };
  if (report.status === "healthy") {
    const open = await ownOpenMarkedIssues(client, o.repo, marker).catch((e: unknown) => {
      throw githubError(e, "list the open issues", o.repo, "issues: write");
    });
    if (!open.length) return { action: "none", message: "healthy, and no drift issue is open" };
    const comment = `✅ **Healthy again**: the window ending ${utc(report.window.end)} held every critical check${o.runUrl ? ` ([watch run](${o.runUrl}))` : ""}. Closing.\n\n${o.body(undefined)}`;
    // every copy concurrent runs may have left goes too; the oldest is the one reported
    for (const issue of open) await closeIssue(client, o.repo, issue, comment, o.log);
    return { action: "closed", number: open[0].number, url: open[0].html_url, message: `healthy again: closed issue #${open[0].number}` };
  }
  const [found] = await ownOpenMarkedIssues(client, o.repo, marker).catch((e: unknown) => {
    throw githubError(e, "list the open issues", o.repo, "issues: write");
  });
  const state = nextIssueState(found ? readIssueState(found.body) : undefined, report.window.end);
  // the state goes first: a body cut to GitHub's limit loses its end
  const body = `<!-- recship:watch-state ${JSON.stringify(state)} -->\n${o.body(historyLine(state))}`;
  const title = `recship drift watch: ${o.model} (${report.stable.version ?? "?"}) drifted: ${report.breached.join(", ")}`;
  const r = await upsertStickyIssue(client, o.repo, marker, { title, body, ...(o.labels ? { labels: o.labels } : {}) }, o.log);
  const retrain = o.retrain ? await retrainOnce(client, o, r.issue.number, report) : undefined;
  return {
    action: r.action,
    number: r.issue.number,
    url: r.issue.html_url,
    ...(retrain ? { retrain } : {}),
    message: `${r.action} issue #${r.issue.number}${retrain === "dispatched" ? `; retraining dispatched (${o.retrain!.workflow})` : ""}`,
  };
}
