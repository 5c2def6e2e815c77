import { httpStatus, type GitHubClient } from "./client.js";

/** The author GitHub shows on what a workflow's GITHUB_TOKEN writes. */
const ACTIONS_BOT = "github-actions[bot]";

/**
 * The login the token writes comments as: the authenticated user for a personal (or user-to-
 * server) token; a workflow's GITHUB_TOKEN may not read GET /user (403), and what it writes is
 * by github-actions[bot]. Any other failure is thrown: commenting without knowing who we are
 * could edit someone else's comment.
 */
export async function tokenLogin(client: GitHubClient): Promise<string> {
  try {
    return (await client.rest.users.getAuthenticated()).data.login;
  } catch (error) {
    if (httpStatus(error) === 403) return ACTIONS_BOT;
    throw error;
  }
}

/** A comment this token wrote that carries `marker`: only those are ever edited or deleted. */
export function isOwnMarkedComment(
  comment: { body?: string | null; user?: { login: string } | null },
  login: string,
  marker: string,
): boolean {
  return comment.user?.login === login && (comment.body?.includes(marker) ?? false);
}
