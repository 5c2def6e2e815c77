import { createHash } from "node:crypto";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DeployFailure, deployKubernetes, kubernetesStatus, teardownKubernetes, withKubeClient } from "../shared/deploy/k8s/deploy.js";
import { kubeconfigSecrets, writeKubeconfig } from "../shared/deploy/k8s/kubeconfig.js";
import { KubernetesTarget } from "../shared/deploy/k8s/target.js";
import type { KubernetesDeployOptions, KubernetesDeployResult, ModelSource } from "../shared/deploy/k8s/types.js";
import { isRecshipError } from "../shared/errors.js";
import { memoryLogger } from "../shared/log.js";
import { kubernetesDeploySummary } from "../shared/report/deploy-summary.js";
import { KubeEmulator, type EmulatorOptions } from "./helpers/k8s-emulator.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir("recship-k8s-deploy-");
const IMAGE = "ghcr.io/shop/recship:0.1.0";
const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const model = (version: string): ModelSource => ({ version, url: `https://models.example/recs/${version}.tar.gz`, sha256: sha(version) });

let emu: KubeEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function start(options: EmulatorOptions = {}): Promise<KubeEmulator> {
  emu = await KubeEmulator.start(options);
  return emu;
}

function deploy(e: KubeEmulator, options: Partial<KubernetesDeployOptions> & Pick<KubernetesDeployOptions, "mode">, log = memoryLogger()) {
  return deployKubernetes({ kubeconfig: e.kubeconfig(), tempDir: dir, name: "recs", image: IMAGE, pollIntervalMs: 5, log, ...options });
}

async function failure(p: Promise<unknown>): Promise<DeployFailure> {
  const e = await p.then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(e).toBeInstanceOf(DeployFailure);
  return e as DeployFailure;
}

const deployments = (e: KubeEmulator) => e.names("apps/v1", "Deployment", "shop");
const services = (e: KubeEmulator) => e.names("v1", "Service", "shop");
const label = (e: KubeEmulator, name: string, key: string) =>
  ((e.get("apps/v1", "Deployment", "shop", name)?.metadata as any)?.labels ?? {})[key];
const rv = (e: KubeEmulator, kind: string, apiVersion: string, name: string) =>
  String((e.get(apiVersion, kind, "shop", name)?.metadata as any)?.resourceVersion);
const applies = (e: KubeEmulator) => e.store.mutations.filter((m) => m.verb !== "update").length;
const actions = (r: KubernetesDeployResult) => Object.fromEntries(r.objects.map((o) => [`${o.kind}/${o.name}`, o.action]));

describe("deployKubernetes against the API emulator", () => {
  it("applying the same deploy twice changes nothing the second time", async () => {
    const e = await start();
    const first = await deploy(e, { mode: "direct", model: model("v1") });
    expect(actions(first)).toEqual({
      "Service/recs": "created",
      "Deployment/recs-stable": "created",
      "PodDisruptionBudget/recs-stable": "created",
    });
    const before = e.snapshot();
    const writes = applies(e);
    const second = await deploy(e, { mode: "direct", model: model("v1") });
    expect(second.objects.map((o) => o.action)).toEqual(["unchanged", "unchanged", "unchanged"]);
    expect(e.snapshot()).toEqual(before);
    expect(applies(e)).toBe(writes);
    expect(second.stableVersion).toBe("v1");
    expect(second.serviceUrl).toBe("http://recs.shop.svc.cluster.local");
    expect(
      e.requests.filter((r) => r.method === "PATCH").every((r) => r.query.fieldManager === "recship" && r.query.force === undefined),
    ).toBe(true);
  });

  it("canary then promote leaves exactly the stable objects, now on the canary's model", async () => {
    const e = await start();
    await deploy(e, { mode: "direct", model: model("v1"), replicas: 3 });
    const canary = await deploy(e, { mode: "canary", model: model("v2"), canaryWeight: 25, replicas: 3 });
    expect(canary).toMatchObject({ outcome: "deployed", stableVersion: "v1", canaryVersion: "v2", canaryWeight: 25 });
    expect(deployments(e)).toEqual(["recs-canary", "recs-stable"]);
    expect(label(e, "recs-canary", "model-version")).toBe("v2");
    const canaryPods = e.list("v1", "Pod", "shop").filter((p: any) => p.metadata.labels.variant === "canary");
    expect(canaryPods).toHaveLength(1); // 1 / (3 + 1) = 25 %

    const promoted = await deploy(e, { mode: "promote", replicas: 3 });
    expect(promoted).toMatchObject({ outcome: "deployed", stableVersion: "v2", canaryWeight: 0 });
    expect(promoted.canaryVersion).toBeUndefined();
    expect(deployments(e)).toEqual(["recs-stable"]);
    expect(services(e)).toEqual(["recs"]);
    expect(e.names("policy/v1", "PodDisruptionBudget", "shop")).toEqual(["recs-stable"]);
    expect(label(e, "recs-stable", "model-version")).toBe("v2");
    const pods = e.list("v1", "Pod", "shop");
    expect(pods.map((p: any) => `${p.metadata.labels.variant}:${p.metadata.labels["model-version"]}`)).toEqual([
      "stable:v2",
      "stable:v2",
      "stable:v2",
    ]);
    expect(actions(promoted)["Deployment/recs-canary"]).toBe("deleted");
  });

  it("rollback on a Gateway API route leaves exactly stable, untouched, with all the traffic", async () => {
    const e = await start({ crds: ["gateway-api"] });
    const common = { traffic: "gateway-api" as const, gateway: "infra/public" };
    await deploy(e, { mode: "direct", model: model("v1"), ...common });
    const stableRv = rv(e, "Deployment", "apps/v1", "recs-stable");
    const canary = await deploy(e, { mode: "canary", model: model("v2"), canaryWeight: 30, ...common });
    expect(canary.canaryWeight).toBe(30);
    const route = e.get("gateway.networking.k8s.io/v1", "HTTPRoute", "shop", "recs") as any;
    expect(route.spec.rules[0].backendRefs.map((b: any) => [b.name, b.weight])).toEqual([
      ["recs-stable", 70],
      ["recs-canary", 30],
    ]);
    expect(services(e)).toEqual(["recs", "recs-canary", "recs-stable"]);

    const rolledBack = await deploy(e, { mode: "rollback", ...common });
    expect(rolledBack).toMatchObject({ outcome: "deployed", stableVersion: "v1", canaryWeight: 0 });
    expect(deployments(e)).toEqual(["recs-stable"]);
    expect(services(e)).toEqual(["recs", "recs-stable"]);
    expect(rv(e, "Deployment", "apps/v1", "recs-stable")).toBe(stableRv);
    const after = e.get("gateway.networking.k8s.io/v1", "HTTPRoute", "shop", "recs") as any;
    expect(after.spec.rules[0].backendRefs.map((b: any) => [b.name, b.weight])).toEqual([["recs-stable", 100]]);
    expect(e.list("v1", "Pod", "shop").every((p: any) => p.metadata.labels.variant === "stable")).toBe(true);
  });

  it("a canary whose image cannot be pulled is rolled back, stable untouched, and says why", async () => {
    const e = await start();
    await deploy(e, { mode: "direct", model: model("v1") });
    const stableRv = rv(e, "Deployment", "apps/v1", "recs-stable");
    e.failPods({ match: { image: "ghcr.io/shop/recship:typo" }, mode: "image-pull-backoff" });
    const log = memoryLogger();
    const f = await failure(deploy(e, { mode: "canary", model: model("v2"), image: "ghcr.io/shop/recship:typo" }, log));
    expect(f.result.outcome).toBe("rolled-back");
    expect(f.result.failure?.reason).toMatch(/recs-canary cannot become ready: .*container model-server (ErrImagePull|ImagePullBackOff)/);
    expect(f.result.failure?.details.join("\n")).toMatch(
      /event Failed on Pod recs-canary-.*Failed to pull image "ghcr.io\/shop\/recship:typo"/,
    );
    expect(f.message).toMatch(/The canary was removed; stable v1 keeps all the traffic and was not touched/);
    expect(deployments(e)).toEqual(["recs-stable"]);
    expect(rv(e, "Deployment", "apps/v1", "recs-stable")).toBe(stableRv);
    expect(f.result.canaryVersion).toBeUndefined();
    expect(actions(f.result)["Deployment/recs-canary"]).toBe("deleted");
    expect(log.warnings.join("\n")).toMatch(/Failed to pull image/);
    expect(kubernetesDeploySummary(f.result)).toMatch(/failed and rolled back[\s\S]*\*\*Why:\*\*/);
  });

  it("a canary whose model fails its checksum is rolled back with the init container's message", async () => {
    const e = await start();
    await deploy(e, { mode: "direct", model: model("v1") });
    e.failPods({ match: { modelVersion: "v2" }, mode: "checksum-mismatch" });
    const f = await failure(deploy(e, { mode: "canary", model: model("v2") }));
    expect(f.result.failure?.reason).toMatch(/init container verify-model CrashLoopBackOff/);
    expect(f.message).toContain("checksum mismatch for https://models.example/recs/v2.tar.gz");
    expect(deployments(e)).toEqual(["recs-stable"]);
  });

  it("a canary that never turns ready fails at the progress deadline with the probe events", async () => {
    const e = await start({ progressDeadlineTicks: 15 });
    await deploy(e, { mode: "direct", model: model("v1") });
    e.failPods({ match: { variant: "canary" }, mode: "never-ready" });
    const f = await failure(deploy(e, { mode: "canary", model: model("v2") }));
    expect(f.result.failure?.reason).toMatch(/recs-canary exceeded its progress deadline/);
    expect(f.result.failure?.details.join("\n")).toMatch(
      /running, but its readiness probe does not pass[\s\S]*Readiness probe failed: HTTP probe failed with statuscode: 503/,
    );
    expect(deployments(e)).toEqual(["recs-stable"]);
  });

  it("a GPU canary no node can take fails at the progress deadline with the scheduler's reason", async () => {
    const e = await start({ progressDeadlineTicks: 15 });
    await deploy(e, { mode: "direct", model: model("v1") });
    e.failPods({ match: { variant: "canary" }, mode: "unschedulable" });
    const f = await failure(deploy(e, { mode: "canary", model: model("v2"), resources: { gpu: 1 } }));
    expect(f.result.failure?.reason).toMatch(/progress deadline/);
    expect(f.result.failure?.details.join("\n")).toMatch(/event FailedScheduling on Pod recs-canary-.*Insufficient nvidia.com\/gpu/);
    expect(deployments(e)).toEqual(["recs-stable"]);
  });

  it("a failed direct deploy puts the previous stable model back", async () => {
    const e = await start({ progressDeadlineTicks: 15 });
    await deploy(e, { mode: "direct", model: model("v1") });
    e.failPods({ match: { modelVersion: "v2" }, mode: "crash-loop" });
    const f = await failure(deploy(e, { mode: "direct", model: model("v2") }));
    expect(f.result.outcome).toBe("rolled-back");
    expect(f.message).toMatch(/Stable is back on v1/);
    expect(label(e, "recs-stable", "model-version")).toBe("v1");
  });

  it("dry-run prints the manifests and a diff and changes nothing", async () => {
    const e = await start();
    await deploy(e, { mode: "direct", model: model("v1") });
    const before = e.snapshot();
    const writes = applies(e);
    const log = memoryLogger();
    const canary = await deploy(e, { mode: "canary", model: model("v2"), dryRun: true }, log);
    expect(canary.outcome).toBe("dry-run");
    expect(actions(canary)).toMatchObject({ "Deployment/recs-canary": "would create", "Service/recs": "unchanged" });
    expect(canary.diff).toContain("+++ desired Deployment shop/recs-canary");
    const direct = await deploy(e, { mode: "direct", model: model("v3"), dryRun: true }, log);
    expect(actions(direct)["Deployment/recs-stable"]).toBe("would configure");
    expect(direct.diff).toMatch(/^-\s+model-version: v1$/m);
    expect(direct.diff).toMatch(/^\+\s+model-version: v3$/m);
    expect(log.lines.join("\n")).toContain("kind: Deployment");
    expect(log.lines.join("\n")).toContain("+++ desired Deployment shop/recs-stable");
    expect(e.snapshot()).toEqual(before);
    expect(applies(e)).toBe(writes);
    expect(
      e.requests
        .filter((r) => r.method === "PATCH")
        .slice(-4)
        .every((r) => r.query.dryRun === "All"),
    ).toBe(true);
  });

  it("fails on a field another manager owns unless asked to force", async () => {
    const e = await start();
    await deploy(e, { mode: "direct", model: model("v1"), replicas: 2 });
    e.edit("apps/v1", "Deployment", "shop", "recs-stable", (o: any) => void (o.spec.replicas = 5), "kubectl-scale");
    const error = await deploy(e, { mode: "direct", model: model("v1"), replicas: 3 }).catch((x: unknown) => x);
    expect(isRecshipError(error)).toBe(true);
    expect((error as Error).message).toMatch(/conflicts with another field manager.*kubectl-scale.*\.spec\.replicas/);
    expect((error as Error).message).toMatch(/force-conflicts/);
    const forced = await deploy(e, { mode: "direct", model: model("v1"), replicas: 3, forceConflicts: true });
    expect(forced.outcome).toBe("deployed");
    expect((e.get("apps/v1", "Deployment", "shop", "recs-stable") as any).spec.replicas).toBe(3);
    expect(e.requests.some((r) => r.method === "PATCH" && r.query.force === "true")).toBe(true);
  });

  it("set-weight moves Istio weights and canary replicas", async () => {
    const e = await start({ crds: ["istio"] });
    const common = { traffic: "istio" as const, replicas: 4 };
    await deploy(e, { mode: "direct", model: model("v1"), ...common });
    await deploy(e, { mode: "canary", model: model("v2"), canaryWeight: 10, ...common });
    const weights = () =>
      (e.get("networking.istio.io/v1", "VirtualService", "shop", "recs") as any).spec.http[0].route.map((r: any) => r.weight);
    expect(weights()).toEqual([90, 10]);
    const moved = await deploy(e, { mode: "set-weight", canaryWeight: 50, ...common });
    expect(moved).toMatchObject({ canaryWeight: 50, canaryVersion: "v2", stableVersion: "v1" });
    expect(weights()).toEqual([50, 50]);
    expect((e.get("apps/v1", "Deployment", "shop", "recs-canary") as any).spec.replicas).toBe(2);
    const status = await kubernetesStatus({ kubeconfig: e.kubeconfig(), tempDir: dir, log: memoryLogger(), name: "recs" });
    expect(status).toMatchObject({ target: "kubernetes", canaryWeight: 50, stable: { version: "v1" }, canary: { version: "v2" } });
  });

  it("follows the target-neutral rules and says what a cluster lacks", async () => {
    const e = await start();
    await expect(deploy(e, { mode: "canary", model: model("v2") })).rejects.toThrow(/no stable model to run a canary beside/);
    await expect(deploy(e, { mode: "direct", model: model("v1"), traffic: "gateway-api" })).rejects.toThrow(
      /does not serve HTTPRoute.*Fix: install the Gateway API CRDs/,
    );
    await expect(deploy(e, { mode: "direct", model: model("v1"), metrics: "service-monitor" })).rejects.toThrow(
      /does not serve ServiceMonitor/,
    );
    await deploy(e, { mode: "direct", model: model("v1") });
    await deploy(e, { mode: "canary", model: model("v2") });
    await expect(deploy(e, { mode: "direct", model: model("v3") })).rejects.toThrow(/a canary is running/);
    await expect(deploy(e, { mode: "promote", model: model("v9") })).rejects.toThrow(/promotes the running canary \(v2\)/);
  });

  it("works through the DeployTarget interface, and teardown removes everything recship made", async () => {
    const e = await start();
    const target = new KubernetesTarget({
      kubeconfig: e.kubeconfig(),
      tempDir: dir,
      name: "recs",
      image: IMAGE,
      pollIntervalMs: 5,
      log: memoryLogger(),
      model: { sha256: sha("v1"), version: "v1" },
    });
    await expect(target.deploy({ mode: "direct", bundle: "./recship-bundle" })).rejects.toThrow(/must be a URL/);
    const result = await target.deploy({ mode: "direct", bundle: "https://models.example/recs/v1.tar.gz" });
    expect(result.before.stable).toBeUndefined();
    expect(result.after).toMatchObject({
      target: "kubernetes",
      endpoint: "http://recs.shop.svc.cluster.local",
      stable: { version: "v1", ready: true },
    });
    await target.teardown();
    expect(deployments(e)).toEqual([]);
    expect(services(e)).toEqual([]);
    expect(await teardownKubernetes({ kubeconfig: e.kubeconfig(), tempDir: dir, log: memoryLogger(), name: "recs" })).toEqual([]);
  });
});

describe("the kubeconfig", () => {
  it("never appears in the logs or errors, and its file is gone afterwards", async () => {
    const e = await start();
    const kubeconfig = e.kubeconfig();
    const log = memoryLogger();
    const before = readdirSync(dir).filter((f) => f.startsWith("recship-kube-"));
    await deploy(e, { mode: "direct", model: model("v1") }, log);
    e.failPods({ match: { modelVersion: "v2" }, mode: "image-pull-backoff" });
    const f = await failure(deploy(e, { mode: "canary", model: model("v2") }, log));
    const leaked = await deploy(e, { mode: "canary", model: model("v3"), namespace: "Bad_NS" }, log).catch((x: Error) => x);
    const text = [...log.lines, ...log.warnings, f.message, String(f.stack), (leaked as Error).message, JSON.stringify(f.result)].join(
      "\n",
    );
    expect(text).not.toContain(e.token);
    for (const secret of kubeconfigSecrets(kubeconfig)) expect(text).not.toContain(secret);
    expect(readdirSync(dir).filter((f) => f.startsWith("recship-kube-"))).toEqual(before);
  });

  it("is redacted even from messages that would quote it, and a broken one is refused without quoting it", async () => {
    const secret = "sk-very-secret-token-123456";
    const broken = `clusters: [{name: c, cluster: {server: "https://x"}}]\nusers: [{name: u, user: {token: ${secret}}}]\ncontexts: []\ncurrent-context: missing\n`;
    const log = memoryLogger();
    const error = await deployKubernetes({ mode: "direct", kubeconfig: broken, tempDir: dir, log, model: model("v1"), image: IMAGE }).catch(
      (x: Error) => x,
    );
    expect(isRecshipError(error)).toBe(true);
    expect((error as Error).message).toMatch(/the kubeconfig input: has no current context/);
    expect((error as Error).message + (error as Error).stack).not.toContain(secret);
    await expect(
      deployKubernetes({ mode: "direct", kubeconfig: "not: [a kubeconfig", tempDir: dir, log, model: model("v1") }),
    ).rejects.toThrow(/is not a kubeconfig/);
    const b64 = await deployKubernetes({
      mode: "direct",
      kubeconfig: Buffer.from(broken).toString("base64"),
      tempDir: dir,
      log,
      model: model("v1"),
    }).catch((x: Error) => x);
    expect((b64 as Error).message).toMatch(/has no current context/);
  });

  it("given as a file (the CLI's --kubeconfig), its credentials are redacted from log lines and errors too", async () => {
    const e = await start();
    const path = join(dir, "cli-kubeconfig.yaml");
    writeFileSync(path, e.kubeconfig(), { mode: 0o600 });
    const log = memoryLogger();
    const error = await withKubeClient({ kubeconfigPath: path, log }, async (_client, redacting) => {
      redacting.info(`talking with token ${e.token}`);
      throw new Error(`the server refused ${e.token}`);
    }).catch((x: Error) => x);
    expect(log.lines.join("\n")).toContain("talking with token ***");
    expect((error as Error).message).not.toContain(e.token);
  });

  it("pointing at a cluster that does not answer gives an error that says so", async () => {
    const gone = await KubeEmulator.start();
    const kubeconfig = gone.kubeconfig();
    await gone.close();
    const error = await deployKubernetes({
      mode: "direct",
      kubeconfig,
      tempDir: dir,
      log: memoryLogger(),
      model: model("v1"),
      image: IMAGE,
    }).catch((x: Error) => x);
    expect(isRecshipError(error)).toBe(true);
    expect((error as Error).message).toMatch(/cannot reach the Kubernetes API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED/);
  });

  it("is written 0600 in a 0700 folder and removed", async () => {
    const file = await writeKubeconfig("apiVersion: v1\nclusters: []\n", dir);
    expect(statSync(file.path).mode & 0o777).toBe(0o600);
    expect(statSync(file.path.replace(/\/config$/, "")).mode & 0o777).toBe(0o700);
    await file.remove();
    expect(existsSync(file.path)).toBe(false);
  });
});
