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

export interface FakeGitHub {
  /** API root to give Octokit as baseUrl, e.g. http://127.0.0.1:40123 */
  url: string;
  comments: FakeComment[];
  commitComments: FakeCommitComment[];
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

/**
 * A local stand-in for the GitHub REST endpoints the gate and monitor-canary use: GET /user,
 * issue comments and commit comments (list, create, update, delete), with GitHub's pagination
 * (per_page, page, Link header), error shape and comment authors. Listens on 127.0.0.1 only;
 * the test closes it.
 */
export async function startFakeGitHub(): Promise<FakeGitHub> {
  const state: FakeGitHub = {
    url: "",
    comments: [],
    commitComments: [],
    users: {},
    requests: [],
    forbidden: false,
    close: async () => {},
  };
  let nextId = 1000;
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
      const html_url = `https://github.com/${owner![1]}/${owner![2]}/pull/${list[1]}#issuecomment-${id}`;
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
    call.send(404, { message: "Not Found" });
  };
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", state.url);
    const method = req.method ?? "GET";
    const send = sender(res);
    state.requests.push({ method, path: url.pathname });
    if (state.forbidden) return send(403, { message: "Resource not accessible by integration", status: "403" });
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
