import { createHash, randomBytes } from "node:crypto";
import type { ResourceType } from "./resources.js";
import { deepEqual, isObject, type Json, type JsonObject } from "./ssa.js";
import type { KubeStore } from "./store.js";

/** How the pods of a matching rollout misbehave. */
export type FailureMode =
  /** The server image does not exist: ErrImagePull, then ImagePullBackOff, with Failed/BackOff events. */
  | "image-pull-backoff"
  /** The server runs but /v2/health/ready never passes: Unhealthy events, until the progress deadline. */
  | "never-ready"
  /** The server exits at start: CrashLoopBackOff with a termination message. */
  | "crash-loop"
  /** The verify-model init container finds another sha256: Init:CrashLoopBackOff with the checksum message. */
  | "checksum-mismatch"
  /** No node fits (e.g. no free GPU): Pending, a FailedScheduling event, until the progress deadline. */
  | "unschedulable";

export interface FailureRule {
  /** Pods whose labels / server image match all given fields. */
  match: { image?: string; modelVersion?: string; variant?: string; app?: string };
  mode: FailureMode;
}

const REVISION = "deployment.kubernetes.io/revision";
const HASH = "pod-template-hash";
const meta = (o: JsonObject) => o.metadata as JsonObject;
const labelsOf = (o: JsonObject) => (meta(o).labels as Record<string, string> | undefined) ?? {};
const specOf = (o: JsonObject) => (o.spec as JsonObject) ?? {};

function templateHash(template: Json): string {
  const sorted = (v: Json): Json =>
    Array.isArray(v)
      ? v.map(sorted)
      : isObject(v)
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sorted(v[k])]),
          )
        : v;
  return createHash("sha256")
    .update(JSON.stringify(sorted(template)))
    .digest("hex")
    .slice(0, 10);
}

/**
 * A simulated deployment controller, replica-set controller and kubelet: each tick creates
 * ReplicaSets and pods for Deployments, moves pods through their lifecycle (or the failure a
 * rule asks for), scales old ReplicaSets down once the new pods are ready (maxUnavailable 0),
 * and writes Deployment status with observedGeneration and the Progressing condition.
 */
export class RolloutController {
  tickCount = 0;
  private readonly podAge = new Map<string, number>();
  private readonly lastProgress = new Map<string, { tick: number; ready: number; hash: string }>();
  private readonly t: Record<"Deployment" | "ReplicaSet" | "Pod" | "Event", ResourceType>;

  constructor(
    private readonly store: KubeStore,
    private readonly options: { progressDeadlineTicks: number; rules: () => FailureRule[] },
  ) {
    const find = (kind: string) => store.types.find((x) => x.kind === kind)!;
    this.t = { Deployment: find("Deployment"), ReplicaSet: find("ReplicaSet"), Pod: find("Pod"), Event: find("Event") };
  }

  /** Records a Warning/Normal event on an object, counting repeats like the event recorder. */
  event(involved: JsonObject, type: "Normal" | "Warning", reason: string, message: string, component: string): void {
    const m = meta(involved);
    const ns = String(m.namespace ?? "default");
    const existing = this.store
      .list(this.t.Event, ns)
      .find((e) => (e.involvedObject as JsonObject).uid === m.uid && e.reason === reason && e.message === message);
    const now = new Date().toISOString();
    if (existing) {
      existing.count = Number(existing.count ?? 1) + 1;
      existing.lastTimestamp = now;
      this.store.put(this.t.Event, existing);
      return;
    }
    this.store.put(this.t.Event, {
      apiVersion: "v1",
      kind: "Event",
      metadata: { name: `${m.name}.${randomBytes(8).toString("hex")}`, namespace: ns },
      involvedObject: {
        apiVersion: String(involved.apiVersion),
        kind: String(involved.kind),
        name: String(m.name),
        namespace: ns,
        uid: String(m.uid),
      },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component },
    });
  }

  tick(): void {
    this.tickCount++;
    for (const d of this.store.list(this.t.Deployment)) this.reconcile(d);
  }

  private ownedBy(type: ResourceType, owner: JsonObject): JsonObject[] {
    return this.store
      .list(type, String(meta(owner).namespace))
      .filter((o) => ((meta(o).ownerReferences as JsonObject[] | undefined) ?? []).some((r) => r.uid === meta(owner).uid));
  }

  private reconcile(d: JsonObject): void {
    const ns = String(meta(d).namespace);
    const name = String(meta(d).name);
    const spec = specOf(d);
    const desired = Number(spec.replicas ?? 1);
    const template = spec.template as JsonObject;
    const hash = templateHash(template);
    const sets = this.ownedBy(this.t.ReplicaSet, d);
    let newRs = sets.find((rs) => labelsOf(rs)[HASH] === hash);
    const key = `${ns}/${name}`;
    if (!newRs) {
      const revision = Math.max(0, ...sets.map((rs) => Number((meta(rs).annotations as JsonObject | undefined)?.[REVISION] ?? 0))) + 1;
      const labels = { ...((template.metadata as JsonObject)?.labels as JsonObject), [HASH]: hash };
      newRs = this.store.put(this.t.ReplicaSet, {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        metadata: {
          name: `${name}-${hash}`,
          namespace: ns,
          labels,
          annotations: { [REVISION]: String(revision) },
          ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name, uid: String(meta(d).uid), controller: true }],
        },
        spec: {
          replicas: desired,
          selector: { matchLabels: { ...((spec.selector as JsonObject)?.matchLabels as JsonObject), [HASH]: hash } },
          template: { ...template, metadata: { ...(template.metadata as JsonObject), labels } },
        },
      });
      this.event(d, "Normal", "ScalingReplicaSet", `Scaled up replica set ${name}-${hash} to ${desired}`, "deployment-controller");
      this.lastProgress.set(key, { tick: this.tickCount, ready: 0, hash });
    } else if (specOf(newRs).replicas !== desired) {
      specOf(newRs).replicas = desired;
      newRs = this.store.put(this.t.ReplicaSet, newRs);
    }
    const revision = String((meta(newRs).annotations as JsonObject)[REVISION]);
    const annotations = (meta(d).annotations as JsonObject | undefined) ?? {};
    if (annotations[REVISION] !== revision) {
      meta(d).annotations = { ...annotations, [REVISION]: revision };
      d = this.store.put(this.t.Deployment, d);
    }

    const newPods = this.scalePods(newRs, desired);
    const readyNew = newPods.filter((p) => this.podReady(p)).length;
    let oldPods: JsonObject[] = [];
    for (const rs of sets.filter((s) => meta(s).uid !== meta(newRs!).uid)) {
      if (readyNew >= desired) {
        if (specOf(rs).replicas !== 0) {
          specOf(rs).replicas = 0;
          this.store.put(this.t.ReplicaSet, rs);
          this.event(d, "Normal", "ScalingReplicaSet", `Scaled down replica set ${meta(rs).name} to 0`, "deployment-controller");
        }
        this.scalePods(rs, 0);
      } else oldPods = oldPods.concat(this.scalePods(rs, Number(specOf(rs).replicas ?? 0)));
    }

    const progress = this.lastProgress.get(key) ?? { tick: this.tickCount, ready: 0, hash };
    if (progress.hash !== hash || readyNew > progress.ready) this.lastProgress.set(key, { tick: this.tickCount, ready: readyNew, hash });
    const p = this.lastProgress.get(key) ?? progress;

    const all = [...newPods, ...oldPods];
    const ready = all.filter((x) => this.podReady(x)).length;
    const complete = newPods.length === desired && all.length === newPods.length && readyNew >= desired;
    const rsName = `${name}-${hash}`;
    const previous = ((d.status as JsonObject | undefined)?.conditions as JsonObject[] | undefined) ?? [];
    const condition = (type: string, status: string, reason: string, message: string): JsonObject => {
      const before = previous.find((c) => c.type === type);
      const now = new Date().toISOString();
      const same = before && before.status === status && before.reason === reason;
      return {
        type,
        status,
        reason,
        message,
        lastUpdateTime: same ? before.lastUpdateTime : now,
        lastTransitionTime: before && before.status === status ? before.lastTransitionTime : now,
      };
    };
    let progressing: JsonObject;
    if (complete)
      progressing = condition("Progressing", "True", "NewReplicaSetAvailable", `ReplicaSet "${rsName}" has successfully progressed.`);
    else if (this.tickCount - p.tick > this.options.progressDeadlineTicks) {
      progressing = condition("Progressing", "False", "ProgressDeadlineExceeded", `ReplicaSet "${rsName}" has timed out progressing.`);
    } else progressing = condition("Progressing", "True", "ReplicaSetUpdated", `ReplicaSet "${rsName}" is progressing.`);
    const available =
      ready >= desired
        ? condition("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        : condition("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.");
    const status: JsonObject = {
      observedGeneration: Number(meta(d).generation ?? 1),
      replicas: all.length,
      updatedReplicas: newPods.length,
      readyReplicas: ready,
      availableReplicas: ready,
      ...(all.length - ready > 0 ? { unavailableReplicas: all.length - ready } : {}),
      conditions: [available, progressing],
    };
    if (!deepEqual(d.status, status)) this.store.put(this.t.Deployment, { ...d, status });
  }

  /** The ReplicaSet's pods, created or deleted to `count`, each moved one lifecycle step. */
  private scalePods(rs: JsonObject, count: number): JsonObject[] {
    let pods = this.ownedBy(this.t.Pod, rs);
    while (pods.length > count) {
      const victim = pods.pop()!;
      this.store.delete(this.t.Pod, String(meta(victim).namespace), String(meta(victim).name));
    }
    while (pods.length < count) pods.push(this.createPod(rs));
    pods = pods.map((p) => this.step(p));
    const rsStatus = {
      replicas: pods.length,
      readyReplicas: pods.filter((p) => this.podReady(p)).length,
      observedGeneration: Number(meta(rs).generation ?? 1),
    };
    if (!deepEqual(rs.status, rsStatus)) this.store.put(this.t.ReplicaSet, { ...rs, status: rsStatus });
    return pods;
  }

  private createPod(rs: JsonObject): JsonObject {
    const template = specOf(rs).template as JsonObject;
    const pod = this.store.put(this.t.Pod, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: `${meta(rs).name}-${randomBytes(3).toString("hex").slice(0, 5)}`,
        namespace: String(meta(rs).namespace),
        labels: (template.metadata as JsonObject).labels,
        ...((template.metadata as JsonObject).annotations ? { annotations: (template.metadata as JsonObject).annotations } : {}),
        ownerReferences: [
          { apiVersion: "apps/v1", kind: "ReplicaSet", name: String(meta(rs).name), uid: String(meta(rs).uid), controller: true },
        ],
      },
      spec: { ...(template.spec as JsonObject), nodeName: "emulated-node" },
      status: { phase: "Pending" },
    });
    this.podAge.set(String(meta(pod).uid), 0);
    this.event(
      pod,
      "Normal",
      "Scheduled",
      `Successfully assigned ${meta(pod).namespace}/${meta(pod).name} to emulated-node`,
      "default-scheduler",
    );
    return pod;
  }

  podReady(pod: JsonObject): boolean {
    const conditions = ((pod.status as JsonObject | undefined)?.conditions as JsonObject[] | undefined) ?? [];
    return conditions.some((c) => c.type === "Ready" && c.status === "True");
  }

  private failureFor(pod: JsonObject): FailureMode | undefined {
    const labels = labelsOf(pod);
    const server =
      ((specOf(pod).containers as JsonObject[]) ?? []).find((c) => c.name === "model-server") ??
      ((specOf(pod).containers as JsonObject[]) ?? [])[0];
    return this.options
      .rules()
      .find(
        (r) =>
          (r.match.image === undefined || server?.image === r.match.image) &&
          (r.match.modelVersion === undefined || labels["model-version"] === r.match.modelVersion) &&
          (r.match.variant === undefined || labels.variant === r.match.variant) &&
          (r.match.app === undefined || labels.app === r.match.app),
      )?.mode;
  }

  /** One kubelet step for a pod: its container statuses after `age` ticks, as the failure mode has them. */
  private step(pod: JsonObject): JsonObject {
    const uid = String(meta(pod).uid);
    const age = (this.podAge.get(uid) ?? 0) + 1;
    this.podAge.set(uid, age);
    const mode = this.failureFor(pod);
    const spec = specOf(pod);
    const inits = ((spec.initContainers as JsonObject[]) ?? []).map((c) => String(c.name));
    const mains = ((spec.containers as JsonObject[]) ?? []).map((c) => ({ name: String(c.name), image: String(c.image) }));
    const done = { terminated: { exitCode: 0, reason: "Completed" } };
    const cs = (name: string, state: JsonObject, ready = false, restartCount = 0, extra: JsonObject = {}): JsonObject => ({
      name,
      state,
      ready,
      restartCount,
      ...extra,
    });
    let phase = "Running";
    let initStatuses: JsonObject[] = inits.map((n) => cs(n, done));
    let mainStatuses: JsonObject[] = mains.map((c) => cs(c.name, { running: { startedAt: "2025-01-01T00:00:00Z" } }, true));
    let podReady = true;
    let extraConditions: JsonObject[] = [];
    const restarts = Math.floor(age / 2);
    const podName = String(meta(pod).name);

    if (age <= 1) {
      phase = "Pending";
      initStatuses = inits.map((n, i) =>
        cs(n, i === 0 ? { running: { startedAt: "2025-01-01T00:00:00Z" } } : { waiting: { reason: "PodInitializing" } }),
      );
      mainStatuses = mains.map((c) => cs(c.name, { waiting: { reason: "PodInitializing" } }));
      podReady = false;
    } else if (mode === "image-pull-backoff") {
      const image = mains[0].image;
      const reason = age === 2 ? "ErrImagePull" : "ImagePullBackOff";
      const message =
        reason === "ErrImagePull" ? `failed to pull and unpack image "${image}": not found` : `Back-off pulling image "${image}"`;
      mainStatuses = mains.map((c, i) => (i === 0 ? cs(c.name, { waiting: { reason, message } }) : cs(c.name, { running: {} }, true)));
      podReady = false;
      this.event(
        pod,
        "Warning",
        "Failed",
        `Failed to pull image "${image}": rpc error: code = NotFound desc = failed to pull and unpack image "${image}": not found`,
        "kubelet",
      );
      if (reason === "ImagePullBackOff") this.event(pod, "Warning", "BackOff", `Back-off pulling image "${image}"`, "kubelet");
    } else if (mode === "never-ready") {
      mainStatuses = mains.map((c) => cs(c.name, { running: { startedAt: "2025-01-01T00:00:00Z" } }, false));
      podReady = false;
      this.event(pod, "Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", "kubelet");
    } else if (mode === "crash-loop") {
      const last = { terminated: { exitCode: 1, reason: "Error", message: 'error: the model has no "item_seq" input' } };
      mainStatuses = mains.map((c) =>
        cs(
          c.name,
          { waiting: { reason: "CrashLoopBackOff", message: `back-off restarting failed container ${c.name} in pod ${podName}` } },
          false,
          restarts,
          { lastState: last },
        ),
      );
      podReady = false;
      this.event(pod, "Warning", "BackOff", `Back-off restarting failed container ${mains[0].name} in pod ${podName}`, "kubelet");
    } else if (mode === "checksum-mismatch") {
      phase = "Pending";
      const env = ((((spec.initContainers as JsonObject[]) ?? [])[0]?.env as JsonObject[]) ?? []).find(
        (e) => e.name === "RECSHIP_MODEL_FILES",
      );
      const [sha, , , url] = String(env?.value ?? "? ? ? ?")
        .split("\n")[0]
        .split(" ");
      const message = `recship: checksum mismatch for ${url}: expected sha256 ${sha}, got ${"0".repeat(64)}`;
      initStatuses = inits.map((n) =>
        n === "verify-model"
          ? cs(
              n,
              { waiting: { reason: "CrashLoopBackOff", message: `back-off restarting failed container ${n} in pod ${podName}` } },
              false,
              restarts,
              {
                lastState: { terminated: { exitCode: 1, reason: "Error", message } },
              },
            )
          : cs(n, done),
      );
      mainStatuses = mains.map((c) => cs(c.name, { waiting: { reason: "PodInitializing" } }));
      podReady = false;
      this.event(pod, "Warning", "BackOff", `Back-off restarting failed container verify-model in pod ${podName}`, "kubelet");
    } else if (mode === "unschedulable") {
      phase = "Pending";
      initStatuses = [];
      mainStatuses = [];
      podReady = false;
      extraConditions = [
        {
          type: "PodScheduled",
          status: "False",
          reason: "Unschedulable",
          message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
        },
      ];
      this.event(
        pod,
        "Warning",
        "FailedScheduling",
        "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available.",
        "default-scheduler",
      );
    } else if (age === 2) {
      // healthy, started but the readiness probe has not passed yet
      mainStatuses = mains.map((c) => cs(c.name, { running: { startedAt: "2025-01-01T00:00:00Z" } }, false));
      podReady = false;
    }
    const status: JsonObject = {
      phase,
      conditions: [
        ...(extraConditions.length ? extraConditions : [{ type: "PodScheduled", status: "True" }]),
        { type: "Ready", status: podReady ? "True" : "False" },
      ],
      ...(initStatuses.length ? { initContainerStatuses: initStatuses } : {}),
      ...(mainStatuses.length ? { containerStatuses: mainStatuses } : {}),
    };
    if (deepEqual(pod.status, status)) return pod;
    return this.store.put(this.t.Pod, { ...pod, status });
  }
}
