import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { DEPLOY_OPTIONS } from "../shared/deploy/options.js";
import { kubernetesOptionsFrom, kubernetesSettingsFrom } from "../shared/deploy/k8s/options.js";
import { OptionReader } from "../shared/util/option-spec.js";
import { parse as parseYaml } from "yaml";
import { DeployFailure, deployKubernetes } from "../shared/deploy/k8s/deploy.js";
import { kubeconfigSecrets } from "../shared/deploy/k8s/kubeconfig.js";
import { KubernetesTarget } from "../shared/deploy/k8s/target.js";
import type { KubernetesDeployOptions, ModelSource } from "../shared/deploy/k8s/types.js";
import { isRecshipError } from "../shared/errors.js";
import { memoryLogger } from "../shared/log.js";
import { KubeEmulator, type EmulatorOptions } from "./helpers/k8s-emulator.js";
import type { JsonObject } from "./helpers/k8s/ssa.js";
import { tempDir } from "./helpers/tmp.js";

// deploy-k8s records the settings each Deployment was rendered with (annotation recship.dev/spec);
// set-weight, promote and rollback given only the connection (monitor-canary, promote.yml) render
// from the record, so nothing deploy-k8s set up is lost. Only APIs that existed before the record
// are used here, so the file also runs against the code without it.

const SPEC = "recship.dev/spec";
const dir = tempDir("recship-k8s-recorded-");
const IMAGE = "ghcr.io/shop/recship:0.1.0";
const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const model = (version: string): ModelSource => ({ version, url: `s3://models/recs/${version}.tar.gz`, sha256: sha(version) });

/** Everything deploy-k8s can set beyond the defaults that shapes the objects. */
const FULL = {
  traffic: "gateway-api",
  gateway: "infra/public",
  hostnames: ["recs.shop.example"],
  serviceAccountName: "recs-reader",
  resources: { cpu: "2", memory: "6Gi", cpuLimit: "4", gpu: 1 },
  fetchSecret: "model-store-creds",
  fetchImage: "ghcr.io/shop/fetch:1.2.0",
  imagePullSecrets: ["ghcr-pull", "mirror-pull"],
  nodeSelector: { pool: "gpu", "cloud.google.com/gke-accelerator": "nvidia-l4" },
  port: 9090,
  servicePort: 8081,
  modelVolume: { type: "pvc", claimName: "recship-models" },
  autoscaling: { minReplicas: 2, maxReplicas: 6, cpuUtilization: 60 },
  progressDeadlineSeconds: 900,
  serverArgs: ["--workers", "2", "--threads", "1"],
  preStopSeconds: 12,
} satisfies Partial<KubernetesDeployOptions>;

let emu: KubeEmulator | undefined;
afterEach(async () => {
  await emu?.close();
  emu = undefined;
});

async function start(options: EmulatorOptions = {}): Promise<KubeEmulator> {
  emu = await KubeEmulator.start({ crds: ["gateway-api"], ...options });
  return emu;
}

/** The connection only: what monitor-canary and promote.yml pass. */
function connection(e: KubeEmulator, log = memoryLogger()) {
  return { kubeconfig: e.kubeconfig(), tempDir: dir, name: "recs", pollIntervalMs: 5, log };
}

function deploy(e: KubeEmulator, options: Partial<KubernetesDeployOptions> & Pick<KubernetesDeployOptions, "mode">, log = memoryLogger()) {
  return deployKubernetes({ ...connection(e, log), image: IMAGE, ...options });
}

/** stable v1 and canary v2 at `weight`, both deployed with `settings`. */
async function canaryOn(e: KubeEmulator, settings: Partial<KubernetesDeployOptions> = FULL, weight = 10) {
  await deploy(e, { mode: "direct", model: model("v1"), ...settings });
  await deploy(e, { mode: "canary", model: model("v2"), canaryWeight: weight, ...settings });
}

const deployment = (e: KubeEmulator, name: string) => e.get("apps/v1", "Deployment", "shop", name) as any;
const podTemplate = (e: KubeEmulator, name: string) => structuredClone(deployment(e, name).spec.template);
const generation = (e: KubeEmulator, name: string) => Number(deployment(e, name).metadata.generation);
const rv = (e: KubeEmulator, kind: string, apiVersion: string, name: string) =>
  String((e.get(apiVersion, kind, "shop", name)?.metadata as any)?.resourceVersion);
const route = (e: KubeEmulator) => e.get("gateway.networking.k8s.io/v1", "HTTPRoute", "shop", "recs") as any;
const routeWeights = (e: KubeEmulator) => route(e).spec.rules[0].backendRefs.map((b: any) => [b.name, b.weight]);
const servicePort = (e: KubeEmulator, name: string) => (e.get("v1", "Service", "shop", name) as any).spec.ports[0].port;

/** Every FULL setting is on the Deployment and its pod template. */
function expectFullSettings(e: KubeEmulator, name: string): void {
  const d = deployment(e, name);
  expect(d.spec.progressDeadlineSeconds).toBe(900);
  const pod = d.spec.template.spec;
  expect(pod.serviceAccountName).toBe("recs-reader");
  expect(pod.imagePullSecrets).toEqual([{ name: "ghcr-pull" }, { name: "mirror-pull" }]);
  expect(pod.nodeSelector).toEqual({ pool: "gpu", "cloud.google.com/gke-accelerator": "nvidia-l4" });
  expect(pod.tolerations).toEqual([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
  expect(pod.volumes).toEqual([{ name: "models", persistentVolumeClaim: { claimName: "recship-models" } }]);
  const server = pod.containers[0];
  expect(server.resources.limits).toMatchObject({ "nvidia.com/gpu": "1", cpu: "4", memory: "6Gi" });
  expect(server.resources.requests).toMatchObject({ "nvidia.com/gpu": "1", cpu: "2", memory: "6Gi" });
  expect(server.args).toEqual(expect.arrayContaining(["--device", "cuda"]));
  expect(server.args.slice(-4)).toEqual(["--workers", "2", "--threads", "1"]);
  expect(server.args[server.args.indexOf("--port") + 1]).toBe("9090");
  expect(server.ports).toEqual([{ name: "http", containerPort: 9090, protocol: "TCP" }]);
  // the preStop pause, then the server's default 30 s drain and 5 s to exit
  expect(server.lifecycle).toEqual({ preStop: { sleep: { seconds: 12 } } });
  expect(pod.terminationGracePeriodSeconds).toBe(47);
  const fetch = pod.initContainers.find((c: any) => c.name === "fetch-model");
  expect(fetch.image).toBe("ghcr.io/shop/fetch:1.2.0");
  expect(fetch.envFrom).toEqual([{ secretRef: { name: "model-store-creds" } }]);
  expect(d.spec.template.metadata.annotations["prometheus.io/port"]).toBe("9090");
}

/** The Services, route and autoscaler FULL shapes. */
function expectFullTraffic(e: KubeEmulator): void {
  expect(servicePort(e, "recs")).toBe(8081);
  expect(servicePort(e, "recs-stable")).toBe(8081);
  expect(route(e).spec.parentRefs).toEqual([{ group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "infra", name: "public" }]);
  expect(route(e).spec.hostnames).toEqual(["recs.shop.example"]);
  const hpa = e.get("autoscaling/v2", "HorizontalPodAutoscaler", "shop", "recs-stable") as any;
  expect(hpa.spec).toMatchObject({ minReplicas: 2, maxReplicas: 6 });
}

describe("settings recorded on the Deployments", () => {
  it("set-weight with only the connection keeps the canary's pod template and generation, and every setting", async () => {
    const e = await start();
    await canaryOn(e);
    const template = podTemplate(e, "recs-canary");
    const gen = generation(e, "recs-canary");
    const record = deployment(e, "recs-canary").metadata.annotations[SPEC];
    const replicaSets = e.names("apps/v1", "ReplicaSet", "shop");

    const moved = await deployKubernetes({ ...connection(e), mode: "set-weight", canaryWeight: 25 });
    expect(moved).toMatchObject({ outcome: "deployed", traffic: "gateway-api", canaryWeight: 25, canaryVersion: "v2" });
    expect(moved.serviceUrl).toBe("http://recs.shop.svc.cluster.local:8081");
    expect(podTemplate(e, "recs-canary")).toEqual(template);
    expect(generation(e, "recs-canary")).toBe(gen); // not re-rolled: same replica count, same template
    expect(e.names("apps/v1", "ReplicaSet", "shop")).toEqual(replicaSets);
    expect(deployment(e, "recs-canary").metadata.annotations[SPEC]).toBe(record);
    expect(deployment(e, "recs-canary").metadata.annotations["recship.dev/canary-weight"]).toBe("25");
    expect(routeWeights(e)).toEqual([
      ["recs-stable", 75],
      ["recs-canary", 25],
    ]);
    expectFullSettings(e, "recs-canary");
    expectFullTraffic(e);

    // through the DeployTarget, as monitor-canary moves it
    const target = new KubernetesTarget(connection(e));
    const step = await target.deploy({ mode: "set-weight", weight: 50 });
    expect(step.after).toMatchObject({ canaryWeight: 50, endpoint: "http://recs.shop.svc.cluster.local:8081" });
    expect(routeWeights(e)).toEqual([
      ["recs-stable", 50],
      ["recs-canary", 50],
    ]);
    expect(podTemplate(e, "recs-canary")).toEqual(template);
    expect(deployment(e, "recs-canary").spec.replicas).toBe(1);
  });

  it("promote with only the connection makes stable the canary with every setting it was deployed with", async () => {
    const e = await start();
    await canaryOn(e);
    const canaryTemplate = podTemplate(e, "recs-canary");
    const log = memoryLogger();
    const promoted = await deployKubernetes({ ...connection(e, log), mode: "promote" });
    expect(promoted).toMatchObject({ outcome: "deployed", stableVersion: "v2", canaryWeight: 0, traffic: "gateway-api" });
    expect(promoted.warnings).toEqual([]);
    expect(e.names("apps/v1", "Deployment", "shop")).toEqual(["recs-stable"]);
    expect(e.names("v1", "Service", "shop")).toEqual(["recs", "recs-stable"]);
    expectFullSettings(e, "recs-stable");
    expectFullTraffic(e);
    expect(routeWeights(e)).toEqual([["recs-stable", 100]]);
    // stable runs exactly what was tested as the canary, apart from what names the variant
    const stable = podTemplate(e, "recs-stable");
    expect(stable.spec.containers[0].image).toBe(canaryTemplate.spec.containers[0].image);
    expect(stable.spec.containers[0].args.join(" ").replace("--variant stable", "--variant canary")).toBe(
      canaryTemplate.spec.containers[0].args.join(" "),
    );
    expect(stable.spec.initContainers).toEqual(canaryTemplate.spec.initContainers);
    expect(log.warnings.join("\n")).not.toContain(SPEC);
  });

  it("rollback with only the connection leaves stable untouched and keeps the ports and the route's Gateway", async () => {
    const e = await start();
    await canaryOn(e, FULL, 30);
    const stableRv = rv(e, "Deployment", "apps/v1", "recs-stable");
    const rolledBack = await deployKubernetes({ ...connection(e), mode: "rollback" });
    expect(rolledBack).toMatchObject({ outcome: "deployed", stableVersion: "v1", canaryWeight: 0, traffic: "gateway-api" });
    expect(rolledBack.serviceUrl).toBe("http://recs.shop.svc.cluster.local:8081");
    expect(e.names("apps/v1", "Deployment", "shop")).toEqual(["recs-stable"]);
    expect(rv(e, "Deployment", "apps/v1", "recs-stable")).toBe(stableRv);
    expect(routeWeights(e)).toEqual([["recs-stable", 100]]);
    expectFullSettings(e, "recs-stable");
    expectFullTraffic(e);
  });

  it("a failed promote puts stable back with its own recorded settings, not the canary's", async () => {
    const e = await start({ progressDeadlineTicks: 15 });
    const v1 = { serviceAccountName: "recs-v1", nodeSelector: { pool: "cpu" }, port: 8088 };
    const v2 = { serviceAccountName: "recs-v2", nodeSelector: { pool: "gpu" }, resources: { gpu: 1 }, port: 9090 };
    await deploy(e, { mode: "direct", model: model("v1"), ...v1 });
    const before = podTemplate(e, "recs-stable");
    const record = deployment(e, "recs-stable").metadata.annotations[SPEC];
    await deploy(e, { mode: "canary", model: model("v2"), ...v2 });
    e.failPods({ match: { modelVersion: "v2", variant: "stable" }, mode: "crash-loop" });

    const f = await deployKubernetes({ ...connection(e), mode: "promote" }).catch((x: unknown) => x);
    expect(f).toBeInstanceOf(DeployFailure);
    expect((f as DeployFailure).message).toMatch(/Stable is back on v1/);
    const stable = podTemplate(e, "recs-stable");
    expect(stable.spec.serviceAccountName).toBe("recs-v1");
    expect(stable.spec.nodeSelector).toEqual({ pool: "cpu" });
    expect(stable.spec.containers[0].ports[0].containerPort).toBe(8088);
    expect(stable.spec.containers[0].resources.limits["nvidia.com/gpu"]).toBeUndefined();
    expect(stable).toEqual(before);
    expect(deployment(e, "recs-stable").metadata.annotations[SPEC]).toBe(record);
    expect(podTemplate(e, "recs-canary").spec.serviceAccountName).toBe("recs-v2"); // the canary is still there, as it was
  });

  it("a failed direct deploy puts stable back with its own recorded settings, not the new ones", async () => {
    const e = await start({ progressDeadlineTicks: 15 });
    await deploy(e, { mode: "direct", model: model("v1"), ...FULL });
    const before = podTemplate(e, "recs-stable");
    e.failPods({ match: { modelVersion: "v3" }, mode: "crash-loop" });
    const f = await deploy(e, { mode: "direct", model: model("v3"), serviceAccountName: "recs-v3" }).catch((x: unknown) => x);
    expect(f).toBeInstanceOf(DeployFailure);
    expect((f as DeployFailure).message).toMatch(/Stable is back on v1/);
    expect(podTemplate(e, "recs-stable")).toEqual(before);
    expectFullSettings(e, "recs-stable");
  });

  it("settings given explicitly to set-weight are not applied, and a warning says which and why", async () => {
    const e = await start();
    await canaryOn(e);
    const template = podTemplate(e, "recs-canary");
    const log = memoryLogger();
    const moved = await deployKubernetes({
      ...connection(e, log),
      mode: "set-weight",
      canaryWeight: 20,
      resources: { gpu: 2 },
      serviceAccountName: "someone-else",
      traffic: "gateway-api", // the same as recorded: no warning for it
    });
    expect(podTemplate(e, "recs-canary")).toEqual(template);
    const warning = moved.warnings.find((w) => w.includes("keeps the settings"));
    expect(warning).toMatch(/gpu: given 2, recorded 1/);
    expect(warning).toMatch(/service-account: given someone-else, recorded recs-reader/);
    expect(warning).not.toMatch(/traffic/);
    expect(log.warnings.join("\n")).toContain("service-account: given someone-else");
  });

  it("a corrupt record is refused with the object and the fix, before anything changes", async () => {
    const e = await start();
    await canaryOn(e);
    const good = JSON.parse(deployment(e, "recs-canary").metadata.annotations[SPEC] ?? "{}");
    const corrupt = async (value: string, mode: "set-weight" | "promote" | "rollback", name = "recs-canary") => {
      e.edit("apps/v1", "Deployment", "shop", name, (o: JsonObject) => void ((o.metadata as any).annotations[SPEC] = value));
      const before = e.snapshot();
      const error = await deployKubernetes({ ...connection(e), mode, canaryWeight: mode === "set-weight" ? 40 : undefined }).catch(
        (x: unknown) => x,
      );
      expect(isRecshipError(error), String(error)).toBe(true);
      const message = (error as Error).message;
      expect(message).toContain(`Deployment shop/${name}, annotation ${SPEC}: the recorded settings are corrupt`);
      expect(message).toContain(`Fix: `);
      expect(message).toContain(`kubectl annotate deployment/${name} -n shop ${SPEC}-`);
      expect(e.snapshot()).toEqual(before);
      return message;
    };
    expect(await corrupt("{not json", "set-weight")).toMatch(/not JSON/);
    expect(await corrupt(JSON.stringify({ ...good, resources: { ...good.resources, gpu: "lots" } }), "set-weight")).toMatch(
      /resources\.gpu must be integer/,
    );
    expect(await corrupt(JSON.stringify({ ...good, fetchSecret: "Not_A_Name" }), "promote")).toMatch(/"Not_A_Name" is not a valid name/);
    expect(await corrupt(JSON.stringify({ ...good, kubeconfig: "x" }), "promote")).toMatch(/unknown setting "kubeconfig"/);
    expect(await corrupt("[]", "rollback", "recs-stable")).toMatch(/not a JSON object/);
  });

  it("records secrets by name only: no kubeconfig credential is in any annotation, the record is sorted JSON", async () => {
    const e = await start();
    const kubeconfig = e.kubeconfig();
    await canaryOn(e);
    await deployKubernetes({ ...connection(e), mode: "set-weight", canaryWeight: 30 });
    const secrets = [e.token, ...kubeconfigSecrets(kubeconfig)];
    expect(secrets.length).toBeGreaterThan(0);
    const annotations: string[] = [];
    for (const [apiVersion, kind] of [
      ["apps/v1", "Deployment"],
      ["apps/v1", "ReplicaSet"],
      ["v1", "Pod"],
      ["v1", "Service"],
      ["gateway.networking.k8s.io/v1", "HTTPRoute"],
      ["autoscaling/v2", "HorizontalPodAutoscaler"],
      ["policy/v1", "PodDisruptionBudget"],
    ]) {
      for (const o of e.list(apiVersion, kind, "shop") as any[]) {
        annotations.push(...Object.values<string>(o.metadata.annotations ?? {}));
        annotations.push(...Object.values<string>(o.spec?.template?.metadata?.annotations ?? {}));
      }
    }
    const all = annotations.join("\n");
    for (const s of secrets) expect(all).not.toContain(s);
    expect(all).not.toContain(e.url);
    for (const name of ["recs-stable", "recs-canary"]) {
      const raw: string = deployment(e, name).metadata.annotations[SPEC];
      expect(raw, name).toBeDefined();
      const record = JSON.parse(raw);
      expect(record).toMatchObject({ fetchSecret: "model-store-creds", imagePullSecrets: ["ghcr-pull", "mirror-pull"] });
      expect(Object.keys(record)).not.toEqual(expect.arrayContaining(["kubeconfig"]));
      expect(Object.keys(record)).not.toContain("name");
      expect(Object.keys(record)).not.toContain("namespace");
      const sorted = (v: unknown): unknown =>
        Array.isArray(v)
          ? v.map(sorted)
          : v && typeof v === "object"
            ? Object.fromEntries(
                Object.keys(v)
                  .sort()
                  .map((k) => [k, sorted((v as Record<string, unknown>)[k])]),
              )
            : v;
      expect(raw).toBe(JSON.stringify(sorted(record)));
    }
  });

  it("Deployments made before settings were recorded still work from the inputs, with a warning", async () => {
    const e = await start();
    const settings = { serviceAccountName: "recs-reader", resources: { gpu: 1 } };
    await canaryOn(e, settings);
    // what an older recship left: no record
    const strip = () => {
      for (const name of ["recs-stable", "recs-canary"]) {
        if (!deployment(e, name)) continue;
        e.edit("apps/v1", "Deployment", "shop", name, (o: any) => void delete o.metadata.annotations[SPEC]);
      }
    };
    strip();
    // as monitor-canary had to be called: the settings given again
    const moved = await deployKubernetes({ ...connection(e), mode: "set-weight", canaryWeight: 25, ...settings });
    expect(moved.outcome).toBe("deployed");
    expect(moved.warnings.join("\n")).toMatch(
      /Deployment shop\/recs-canary has no recship\.dev\/spec annotation .*rendering it, the Services and the route from this step's inputs, as before/,
    );
    expect(podTemplate(e, "recs-canary").spec.serviceAccountName).toBe("recs-reader");
    expect(deployment(e, "recs-canary").spec.replicas).toBe(1);

    strip();
    const rolledBack = await deployKubernetes({ ...connection(e), mode: "rollback" });
    expect(rolledBack).toMatchObject({ outcome: "deployed", stableVersion: "v1" });
    expect(rolledBack.warnings.join("\n")).toMatch(/Deployment shop\/recs-stable has no recship\.dev\/spec annotation/);
    expect(e.names("apps/v1", "Deployment", "shop")).toEqual(["recs-stable"]);

    await deploy(e, { mode: "canary", model: model("v3"), ...settings });
    strip();
    const promoted = await deployKubernetes({ ...connection(e), mode: "promote" });
    expect(promoted).toMatchObject({ outcome: "deployed", stableVersion: "v3" });
    expect(promoted.warnings.join("\n")).toMatch(/Deployment shop\/recs-canary has no recship\.dev\/spec annotation/);
    // rendered from the inputs as before, and recorded from now on
    expect(JSON.parse(deployment(e, "recs-stable").metadata.annotations[SPEC])).toMatchObject({ traffic: "replicas", port: 8080 });
  });
});

describe("the deploy-k8s action's settings", () => {
  it("promote.yml: given only the kubeconfig and name, with the runner's action.yml defaults, promote keeps every setting", async () => {
    const e = await start();
    await canaryOn(e);
    const action = parseYaml(readFileSync(new URL("../actions/deploy-k8s/action.yml", import.meta.url), "utf8")) as {
      inputs: Record<string, { default?: string }>;
    };
    const saved = { ...process.env };
    try {
      // what the runner sets for `with: { mode: promote, kubeconfig, name }`: every default too
      for (const [name, spec] of Object.entries(action.inputs))
        if (spec.default !== undefined) process.env[`INPUT_${name.toUpperCase()}`] = spec.default;
      process.env.INPUT_NAME = "recs";
      const run = async (dryRun: boolean) => {
        process.env["INPUT_DRY-RUN"] = String(dryRun);
        const log = memoryLogger();
        const o = new OptionReader(DEPLOY_OPTIONS, {
          get: (name) => process.env[`INPUT_${name.toUpperCase()}`],
          where: (name) => `input ${name}`,
          frontEnd: "action",
        });
        const options = kubernetesOptionsFrom(o, "promote", log);
        const result = await deployKubernetes({ ...options, kubeconfig: e.kubeconfig(), tempDir: dir, pollIntervalMs: 5 });
        return { result, log };
      };
      // the workflow's check first: a dry-run promote reports the canary's version and changes nothing
      const before = e.snapshot();
      const check = await run(true);
      expect(check.result).toMatchObject({ outcome: "dry-run", stableVersion: "v2" });
      expect(e.snapshot()).toEqual(before);
      const { result, log } = await run(false);
      expect(result).toMatchObject({ outcome: "deployed", stableVersion: "v2", traffic: "gateway-api" });
      expect(result.warnings).toEqual([]);
      expect(log.warnings).toEqual([]);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
    expectFullSettings(e, "recs-stable");
    expectFullTraffic(e);
    expect(routeWeights(e)).toEqual([["recs-stable", 100]]);
  });

  it("a setting at its action.yml default counts as not given (the runner fills defaults in)", () => {
    const action = parseYaml(readFileSync(new URL("../actions/deploy-k8s/action.yml", import.meta.url), "utf8")) as {
      inputs: Record<string, { default?: string }>;
    };
    const recorded = DEPLOY_OPTIONS.filter((s) => s.recorded);
    const withDefault = recorded.filter((s) => s.default !== undefined);
    for (const s of withDefault) expect(action.inputs[s.name]?.default, s.name).toBe(s.default);
    expect(withDefault.map((s) => s.name).sort()).toEqual(
      [
        "traffic",
        "replicas",
        "cpu-utilization",
        "cpu",
        "memory",
        "gpu",
        "container-port",
        "service-port",
        "service-type",
        "metrics",
        "model-volume",
        "model-volume-size",
        "progress-deadline",
        "prestop-seconds",
      ].sort(),
    );
    // every setting at its default (what the runner hands over) reads as not given; a different value is given
    const atDefaults = Object.fromEntries(DEPLOY_OPTIONS.filter((s) => s.default !== undefined).map((s) => [s.name, s.default!]));
    const reader = (values: Record<string, string>) =>
      new OptionReader(DEPLOY_OPTIONS, { get: (n) => values[n], where: (n) => `input ${n}`, frontEnd: "action" });
    const settings = kubernetesSettingsFrom(reader(atDefaults));
    expect(settings).toEqual({});
    expect(kubernetesSettingsFrom(reader({ ...atDefaults, replicas: "3", "server-args": "--threads 2" }))).toEqual({
      replicas: 3,
      serverArgs: ["--threads", "2"],
    });
  });
});
