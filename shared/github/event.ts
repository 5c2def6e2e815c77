/** What the gate needs to know about the workflow run that started it. */
export interface RunContext {
  eventName: string;
  owner?: string;
  repo?: string;
  /** The pull request being checked (pull_request / pull_request_target events). */
  pullRequest?: number;
  /** The branch the run is on (for a pull request: its head branch). */
  branch?: string;
  /** For a pull request: the branch it merges into. */
  baseBranch?: string;
  defaultBranch?: string;
  sha?: string;
  runUrl?: string;
  runId?: string;
  runAttempt?: string;
}

interface EventPayload {
  pull_request?: { number?: number; base?: { ref?: string }; head?: { ref?: string; sha?: string } };
  repository?: { default_branch?: string; name?: string; owner?: { login?: string } };
}

/**
 * Reads the run's context from the runner's environment variables and event payload (both
 * passed in: the library never reads process.env itself).
 */
export function runContext(env: Record<string, string | undefined>, payload: unknown): RunContext {
  const p = (payload ?? {}) as EventPayload;
  const [owner, repo] = (env.GITHUB_REPOSITORY ?? "").split("/");
  const pr = p.pull_request?.number;
  const refName =
    env.GITHUB_REF_NAME ?? (env.GITHUB_REF?.startsWith("refs/heads/") ? env.GITHUB_REF.slice("refs/heads/".length) : undefined);
  const server = env.GITHUB_SERVER_URL ?? "https://github.com";
  return {
    eventName: env.GITHUB_EVENT_NAME ?? "unknown",
    owner: owner || p.repository?.owner?.login,
    repo: repo || p.repository?.name,
    ...(typeof pr === "number" ? { pullRequest: pr } : {}),
    branch: typeof pr === "number" ? env.GITHUB_HEAD_REF || p.pull_request?.head?.ref : refName,
    baseBranch: typeof pr === "number" ? env.GITHUB_BASE_REF || p.pull_request?.base?.ref : undefined,
    defaultBranch: p.repository?.default_branch,
    sha: (typeof pr === "number" ? p.pull_request?.head?.sha : undefined) ?? env.GITHUB_SHA,
    runUrl: env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID ? `${server}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}` : undefined,
    runId: env.GITHUB_RUN_ID,
    runAttempt: env.GITHUB_RUN_ATTEMPT,
  };
}
