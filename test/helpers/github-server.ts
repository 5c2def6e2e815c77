import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** Who GitHub shows as the author of what a workflow's GITHUB_TOKEN writes. */
export const ACTIONS_BOT_LOGIN = "github-actions[bot]";

interface FakeComment {
  id: number;
  issue: number;
  body: string;
  html_url: string;
  user: { login: string };
}

interface FakeCommitComment {
  id: number;
  commit_id: string;
  body: string;
  html_url: string;
  user: { login: string };
}

interface FakeIssue {
  id: number;
  number: number;
  title: string;
  body: string;
  state: "open" | "closed";
  state_reason: "completed" | "not_planned" | "reopened" | null;
  html_url: string;
  user: { login: string };
  labels: { name: string }[];
  /** Set on pull requests, which GitHub's issue list returns too. */
  pull_request?: { url: string };
  created_at: string;
}

/** A workflow of the repository: its workflow_dispatch inputs (null: no such trigger), the required ones. */
interface FakeWorkflow {
  id: number;
  path: string;
  dispatchInputs: string[] | null;
  required?: string[];
}

export interface FakeGitHub {
  /** API root to give Octokit as baseUrl, e.g. http://127.0.0.1:40123 */
  url: string;
  comments: FakeComment[];
  commitComments: FakeCommitComment[];
  /** Issues and pull requests (they share numbers, as on GitHub). */
  issues: FakeIssue[];
  /** Workflows by file name (.github/workflows/<name>). */
  workflows: Record<string, FakeWorkflow>;
  /** Branches and tags a dispatch may run on. */
  refs: string[];
  /** workflow_dispatch events accepted. */
  dispatches: { workflow: string; ref: string; inputs: Record<string, unknown> }[];
  /** false: the repository has issues switched off (410 Gone). */
  issuesEnabled: boolean;
  /** Requests answering 403, as for a token without that permission. */
  forbiddenRoutes: { method: string; path: RegExp }[];
  /**
   * Tokens of a user (a personal access token): GET /user answers with the login, and what the
   * token writes is by that login. Any other token acts as a workflow's GITHUB_TOKEN: GET /user
   * answers 403 and its comments are by github-actions[bot].
   */
  users: Record<string, string>;
  requests: { method: string; path: string }[];
  /** Every request answers 403, as for a read-only token. */
  forbidden: boolean;
  close(): Promise<void>;
}

type Send = (code: number, body?: unknown, headers?: Record<string, string>) => void;

interface Call {
  method: string;
  url: URL;
  author: string;
  token: string;
  body: () => Promise<Record<string, unknown>>;
  send: Send;
}

const TOO_LONG = { message: "Validation Failed: body is too long (maximum is 65536 characters)" };

function sender(res: ServerResponse): Send {
  return (code, body, headers = {}) => {
    res.writeHead(code, { "content-type": "application/json; charset=utf-8", ...headers });
    res.end(body === undefined ? "" : JSON.stringify(body));
  };
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/** One page of `all` with GitHub's Link header (per_page, page). */
function sendPage(call: Call, all: unknown[]): void {
  const { url } = call;
  const perPage = Math.min(100, Number(url.searchParams.get("per_page") ?? 30));
  const page = Number(url.searchParams.get("page") ?? 1);
  const last = Math.max(1, Math.ceil(all.length / perPage));
  const headers: Record<string, string> = {};
  if (page < last) {
    const next = new URL(url);
    next.searchParams.set("page", String(page + 1));
    const end = new URL(url);
    end.searchParams.set("page", String(last));
    headers.link = `<${next}>; rel="next", <${end}>; rel="last"`;
  }
  call.send(200, all.slice((page - 1) * perPage, page * perPage), headers);
}

/** A comment body from a create or update request, or why GitHub would refuse it. */
async function commentBody(call: Call): Promise<string | undefined> {
  const body = (await call.body()).body;
  if (typeof body !== "string") call.send(422, { message: "Invalid request: body is missing" });
  else if (body.length > 65536) call.send(422, TOO_LONG);
  else return body;
  return undefined;
}

/** PATCH edits and DELETE removes one comment of `list` (a repository writer may do either to anyone's comment). */
async function editOrDelete<T extends { id: number; body: string }>(call: Call, list: T[], id: number): Promise<void> {
  const c = list.find((x) => x.id === id);
  if (!c) return call.send(404, { message: "Not Found" });
  if (call.method === "DELETE") {
    list.splice(list.indexOf(c), 1);
    return call.send(204);
  }
  const body = await commentBody(call);
  if (body === undefined) return;
  c.body = body;
  call.send(200, c);
}

const FORBIDDEN = { message: "Resource not accessible by integration", status: "403" };

/** GET /repos/{o}/{r}/issues: state (open, closed, all; default open), sort created, direction. */
function listIssues(call: Call, issues: FakeIssue[]): void {
  const state = call.url.searchParams.get("state") ?? "open";
  if (!["open", "closed", "all"].includes(state)) return call.send(422, { message: "Validation Failed" });
  const picked = issues.filter((i) => state === "all" || i.state === state);
  // GitHub's default is newest first
  const asc = call.url.searchParams.get("direction") === "asc";
  sendPage(call, asc ? picked : [...picked].reverse());
}

/** POST /repos/{o}/{r}/issues: title required, body at most 65536 characters. */
async function createIssue(call: Call, state: FakeGitHub, repo: string, nextNumber: () => number): Promise<void> {
  const b = await call.body();
  if (typeof b.title !== "string" || !b.title) return call.send(422, { message: "Validation Failed: title is missing" });
  if (typeof b.body === "string" && b.body.length > 65536) return call.send(422, TOO_LONG);
  const number = nextNumber();
  const issue: FakeIssue = {
    id: 5000 + number,
    number,
    title: b.title,
    body: typeof b.body === "string" ? b.body : "",
    state: "open",
    state_reason: null,
    html_url: `https://github.com/${repo}/issues/${number}`,
    user: { login: call.author },
    labels: Array.isArray(b.labels) ? (b.labels as string[]).map((name) => ({ name })) : [],
    created_at: new Date().toISOString(),
  };
  state.issues.push(issue);
  call.send(201, issue);
}

/** PATCH /repos/{o}/{r}/issues/{n}: title, body, state, state_reason. */
async function updateIssue(call: Call, issue: FakeIssue | undefined): Promise<void> {
  if (!issue) return call.send(404, { message: "Not Found" });
  const b = await call.body();
  if (b.state !== undefined && b.state !== "open" && b.state !== "closed") return call.send(422, { message: "Validation Failed: state" });
  if (b.state_reason !== undefined && !["completed", "not_planned", "reopened", null].includes(b.state_reason as string)) {
    return call.send(422, { message: "Validation Failed: state_reason" });
  }
  if (typeof b.body === "string" && b.body.length > 65536) return call.send(422, TOO_LONG);
  if (typeof b.title === "string") issue.title = b.title;
  if (typeof b.body === "string") issue.body = b.body;
  if (b.state === "closed" || b.state === "open") {
    issue.state = b.state;
    issue.state_reason = b.state === "closed" ? ((b.state_reason as FakeIssue["state_reason"]) ?? "completed") : "reopened";
  }
  call.send(200, issue);
}

/** POST /repos/{o}/{r}/actions/workflows/{id}/dispatches: 204, or GitHub's 404 and 422s. */
async function dispatch(call: Call, state: FakeGitHub, id: string): Promise<void> {
  const workflow = Object.entries(state.workflows).find(([name, w]) => name === id || String(w.id) === id);
  if (!workflow) return call.send(404, { message: "Not Found" });
  const [name, w] = workflow;
  const b = await call.body();
  if (typeof b.ref !== "string") return call.send(422, { message: 'Invalid request.\n\n"ref" wasn\'t supplied.' });
  if (!w.dispatchInputs) return call.send(422, { message: "Workflow does not have 'workflow_dispatch' trigger" });
  if (!state.refs.includes(b.ref)) return call.send(422, { message: `No ref found for: ${b.ref}` });
  const inputs = (b.inputs ?? {}) as Record<string, unknown>;
  const unexpected = Object.keys(inputs).filter((k) => !w.dispatchInputs!.includes(k));
  if (unexpected.length) return call.send(422, { message: `Unexpected inputs provided: ${JSON.stringify(unexpected)}` });
  const missing = (w.required ?? []).find((k) => inputs[k] === undefined);
  if (missing) return call.send(422, { message: `Required input '${missing}' not provided` });
  state.dispatches.push({ workflow: name, ref: b.ref, inputs });
  call.send(204);
}

/** The issue and workflow routes; false when the path is none of them. */
async function issueRoutes(call: Call, state: FakeGitHub, nextNumber: () => number): Promise<boolean> {
  const { method, url } = call;
  const repo = /^\/repos\/([^/]+\/[^/]+)\//.exec(url.pathname)?.[1];
  const issues = /^\/repos\/[^/]+\/[^/]+\/issues$/.test(url.pathname);
  const one = /^\/repos\/[^/]+\/[^/]+\/issues\/(\d+)$/.exec(url.pathname);
  const dispatches = /^\/repos\/[^/]+\/[^/]+\/actions\/workflows\/([^/]+)\/dispatches$/.exec(url.pathname);
  if ((issues || one) && !state.issuesEnabled) {
    call.send(410, { message: "Issues are disabled for this repo" });
    return true;
  }
  if (issues && method === "GET") listIssues(call, state.issues);
  else if (issues && method === "POST") await createIssue(call, state, repo!, nextNumber);
  else if (one && method === "GET") {
    const issue = state.issues.find((i) => i.number === Number(one[1]));
    if (issue) call.send(200, issue);
    else call.send(404, { message: "Not Found" });
  } else if (one && method === "PATCH")
    await updateIssue(
      call,
      state.issues.find((i) => i.number === Number(one[1])),
    );
  else if (dispatches && method === "POST") await dispatch(call, state, decodeURIComponent(dispatches[1]));
  else return false;
  return true;
}

/**
 * A local stand-in for the GitHub REST endpoints the gate and monitor-canary use: GET /user,
 * issue comments and commit comments (list, create, update, delete), issues (list, create, get,
 * update: close) and workflow dispatches, with GitHub's pagination (per_page, page, Link
 * header), status codes, error shape and authors. Listens on 127.0.0.1 only; the test closes it.
 */
export async function startFakeGitHub(): Promise<FakeGitHub> {
  const state: FakeGitHub = {
    url: "",
    comments: [],
    commitComments: [],
    issues: [],
    workflows: {},
    refs: ["main"],
    dispatches: [],
    issuesEnabled: true,
    forbiddenRoutes: [],
    users: {},
    requests: [],
    forbidden: false,
    close: async () => {},
  };
  let nextId = 1000;
  const nextNumber = () => state.issues.reduce((n, i) => Math.max(n, i.number), 0) + 1;
  const route = async (call: Call): Promise<void> => {
    const { method, url } = call;
    const owner = /^\/repos\/([^/]+)\/([^/]+)\//.exec(url.pathname);
    const list = /^\/repos\/[^/]+\/[^/]+\/issues\/(\d+)\/comments$/.exec(url.pathname);
    const one = /^\/repos\/[^/]+\/[^/]+\/issues\/comments\/(\d+)$/.exec(url.pathname);
    const commitList = /^\/repos\/[^/]+\/[^/]+\/commits\/([0-9a-f]+)\/comments$/.exec(url.pathname);
    const commitOne = /^\/repos\/[^/]+\/[^/]+\/comments\/(\d+)$/.exec(url.pathname);
    if (url.pathname === "/user" && method === "GET") {
      const login = state.users[call.token];
      if (login) return call.send(200, { login, id: 1, type: "User" });
      return call.send(403, { message: "Resource not accessible by integration", status: "403" });
    }
    if (list && method === "GET")
      return sendPage(
        call,
        state.comments.filter((c) => c.issue === Number(list[1])),
      );
    if (list && method === "POST") {
      const body = await commentBody(call);
      if (body === undefined) return;
      const id = nextId++;
      const onIssue = state.issues.some((i) => i.number === Number(list[1]) && !i.pull_request);
      const html_url = `https://github.com/${owner![1]}/${owner![2]}/${onIssue ? "issues" : "pull"}/${list[1]}#issuecomment-${id}`;
      const c: FakeComment = { id, issue: Number(list[1]), body, html_url, user: { login: call.author } };
      state.comments.push(c);
      return call.send(201, c);
    }
    if (one && (method === "PATCH" || method === "DELETE")) return editOrDelete(call, state.comments, Number(one[1]));
    if (commitList && method === "GET")
      return sendPage(
        call,
        state.commitComments.filter((c) => c.commit_id === commitList[1]),
      );
    if (commitList && method === "POST") {
      const body = await commentBody(call);
      if (body === undefined) return;
      const id = nextId++;
      const html_url = `https://github.com/${owner![1]}/${owner![2]}/commit/${commitList[1]}#commitcomment-${id}`;
      const c: FakeCommitComment = { id, commit_id: commitList[1], body, html_url, user: { login: call.author } };
      state.commitComments.push(c);
      return call.send(201, c);
    }
    if (commitOne && (method === "PATCH" || method === "DELETE")) return editOrDelete(call, state.commitComments, Number(commitOne[1]));
    if (await issueRoutes(call, state, nextNumber)) return;
    call.send(404, { message: "Not Found" });
  };
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", state.url);
    const method = req.method ?? "GET";
    const send = sender(res);
    state.requests.push({ method, path: url.pathname });
    if (state.forbidden || state.forbiddenRoutes.some((r) => r.method === method && r.path.test(url.pathname))) return send(403, FORBIDDEN);
    const auth = /^(token|bearer) (.+)$/i.exec(req.headers.authorization ?? "");
    if (!auth) return send(401, { message: "Requires authentication" });
    const token = auth[2];
    await route({ method, url, token, author: state.users[token] ?? ACTIONS_BOT_LOGIN, body: () => readBody(req), send });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve, reject) => {
      server.close((e) => (e ? reject(e) : resolve()));
      server.closeAllConnections(); // Octokit's fetch keeps connections alive
    });
  return state;
}
