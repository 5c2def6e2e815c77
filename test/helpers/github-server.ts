import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeComment {
  id: number;
  issue: number;
  body: string;
  html_url: string;
  user: { login: string };
}

export interface FakeGitHub {
  /** API root to give Octokit as baseUrl, e.g. http://127.0.0.1:40123 */
  url: string;
  comments: FakeComment[];
  requests: { method: string; path: string }[];
  /** Every request answers 403, as for a read-only token. */
  forbidden: boolean;
  close(): Promise<void>;
}

/**
 * A local stand-in for the GitHub REST endpoints the gate uses (list, create, update and
 * delete issue comments), with GitHub's pagination (per_page, page, Link header) and error
 * shape. Listens on 127.0.0.1 only; the test closes it.
 */
export async function startFakeGitHub(): Promise<FakeGitHub> {
  const state: FakeGitHub = {
    url: "",
    comments: [],
    requests: [],
    forbidden: false,
    close: async () => {},
  };
  let nextId = 1000;
  const send = (res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(code, { "content-type": "application/json; charset=utf-8", ...headers });
    res.end(body === undefined ? "" : JSON.stringify(body));
  };
  const readBody = async (req: IncomingMessage): Promise<Record<string, unknown>> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  };
  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", state.url);
    const method = req.method ?? "GET";
    state.requests.push({ method, path: url.pathname });
    if (state.forbidden) return send(res, 403, { message: "Resource not accessible by integration", status: "403" });
    if (!/^(token|bearer) /i.test(req.headers.authorization ?? "")) return send(res, 401, { message: "Requires authentication" });
    const list = /^\/repos\/([^/]+)\/([^/]+)\/issues\/(\d+)\/comments$/.exec(url.pathname);
    const one = /^\/repos\/([^/]+)\/([^/]+)\/issues\/comments\/(\d+)$/.exec(url.pathname);
    if (list && method === "GET") {
      const issue = Number(list[3]);
      const perPage = Math.min(100, Number(url.searchParams.get("per_page") ?? 30));
      const page = Number(url.searchParams.get("page") ?? 1);
      const all = state.comments.filter((c) => c.issue === issue);
      const last = Math.max(1, Math.ceil(all.length / perPage));
      const headers: Record<string, string> = {};
      if (page < last) {
        const next = new URL(url);
        next.searchParams.set("page", String(page + 1));
        const end = new URL(url);
        end.searchParams.set("page", String(last));
        headers.link = `<${next}>; rel="next", <${end}>; rel="last"`;
      }
      return send(res, 200, all.slice((page - 1) * perPage, page * perPage), headers);
    }
    if (list && method === "POST") {
      const body = await readBody(req);
      if (typeof body.body !== "string") return send(res, 422, { message: "Invalid request: body is missing" });
      if (body.body.length > 65536) return send(res, 422, { message: "Validation Failed: body is too long (maximum is 65536 characters)" });
      const id = nextId++;
      const c: FakeComment = {
        id,
        issue: Number(list[3]),
        body: body.body,
        html_url: `https://github.com/${list[1]}/${list[2]}/pull/${list[3]}#issuecomment-${id}`,
        user: { login: "github-actions[bot]" },
      };
      state.comments.push(c);
      return send(res, 201, c);
    }
    if (one && (method === "PATCH" || method === "DELETE")) {
      const c = state.comments.find((x) => x.id === Number(one[3]));
      if (!c) return send(res, 404, { message: "Not Found" });
      if (method === "DELETE") {
        state.comments.splice(state.comments.indexOf(c), 1);
        res.writeHead(204);
        return res.end();
      }
      const body = await readBody(req);
      if (typeof body.body !== "string") return send(res, 422, { message: "Invalid request: body is missing" });
      if (body.body.length > 65536) return send(res, 422, { message: "Validation Failed: body is too long (maximum is 65536 characters)" });
      c.body = body.body;
      return send(res, 200, c);
    }
    return send(res, 404, { message: "Not Found" });
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
