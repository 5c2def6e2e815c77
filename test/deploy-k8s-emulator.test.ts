import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeApiError, type KubeClient, type KubeObject } from "../shared/deploy/k8s/client.js";
import { clientNodeKube, loadKubeConfig } from "../shared/deploy/k8s/client-node.js";
import { KubeEmulator } from "./helpers/k8s-emulator.js";
import { tempDir } from "./helpers/tmp.js";

// The emulator itself, through @kubernetes/client-node: what the deployer's tests rely on.
const dir = tempDir("recship-k8s-emu-");
let emu: KubeEmulator;
let kube: KubeClient;

const cm = (data: Record<string, string>, labels?: Record<string, string>): KubeObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "svc", namespace: "shop", ...(labels ? { labels } : {}) },
  spec: { selector: { app: "a" }, ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }], ...data },
});
const apply = (o: KubeObject, force = false, dryRun = false, fieldManager = "recship") => kube.apply(o, { fieldManager, force, dryRun });
const deployment = (image: string, replicas?: number): KubeObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web", namespace: "shop", labels: { app: "web" } },
  spec: {
    ...(replicas !== undefined ? { replicas } : {}),
    selector: { matchLabels: { app: "web" } },
    template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "main", image }] } },
  },
});

async function until<T>(fn: () => Promise<T | undefined>, what: string, tries = 400): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`gave up waiting for ${what}`);
}

beforeAll(async () => {
  emu = await KubeEmulator.start({ crds: ["istio"] });
  const path = join(dir, "kubeconfig");
  writeFileSync(path, emu.kubeconfig(), { mode: 0o600 });
  kube = clientNodeKube(loadKubeConfig(path, "kubeconfig"));
});
afterAll(() => emu.close());

describe("Kubernetes API emulator", () => {
  it("answers discovery for built-in kinds and installed CRDs only, and the context's namespace", async () => {
    expect(kube.defaultNamespace).toBe("shop");
    expect(await kube.serves("apps/v1", "Deployment")).toBe(true);
    expect(await kube.serves("networking.istio.io/v1", "VirtualService")).toBe(true);
    expect(await kube.serves("gateway.networking.k8s.io/v1", "HTTPRoute")).toBe(false);
    expect(await kube.serves("v1", "NoSuchKind")).toBe(false);
  });

  it("refuses a wrong token", async () => {
    const path = join(dir, "bad-kubeconfig");
    writeFileSync(path, emu.kubeconfig().replace(emu.token, "not-the-token"));
    const bad = clientNodeKube(loadKubeConfig(path, "kubeconfig"));
    await expect(bad.get({ apiVersion: "v1", kind: "Service", namespace: "shop", name: "x" })).rejects.toMatchObject({ status: 401 });
  });

  it("server-side apply: creates, then a same apply changes nothing, a different one changes the resourceVersion", async () => {
    const created = await apply(cm({}));
    expect(created.metadata.resourceVersion).toBeDefined();
    expect((created.spec as { clusterIP?: string }).clusterIP).toMatch(/^10\.96\./); // defaulted
    const same = await apply(cm({}));
    expect(same.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    const changed = await apply(cm({ sessionAffinity: "ClientIP" }));
    expect(changed.metadata.resourceVersion).not.toBe(created.metadata.resourceVersion);
    const managed = changed.metadata.managedFields as { manager: string; operation: string; fieldsV1: Record<string, unknown> }[];
    expect(managed.map((m) => [m.manager, m.operation])).toEqual([["recship", "Apply"]]);
    expect(Object.keys(managed[0].fieldsV1["f:spec"] as object)).toContain("f:sessionAffinity");
    expect(
      emu.requests.some(
        (r) => r.method === "PATCH" && r.contentType === "application/apply-patch+yaml" && r.query.fieldManager === "recship",
      ),
    ).toBe(true);
  });

  it("removes a field the manager stops applying, keeps one another manager owns", async () => {
    await apply(cm({}, { a: "1", b: "2" }));
    emu.edit("v1", "Service", "shop", "svc", (o) => {
      (o.metadata as { labels: Record<string, string> }).labels.c = "3";
    });
    const after = await apply(cm({}, { a: "1" }));
    expect(after.metadata.labels).toEqual({ a: "1", c: "3" });
  });

  it("answers 409 when another manager owns a field with another value, and takes it over with force", async () => {
    emu.edit("v1", "Service", "shop", "svc", (o) => {
      (o.spec as { sessionAffinity: string }).sessionAffinity = "ClientIP";
    });
    const error = await apply(cm({ sessionAffinity: "None" })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeApiError);
    expect((error as KubeApiError).status).toBe(409);
    expect((error as KubeApiError).causes.map((c) => c.field)).toEqual([".spec.sessionAffinity"]);
    expect((error as KubeApiError).message).toMatch(/conflict with "kubectl-edit"/);
    // the same value is shared ownership, not a conflict
    await expect(apply(cm({ sessionAffinity: "ClientIP" }))).resolves.toBeDefined();
    const forced = await apply(cm({ sessionAffinity: "None" }), true);
    expect((forced.spec as { sessionAffinity: string }).sessionAffinity).toBe("None");
    const owners = (forced.metadata.managedFields as { manager: string; fieldsV1: { "f:spec"?: object } }[]).filter(
      (m) => "f:sessionAffinity" in (m.fieldsV1["f:spec"] ?? {}),
    );
    expect(owners.map((m) => m.manager)).toEqual(["recship"]);
  });

  it("dry-run answers the would-be object and stores nothing", async () => {
    const before = await kube.get({ apiVersion: "v1", kind: "Service", namespace: "shop", name: "svc" });
    const would = await apply(cm({ sessionAffinity: "ClientIP" }), true, true);
    expect((would.spec as { sessionAffinity: string }).sessionAffinity).toBe("ClientIP");
    const after = await kube.get({ apiVersion: "v1", kind: "Service", namespace: "shop", name: "svc" });
    expect(after).toEqual(before);
  });

  it("refuses a namespace that does not exist and an immutable selector change", async () => {
    await expect(apply({ ...cm({}), metadata: { name: "svc", namespace: "nowhere" } })).rejects.toMatchObject({ status: 404 });
    await apply(deployment("nginx:1"));
    const other = deployment("nginx:1");
    (other.spec as { selector: object }).selector = { matchLabels: { app: "other" } };
    await expect(apply(other)).rejects.toMatchObject({ status: 422 });
  });

  it("rejects an applied object that fails the API schema", async () => {
    const bad = deployment("nginx:1");
    (bad.spec as { replicas: unknown }).replicas = "three";
    const error = await apply(bad).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 422 });
    expect((error as Error).message).toMatch(/spec\/replicas/);
  });

  it("rolls a Deployment out: generation, observedGeneration, ReplicaSets, pods, old pods gone", async () => {
    const first = await apply(deployment("nginx:1", 2));
    const gen = first.metadata.generation!;
    await until(async () => {
      const d = (await kube.get({ apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web" })) as any;
      return d.status?.observedGeneration === gen && d.status.availableReplicas === 2 && d.status.replicas === 2 ? d : undefined;
    }, "the first rollout");
    const second = await apply(deployment("nginx:2", 2));
    expect(second.metadata.generation).toBe(gen + 1);
    const done = await until(async () => {
      const d = (await kube.get({ apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web" })) as any;
      return d.status?.observedGeneration === gen + 1 &&
        d.status.updatedReplicas === 2 &&
        d.status.replicas === 2 &&
        d.status.availableReplicas === 2
        ? d
        : undefined;
    }, "the second rollout");
    expect(done.metadata.annotations["deployment.kubernetes.io/revision"]).toBe("2");
    const pods = await kube.list("v1", "Pod", "shop", { labelSelector: "app=web" });
    expect(pods).toHaveLength(2);
    expect(pods.every((p: any) => p.spec.containers[0].image === "nginx:2")).toBe(true);
    // a status-only change does not bump generation
    expect(done.metadata.generation).toBe(gen + 1);
  });

  it("keeps old pods while new ones fail, reports it with events, and garbage-collects on delete", async () => {
    emu.failPods({ match: { image: "nginx:broken" }, mode: "image-pull-backoff" });
    await apply(deployment("nginx:broken", 2));
    const pod = await until(async () => {
      const pods = await kube.list("v1", "Pod", "shop", { labelSelector: "app=web" });
      return pods.find((p: any) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === "ImagePullBackOff");
    }, "ImagePullBackOff");
    const events = await kube.list("v1", "Event", "shop", { fieldSelector: `involvedObject.name=${pod.metadata.name},type=Warning` });
    expect(events.map((e: any) => e.reason)).toContain("Failed");
    const ready = (await kube.list("v1", "Pod", "shop", { labelSelector: "app=web" })).filter(
      (p: any) => p.spec.containers[0].image === "nginx:2",
    );
    expect(ready).toHaveLength(2);
    expect(await kube.delete({ apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web" })).toBe(true);
    expect(await kube.list("v1", "Pod", "shop", { labelSelector: "app=web" })).toEqual([]);
    expect(await kube.list("apps/v1", "ReplicaSet", "shop")).toEqual([]);
    expect(await kube.delete({ apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "web" })).toBe(false);
    emu.clearFailures();
  });
});
