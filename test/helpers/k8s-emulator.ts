import { randomBytes } from "node:crypto";
import type { Server } from "node:http";
import { stringify } from "yaml";
import { RolloutController, type FailureRule } from "./k8s/controller.js";
import { BUILT_IN_TYPES, CRD_TYPES, type CrdName, type ResourceType } from "./k8s/resources.js";
import { startApiServer, type RequestRecord } from "./k8s/server.js";
import type { JsonObject } from "./k8s/ssa.js";
import { KubeStore } from "./k8s/store.js";

export type { FailureRule } from "./k8s/controller.js";

export interface EmulatorOptions {
  /** Namespaces that exist (default: default and shop). */
  namespaces?: string[];
  /** Custom resources installed: the Gateway API, Istio, the Prometheus Operator. */
  crds?: CrdName[];
  /** Controller ticks between two reconciles run on their own (default every 5 ms). */
  tickMs?: number;
  /** Ticks without progress before a Deployment's Progressing condition turns ProgressDeadlineExceeded (default 400). */
  progressDeadlineTicks?: number;
  /** The kubeconfig context's namespace (default "shop"). */
  contextNamespace?: string;
}

/**
 * A Kubernetes API emulator for tests: real HTTP on 127.0.0.1 with bearer-token auth, the
 * discovery documents @kubernetes/client-node reads, get/list (label and field selectors),
 * server-side apply (apply-patch+yaml, fieldManager, force, dryRun=All, managedFields with
 * conflict detection, no-op applies that change nothing), DELETE with garbage collection of
 * owned objects, generation / observedGeneration, and a simulated rollout controller whose
 * pods can be told to fail. Not modelled: watches, other patch types, create/update/replace
 * over HTTP, admission, unknown-field pruning, RBAC, the HPA controller, TLS.
 */
export class KubeEmulator {
  readonly token = `emu-${randomBytes(24).toString("hex")}`;
  readonly requests: RequestRecord[] = [];
  readonly store: KubeStore;
  readonly controller: RolloutController;
  readonly contextNamespace: string;
  url = "";
  private rules: FailureRule[] = [];
  private readonly installed: Set<CrdName>;
  private server: Server | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(options: EmulatorOptions) {
    this.store = new KubeStore([...BUILT_IN_TYPES, ...Object.values(CRD_TYPES).flat()]);
    const ns = this.store.typeOf("v1", "Namespace")!;
    for (const name of options.namespaces ?? ["default", "shop"])
      this.store.put(ns, { apiVersion: "v1", kind: "Namespace", metadata: { name } });
    this.installed = new Set(options.crds ?? []);
    this.contextNamespace = options.contextNamespace ?? "shop";
    this.controller = new RolloutController(this.store, {
      progressDeadlineTicks: options.progressDeadlineTicks ?? 400,
      rules: () => this.rules,
    });
  }

  static async start(options: EmulatorOptions = {}): Promise<KubeEmulator> {
    const emulator = new KubeEmulator(options);
    const { server, url } = await startApiServer({
      token: emulator.token,
      store: emulator.store,
      requests: emulator.requests,
      served: () => [...BUILT_IN_TYPES, ...[...emulator.installed].flatMap((c) => CRD_TYPES[c])],
    });
    emulator.server = server;
    emulator.url = url;
    emulator.timer = setInterval(() => emulator.controller.tick(), options.tickMs ?? 5);
    return emulator;
  }

  /** A kubeconfig for the emulator: bearer token, current context in `contextNamespace`. */
  kubeconfig(): string {
    return stringify({
      apiVersion: "v1",
      kind: "Config",
      // plain HTTP: @kubernetes/client-node only allows it with insecure-skip-tls-verify
      clusters: [{ name: "emulator", cluster: { server: this.url, "insecure-skip-tls-verify": true } }],
      users: [{ name: "ci", user: { token: this.token } }],
      contexts: [{ name: "emulator", context: { cluster: "emulator", user: "ci", namespace: this.contextNamespace } }],
      "current-context": "emulator",
    });
  }

  /** Makes matching pods fail as `mode` says, until cleared. */
  failPods(rule: FailureRule): void {
    this.rules.push(rule);
  }

  clearFailures(): void {
    this.rules = [];
  }

  installCrd(name: CrdName): void {
    this.installed.add(name);
  }

  private type(apiVersion: string, kind: string): ResourceType {
    const t = this.store.typeOf(apiVersion, kind);
    if (!t) throw new Error(`the emulator has no ${apiVersion} ${kind}`);
    return t;
  }

  get(apiVersion: string, kind: string, namespace: string, name: string): JsonObject | undefined {
    return this.store.get(this.type(apiVersion, kind), namespace, name);
  }

  list(apiVersion: string, kind: string, namespace?: string): JsonObject[] {
    return this.store.list(this.type(apiVersion, kind), namespace);
  }

  /** Names of the objects of a kind in a namespace, sorted. */
  names(apiVersion: string, kind: string, namespace: string): string[] {
    return this.list(apiVersion, kind, namespace)
      .map((o) => String((o.metadata as JsonObject).name))
      .sort();
  }

  /** A change by another tool (kubectl edit / scale): its Update takes the fields it changes. */
  edit(
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
    mutate: (o: JsonObject) => void,
    manager = "kubectl-edit",
  ): JsonObject {
    return this.store.update(this.type(apiVersion, kind), namespace, name, mutate, manager);
  }

  /** resourceVersion of every object except Events and what the controller owns (pods, ReplicaSets): a change detector. */
  snapshot(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const t of this.store.types) {
      if (["Event", "Pod", "ReplicaSet"].includes(t.kind)) continue;
      for (const o of this.store.list(t)) {
        const m = o.metadata as JsonObject;
        out[`${t.kind}/${m.namespace ?? ""}/${m.name}`] = String(m.resourceVersion);
      }
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
