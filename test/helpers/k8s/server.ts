import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { parse as parseYaml } from "yaml";
import { apiVersionOf, type ResourceType } from "./resources.js";
import { isObject, valueAt, type JsonObject } from "./ssa.js";
import { status, StatusFailure, type KubeStore } from "./store.js";

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
}

export interface ServerOptions {
  token: string;
  store: KubeStore;
  /** The kinds discovery lists (the store may hold more, e.g. CRDs not installed). */
  served: () => ResourceType[];
  requests: RequestRecord[];
}

/** Equality label selectors: `a=b`, `a==b`, `a!=b`, `a`, `!a`, comma-separated (all must hold). */
function matchesLabels(labels: Record<string, string>, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(",").every((term) => {
    const t = term.trim();
    let m: RegExpExecArray | null;
    if ((m = /^([^!=]+)!=(.*)$/.exec(t))) return labels[m[1]] !== m[2];
    if ((m = /^([^!=]+)==?(.*)$/.exec(t))) return labels[m[1]] === m[2];
    if (t.startsWith("!")) return !(t.slice(1) in labels);
    return t in labels;
  });
}

/** Field selectors on dotted paths (`involvedObject.name=x`, `type=Warning`, `metadata.name!=y`). */
function matchesFields(object: JsonObject, selector: string | undefined): boolean {
  if (!selector) return true;
  return selector.split(",").every((term) => {
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term.trim());
    if (!m) return false;
    const v = valueAt(
      object,
      m[1].split(".").map((s) => `f:${s}`),
    );
    const s = v === undefined || v === null ? "" : String(v);
    return m[2] === "!=" ? s !== m[3] : s === m[3];
  });
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function discovery(types: ResourceType[], apiVersion: string): JsonObject | undefined {
  const mine = types.filter((t) => apiVersionOf(t) === apiVersion);
  if (!mine.length) return undefined;
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: apiVersion,
    resources: mine.flatMap((t) => [
      {
        name: t.plural,
        singularName: t.kind.toLowerCase(),
        namespaced: t.namespaced,
        kind: t.kind,
        verbs: ["create", "delete", "get", "list", "patch", "update"],
      },
      ...(["Deployment", "ReplicaSet", "Pod", "Service"].includes(t.kind)
        ? [{ name: `${t.plural}/status`, singularName: "", namespaced: t.namespaced, kind: t.kind, verbs: ["get", "patch", "update"] }]
        : []),
    ]),
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** The emulator's HTTP front: authentication, discovery, get/list, apply PATCH and DELETE on 127.0.0.1. */
export function startApiServer(options: ServerOptions): Promise<{ server: Server; url: string }> {
  const { store } = options;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const query = Object.fromEntries(url.searchParams);
    const contentType = req.headers["content-type"]?.split(";")[0];
    options.requests.push({ method: req.method ?? "GET", path: url.pathname, query, ...(contentType ? { contentType } : {}) });
    if (req.headers.authorization !== `Bearer ${options.token}`) {
      return send(res, 401, status({ code: 401, reason: "Unauthorized", message: "Unauthorized" }));
    }
    const served = options.served();
    const parts = url.pathname.split("/").filter(Boolean);
    // discovery
    if (url.pathname === "/api") return send(res, 200, { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [] });
    if (url.pathname === "/apis") {
      const groups = [...new Set(served.filter((t) => t.group).map((t) => t.group))].map((g) => {
        const versions = [...new Set(served.filter((t) => t.group === g).map((t) => t.version))].map((v) => ({
          groupVersion: `${g}/${v}`,
          version: v,
        }));
        return { name: g, versions, preferredVersion: versions[0] };
      });
      return send(res, 200, { kind: "APIGroupList", apiVersion: "v1", groups });
    }
    let group = "";
    let version: string;
    let rest: string[];
    if (parts[0] === "api" && parts.length >= 2) [version, rest] = [parts[1], parts.slice(2)];
    else if (parts[0] === "apis" && parts.length >= 3) [group, version, rest] = [parts[1], parts[2], parts.slice(3)];
    else
      return send(
        res,
        404,
        status({ code: 404, reason: "NotFound", message: `the server could not find the requested resource (${url.pathname})` }),
      );
    const apiVersion = group ? `${group}/${version}` : version;
    if (rest.length === 0) {
      const list = discovery(served, apiVersion);
      return list
        ? send(res, 200, list)
        : send(
            res,
            404,
            status({ code: 404, reason: "NotFound", message: `the server could not find the requested resource (${apiVersion})` }),
          );
    }
    let namespace = "";
    if (rest[0] === "namespaces" && rest.length >= 3) [namespace, rest] = [rest[1], rest.slice(2)];
    const type = served.find((t) => t.group === group && t.version === version && t.plural === rest[0]);
    if (!type)
      return send(
        res,
        404,
        status({
          code: 404,
          reason: "NotFound",
          message: `the server could not find the requested resource (${rest[0]}.${group || "core"})`,
        }),
      );
    const name = rest[1];
    const notFound = () =>
      send(
        res,
        404,
        status({
          code: 404,
          reason: "NotFound",
          message: `${type.plural}${group ? `.${group}` : ""} "${name}" not found`,
          causes: undefined,
        }),
      );

    if (req.method === "GET" && query.watch) {
      return send(res, 400, status({ code: 400, reason: "BadRequest", message: "watch is not implemented by this emulator" }));
    }
    if (req.method === "GET" && !name) {
      const items = store
        .list(type, namespace || undefined)
        .filter((o) => matchesLabels(((o.metadata as JsonObject).labels as Record<string, string>) ?? {}, query.labelSelector))
        .filter((o) => matchesFields(o, query.fieldSelector));
      return send(res, 200, { kind: `${type.kind}List`, apiVersion: apiVersionOf(type), metadata: { resourceVersion: "1" }, items });
    }
    if (req.method === "GET") {
      const o = store.get(type, namespace, name);
      return o ? send(res, 200, o) : notFound();
    }
    if (req.method === "PATCH" && name) {
      if (contentType !== "application/apply-patch+yaml") {
        return send(
          res,
          415,
          status({
            code: 415,
            reason: "UnsupportedMediaType",
            message: `the emulator only implements server-side apply, not ${contentType}`,
          }),
        );
      }
      if (!query.fieldManager) {
        return send(
          res,
          422,
          status({
            code: 422,
            reason: "Invalid",
            message: 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
          }),
        );
      }
      if (query.force !== undefined && query.force !== "true" && query.force !== "false") {
        return send(res, 400, status({ code: 400, reason: "BadRequest", message: `invalid force ${query.force}` }));
      }
      let body: unknown;
      try {
        body = parseYaml(await readBody(req));
      } catch (error) {
        return send(res, 400, status({ code: 400, reason: "BadRequest", message: `error decoding YAML: ${(error as Error).message}` }));
      }
      if (!isObject(body)) return send(res, 400, status({ code: 400, reason: "BadRequest", message: "the body is not an object" }));
      const result = store.apply(type, namespace, name, body, query.fieldManager, query.force === "true", query.dryRun === "All");
      return send(res, 200, result);
    }
    if (req.method === "DELETE" && name) {
      const ok = store.remove(type, namespace, name, query.dryRun === "All");
      if (!ok) return notFound();
      return send(res, 200, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { name, kind: type.plural } });
    }
    return send(res, 405, status({ code: 405, reason: "MethodNotAllowed", message: `${req.method} is not implemented by this emulator` }));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error) => {
      if (error instanceof StatusFailure) send(res, error.status.code, status(error.status));
      else send(res, 500, status({ code: 500, reason: "InternalError", message: String((error as Error)?.stack ?? error) }));
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      resolve({ server, url: `http://127.0.0.1:${port}` });
    });
  });
}
