import { githubClient, type GitHubClient } from "../../shared/github/client.js";
import type { RunContext } from "../../shared/github/event.js";
import type { Logger } from "../../shared/log.js";
import { booleanInput, input } from "./runtime.js";

/** The job summary's size limit (GitHub refuses step summaries over 1 MiB): reports are cut to this. */
export const SUMMARY_LIMIT = 500_000;

/**
 * Posts (or updates) the step's comment when it should, and says why not otherwise: the
 * `comment` input set to false, nothing to comment on (a pull request, or with `onCommit` also
 * the commit), no `github-token`. Returns the comment's URL, or "".
 */
export async function commentIfWanted(
  ctx: RunContext,
  log: Logger,
  onCommit: boolean,
  post: (github: GitHubClient, on: { owner: string; repo: string }) => Promise<{ url?: string }>,
): Promise<string> {
  const token = input("github-token");
  if (input("comment") !== undefined && !booleanInput("comment")) log.info("not commenting: the comment input is false");
  else if (!ctx.owner || !ctx.repo || (ctx.pullRequest === undefined && !(onCommit && ctx.sha)))
    log.info(
      onCommit ? "not commenting: no pull request or commit to comment on" : `not commenting: a ${ctx.eventName} run has no pull request`,
    );
  else if (!token) log.info("not commenting: no github-token");
  else return (await post(githubClient(token, process.env.GITHUB_API_URL), { owner: ctx.owner, repo: ctx.repo })).url ?? "";
  return "";
}
