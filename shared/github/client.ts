import { getOctokit } from "@actions/github";

/** The Octokit of @actions/github (REST endpoint methods and pagination). */
export type GitHubClient = ReturnType<typeof getOctokit>;

/**
 * A REST client for the token. `apiUrl` overrides the API root (tests, or GitHub Enterprise
 * when GITHUB_API_URL is not set); by default @actions/github uses GITHUB_API_URL.
 */
export function githubClient(token: string, apiUrl?: string): GitHubClient {
  return getOctokit(token, apiUrl ? { baseUrl: apiUrl.replace(/\/+$/, "") } : {});
}

/** The HTTP status of a failed Octokit call (undefined for a failure that never got a response). */
export function httpStatus(error: unknown): number | undefined {
  const s = (error as { status?: unknown })?.status;
  return typeof s === "number" ? s : undefined;
}
