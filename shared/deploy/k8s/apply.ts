import { RecshipError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { describeRef, KubeApiError, refOf, type KubeClient, type KubeObject, type KubeRef } from "./client.js";
import { unifiedDiff } from "./diff.js";
import { FIELD_MANAGER, LABELS } from "./names.js";
import type { ObjectAction, ObjectChange } from "./types.js";

/**
 * How to fix an object the API server refused. Before Kubernetes 1.30 the preStop hook's sleep
 * action is unknown: dropped, which leaves a hook without a handler, or refused as an unknown field.
 */
function rejectionFix(error: KubeApiError): string {
  const text = [error.message, ...error.causes.map((c) => `${c.field ?? ""} ${c.message ?? ""}`)].join(" ");
  if (/preStop|\bsleep\b/.test(text)) {
    return "the cluster is older than Kubernetes 1.30 and has no preStop sleep action: set prestop-seconds to 0 (no preStop pause), or upgrade the cluster";
  }
  return "check the deploy inputs it names";
}

/** An API refusal as the user's problem to fix, where it is one. */
export function apiError(error: unknown, verb: string, ref: KubeRef, server: string): unknown {
  if (!(error instanceof KubeApiError)) return error;
  const what = `${verb} ${describeRef(ref)}`;
  switch (error.status) {
    case 401:
      return new RecshipError(`the Kubernetes API at ${server} did not accept the credentials (${what})`, {
        fix: "refresh the kubeconfig secret: its token or certificate may have expired",
      });
    case 403:
      return new RecshipError(`the kubeconfig's user may not ${what}: ${error.message}`, {
        fix: `grant it get, list, patch and delete on ${ref.kind} in namespace ${ref.namespace} (a Role and RoleBinding)`,
      });
    case 404:
      if (/namespaces? .*not found/i.test(error.message)) {
        return new RecshipError(`namespace ${ref.namespace} does not exist (${what})`, {
          fix: "create it (kubectl create namespace) or set namespace",
        });
      }
      return new RecshipError(`${what}: the cluster does not serve it (${error.message})`);
    case 409: {
      const fields = error.causes.map((c) => c.field ?? c.message).filter(Boolean);
      return new RecshipError(
        `server-side apply of ${describeRef(ref)} conflicts with another field manager: ${error.message}${fields.length ? ` (${fields.join(", ")})` : ""}`,
        {
          fix: "someone changed these fields outside recship (kubectl edit, scale or another tool): set force-conflicts to take them over, or make the change through recship's inputs",
        },
      );
    }
    case 422:
    case 400:
      return new RecshipError(`the API server rejected ${describeRef(ref)}: ${error.message}`, { fix: rejectionFix(error) });
    default:
      return new RecshipError(`${what} failed: HTTP ${error.status} ${error.message}`);
  }
}

const RANK: Record<ObjectAction, number> = {
  unchanged: 0,
  configured: 1,
  "would configure": 1,
  created: 2,
  "would create": 2,
  deleted: 3,
  "would delete": 3,
};

function key(ref: KubeRef): string {
  return `${ref.apiVersion}/${ref.kind}/${ref.namespace}/${ref.name}`;
}

/**
 * Applies and deletes objects, recording what changed: server-side apply with the recship
 * field manager (forcing only when asked); in a dry run the server's dry-run answer is diffed
 * against the live object and nothing is stored.
 */
export class Applier {
  readonly changes: ObjectChange[] = [];
  readonly diffs: string[] = [];
  private readonly served = new Map<string, boolean>();

  constructor(
    private readonly client: KubeClient,
    private readonly options: { force: boolean; dryRun: boolean; log: Logger },
  ) {}

  private record(ref: KubeRef, action: ObjectAction): void {
    const i = this.changes.findIndex((c) => key(c) === key(ref));
    const change = { apiVersion: ref.apiVersion, kind: ref.kind, namespace: ref.namespace, name: ref.name, action };
    if (i >= 0) {
      // applied twice in one deploy (e.g. the route before and after the canary): keep the strongest
      if (RANK[action] >= RANK[this.changes[i].action]) this.changes[i] = change;
    } else this.changes.push(change);
  }

  /** Whether the cluster serves the kind (cached). */
  async serves(apiVersion: string, kind: string): Promise<boolean> {
    const k = `${apiVersion}/${kind}`;
    if (!this.served.has(k)) this.served.set(k, await this.client.serves(apiVersion, kind));
    return this.served.get(k)!;
  }

  /** Checks that the cluster serves every kind before anything is applied. */
  async requireKinds(objects: KubeObject[]): Promise<void> {
    for (const o of objects) {
      if (await this.serves(o.apiVersion, o.kind)) continue;
      const hint: Record<string, string> = {
        HTTPRoute: "install the Gateway API CRDs (standard channel) or use traffic: replicas",
        VirtualService: "install Istio (1.22 or newer serves networking.istio.io/v1) or use traffic: replicas",
        ServiceMonitor: "install the Prometheus Operator CRDs or use metrics: annotations",
      };
      throw new RecshipError(`the cluster at ${this.client.server} does not serve ${o.kind} (${o.apiVersion})`, {
        fix: hint[o.kind] ?? "use a cluster that serves it",
      });
    }
  }

  async apply(objects: KubeObject[]): Promise<void> {
    for (const object of objects) {
      const ref = refOf(object);
      try {
        const live = await this.client.get(ref);
        const result = await this.client.apply(object, {
          fieldManager: FIELD_MANAGER,
          force: this.options.force,
          dryRun: this.options.dryRun,
        });
        if (this.options.dryRun) {
          const diff = unifiedDiff(describeRef(ref), live, result);
          if (diff) this.diffs.push(diff);
          this.record(ref, !live ? "would create" : diff ? "would configure" : "unchanged");
        } else {
          const action: ObjectAction = !live
            ? "created"
            : live.metadata.resourceVersion === result.metadata.resourceVersion
              ? "unchanged"
              : "configured";
          this.record(ref, action);
          this.options.log.info(`${describeRef(ref)} ${action}`);
        }
      } catch (error) {
        throw apiError(error, "apply", ref, this.client.server);
      }
    }
  }

  /**
   * Deletes the objects of `refs` that exist and are not in `keep`. Only objects labelled as
   * managed by recship are deleted; others are left with a warning.
   */
  async prune(refs: KubeRef[], keep: KubeObject[], warnings: string[]): Promise<void> {
    const kept = new Set(keep.map((o) => key(refOf(o))));
    for (const ref of refs) {
      if (kept.has(key(ref))) continue;
      if (!(await this.serves(ref.apiVersion, ref.kind))) continue;
      try {
        const live = await this.client.get(ref);
        if (!live) continue;
        if (live.metadata.labels?.[LABELS.managedBy] !== "recship") {
          warnings.push(`${describeRef(ref)} is not labelled ${LABELS.managedBy}=recship: left in place`);
          continue;
        }
        if (this.options.dryRun) {
          this.diffs.push(unifiedDiff(describeRef(ref), live, undefined));
          this.record(ref, "would delete");
        } else {
          if (await this.client.delete(ref)) {
            this.record(ref, "deleted");
            this.options.log.info(`${describeRef(ref)} deleted`);
          }
        }
      } catch (error) {
        throw apiError(error, "delete", ref, this.client.server);
      }
    }
  }
}
