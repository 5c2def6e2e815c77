import { HttpMethod, KubeConfig, KubernetesObjectApi, PatchStrategy, type ResponseContext } from "@kubernetes/client-node";
import { RecshipError } from "../../errors.js";
import { KubeApiError, type ApplyOptions, type KubeClient, type KubeObject, type KubeRef } from "./client.js";

/**
 * Loads a kubeconfig file and picks the context. Errors name the file's role (`where`)
 * and never quote its contents: a kubeconfig holds credentials.
 */
export function loadKubeConfig(path: string, where: string, context?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(path);
  } catch {
    throw new RecshipError("could not be read as a kubeconfig", {
      where,
      fix: "check that it is the YAML that `kubectl config view --raw --minify` prints",
    });
  }
  if (context) {
    if (!kc.getContextObject(context)) {
      throw new RecshipError(
        `has no context "${context}" (it has: ${
          kc
            .getContexts()
            .map((c) => c.name)
            .join(", ") || "none"
        })`,
        {
          where,
          fix: "name one of its contexts, or leave the context empty for its current-context",
        },
      );
    }
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()?.server) {
    throw new RecshipError("has no current context with a cluster server", {
      where,
      fix: "set current-context (or pass a context) naming a context whose cluster has a server URL",
    });
  }
  return kc;
}

/** Calls the API with plain JSON in and out: no typed (de)serialisation that would drop or reshape fields. */
class PlainObjectApi extends KubernetesObjectApi {
  timeoutMs = 30_000;

  static make(kc: KubeConfig): PlainObjectApi {
    const api = kc.makeApiClient(PlainObjectApi);
    api.setDefaultNamespace(kc);
    return api;
  }

  get namespace(): string {
    return this.defaultNamespace;
  }

  async call(
    method: HttpMethod,
    target: KubeObject | KubeRef,
    action: "read" | "patch" | "delete" | "list",
    query: Record<string, string>,
    body?: { text: string; contentType: string },
  ): Promise<KubeObject> {
    const spec =
      "metadata" in target
        ? target
        : { apiVersion: target.apiVersion, kind: target.kind, metadata: { name: target.name, namespace: target.namespace } };
    const path = await this.specUriPath(spec as never, action);
    const ctx = this.configuration.baseServer.makeRequestContext(path, method);
    ctx.setHeaderParam("Accept", "application/json");
    for (const [k, v] of Object.entries(query)) ctx.setQueryParam(k, v);
    if (body) {
      ctx.setHeaderParam("Content-Type", body.contentType);
      ctx.setBody(body.text);
    }
    ctx.setSignal(AbortSignal.timeout(this.timeoutMs));
    return (await this.requestPromise(ctx)) as unknown as KubeObject;
  }

  /** Discovery, answering false when the group/version is not served at all. */
  async servesKind(apiVersion: string, kind: string): Promise<boolean> {
    try {
      return (await this.resource(apiVersion, kind)) !== undefined;
    } catch (error) {
      if (error instanceof KubeApiError && error.status === 404) return false;
      throw error;
    }
  }

  protected override async processResponse<T>(response: ResponseContext): Promise<T> {
    const text = await response.body.text();
    if (response.httpStatusCode >= 200 && response.httpStatusCode <= 299) return (text ? JSON.parse(text) : {}) as T;
    let status: { message?: string; reason?: string; details?: { causes?: { field?: string; message?: string; reason?: string }[] } } = {};
    try {
      status = JSON.parse(text);
    } catch {
      status = { message: text.slice(0, 500) };
    }
    throw new KubeApiError(
      status.message ?? `HTTP ${response.httpStatusCode}`,
      response.httpStatusCode,
      status.reason,
      status.details?.causes ?? [],
    );
  }
}

/** The KubeClient over @kubernetes/client-node, from a kubeconfig. */
export function clientNodeKube(kc: KubeConfig): KubeClient {
  const api = PlainObjectApi.make(kc);
  const server = kc.getCurrentCluster()?.server ?? "?";
  const guard = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof KubeApiError) throw error;
      const e = error as Error & { cause?: { code?: string; message?: string } };
      if (e.name === "TimeoutError" || e.name === "AbortError") {
        throw new RecshipError(`the Kubernetes API at ${server} did not answer within ${api.timeoutMs / 1000}s (${what})`, {
          fix: "check that the runner can reach the cluster",
        });
      }
      if (e.name === "TypeError" && /fetch failed/.test(e.message)) {
        throw new RecshipError(
          `cannot reach the Kubernetes API at ${server} (${e.cause?.code ?? e.cause?.message ?? "network error"}; ${what})`,
          {
            fix: "check the kubeconfig's server URL and that the runner can reach it",
          },
        );
      }
      if (/Unrecognized API version and kind/.test(e.message)) throw new KubeApiError(e.message, 404, "NotFound");
      throw error;
    }
  };
  return {
    server,
    defaultNamespace: api.namespace,
    apply: (object: KubeObject, options: ApplyOptions) =>
      guard(`apply ${object.kind} ${object.metadata.name}`, () =>
        api.call(
          HttpMethod.PATCH,
          object,
          "patch",
          {
            fieldManager: options.fieldManager,
            ...(options.force ? { force: "true" } : {}),
            ...(options.dryRun ? { dryRun: "All" } : {}),
          },
          { text: JSON.stringify(object), contentType: PatchStrategy.ServerSideApply },
        ),
      ),
    get: (ref: KubeRef) =>
      guard(`read ${ref.kind} ${ref.name}`, async () => {
        try {
          return await api.call(HttpMethod.GET, ref, "read", {});
        } catch (error) {
          if (error instanceof KubeApiError && error.status === 404) return undefined;
          throw error;
        }
      }),
    delete: (ref: KubeRef) =>
      guard(`delete ${ref.kind} ${ref.name}`, async () => {
        try {
          await api.call(HttpMethod.DELETE, ref, "delete", { propagationPolicy: "Background" });
          return true;
        } catch (error) {
          if (error instanceof KubeApiError && error.status === 404) return false;
          throw error;
        }
      }),
    list: (apiVersion, kind, namespace, selectors = {}) =>
      guard(`list ${kind}`, async () => {
        const query: Record<string, string> = {};
        if (selectors.labelSelector) query.labelSelector = selectors.labelSelector;
        if (selectors.fieldSelector) query.fieldSelector = selectors.fieldSelector;
        const list = (await api.call(HttpMethod.GET, { apiVersion, kind, namespace, name: "" }, "list", query)) as unknown as {
          items?: KubeObject[];
        };
        return (list.items ?? []).map((item) => ({ ...item, apiVersion, kind }));
      }),
    serves: (apiVersion, kind) => guard(`discover ${apiVersion} ${kind}`, () => api.servesKind(apiVersion, kind)),
  };
}
