import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../shared/deploy/k8s/client.js";
import { apiError } from "../shared/deploy/k8s/apply.js";
import { KubeApiError } from "../shared/deploy/k8s/client.js";
import { checkModel, resolveSpec } from "../shared/deploy/k8s/inputs.js";
import { bundlePath, modelFileList } from "../shared/deploy/k8s/render-model.js";
import { coresArgs, cpuCores } from "../shared/deploy/k8s/render-workload.js";
import { canaryReplicas, renderAll, toYaml, type DesiredState } from "../shared/deploy/k8s/render.js";
import type { KubernetesDeployOptions, ModelSource } from "../shared/deploy/k8s/types.js";
import { manifestProblems, unknownFields, validateManifests } from "../shared/deploy/k8s/validate.js";
import { isRecshipError } from "../shared/errors.js";
import { silentLogger } from "../shared/log.js";
import { Command } from "commander";
import type { CommandContext } from "../shared/cli/common.js";
import { registerServe } from "../shared/cli/serve-command.js";
import { SERVER_DEFAULT_DRAIN_SECONDS } from "../shared/deploy/server-args.js";

const SHA = "ab".repeat(32);
const v1: ModelSource = checkModel({ version: "v1", url: "https://models.example/recs/v1.tar.gz", sha256: SHA }, "model");
const v2: ModelSource = checkModel({ version: "2025.01.02-abc", url: "s3://shop-models/recs/v2.tar.gz", sha256: "cd".repeat(32) }, "model");
const IMAGE = "ghcr.io/shop/recship:0.1.0";

function spec(options: Partial<KubernetesDeployOptions> = {}) {
  return resolveSpec({ mode: "canary", log: silentLogger, name: "recs", ...options }, "shop");
}

const withCanary = (weight = 10): DesiredState => ({ stable: { image: IMAGE, model: v1 }, canary: { image: IMAGE, model: v2, weight } });

function everything(options: Partial<KubernetesDeployOptions>, desired = withCanary()): KubeObject[] {
  const r = renderAll(spec(options), desired);
  return [...r.stable, ...r.canary, ...r.services, ...r.route, ...r.routeStableOnly];
}

function find(objects: KubeObject[], kind: string, name: string): any {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} in ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(", ")}`);
  return o;
}

const CONFIGS: [string, Partial<KubernetesDeployOptions>][] = [
  ["replica ratio, annotations", {}],
  [
    "gateway-api with a Gateway, ServiceMonitor, autoscaling",
    {
      traffic: "gateway-api",
      gateway: "infra/public",
      hostnames: ["recs.shop.example"],
      metrics: "service-monitor",
      autoscaling: { minReplicas: 3, maxReplicas: 10 },
    },
  ],
  ["gateway-api mesh (GAMMA)", { traffic: "gateway-api" }],
  [
    "istio, GPU, PVC, fetch secret",
    {
      traffic: "istio",
      resources: { gpu: 1, cpu: "2", memory: "8Gi" },
      modelVolume: { type: "pvc", claimName: "recs-models" },
      fetchSecret: "s3-creds",
      serviceAccountName: "recs",
      imagePullSecrets: ["ghcr"],
      nodeSelector: { pool: "gpu" },
    },
  ],
  ["a long drain behind a longer preStop pause", { serverArgs: ["--drain-timeout 600"], preStopSeconds: 15 }],
];

describe("rendered manifests", () => {
  it.each(CONFIGS)("pass the Kubernetes schemas and have no unknown fields: %s", (_name, options) => {
    const objects = everything(options);
    for (const o of objects) expect(manifestProblems(o), `${o.kind} ${o.metadata.name}`).toEqual([]);
    expect(() => validateManifests(objects)).not.toThrow();
    // and survive the YAML round trip the dry run prints
    const docs = parseAllDocuments(toYaml(objects)).map((d) => d.toJS());
    expect(docs).toEqual(JSON.parse(JSON.stringify(objects)));
  });

  it("label both Deployments with app, variant and model-version, selecting on app and variant only", () => {
    const objects = everything({});
    const stable = find(objects, "Deployment", "recs-stable");
    const canary = find(objects, "Deployment", "recs-canary");
    expect(stable.metadata.labels).toMatchObject({ app: "recs", variant: "stable", "model-version": "v1" });
    expect(canary.spec.template.metadata.labels).toMatchObject({ app: "recs", variant: "canary", "model-version": "2025.01.02-abc" });
    expect(canary.spec.selector.matchLabels).toEqual({ app: "recs", variant: "canary" });
    expect(stable.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
  });

  it("probe the V2 health paths, pass the server contract's arguments and scrape /metrics", () => {
    const d = find(everything({ port: 9000 }), "Deployment", "recs-canary");
    const server = d.spec.template.spec.containers[0];
    expect(server.command).toEqual(["node", "dist/cli/index.js", "serve"]);
    // the default pod CPU request (500m) is one core: the server sizes its threads from it and the model
    expect(server.args).toEqual(["--bundle", bundlePath(v2), "--port", "9000", "--host", "0.0.0.0", "--variant", "canary", "--cores", "1"]);
    expect(server.readinessProbe.httpGet).toMatchObject({ path: "/v2/health/ready", port: "http" });
    expect(server.livenessProbe.httpGet).toMatchObject({ path: "/v2/health/live", port: "http" });
    expect(server.ports).toEqual([{ name: "http", containerPort: 9000, protocol: "TCP" }]);
    expect(d.spec.template.metadata.annotations).toEqual({
      "prometheus.io/scrape": "true",
      "prometheus.io/port": "9000",
      "prometheus.io/path": "/metrics",
    });
    expect(server.volumeMounts).toEqual([{ name: "models", mountPath: "/models", readOnly: true }]);
  });

  it("give the server the pod's CPU (limit, else request) as --cores, which its default threads come from, unless server-args sets them", () => {
    const args = (options: Partial<KubernetesDeployOptions>) =>
      find(everything(options), "Deployment", "recs-stable").spec.template.spec.containers[0].args as string[];
    const flag = (a: string[], name: string) => (a.includes(name) ? a[a.indexOf(name) + 1] : undefined);
    expect(flag(args({ resources: { cpu: "4", memory: "2Gi" } }), "--cores")).toBe("4");
    expect(flag(args({ resources: { cpu: "1", cpuLimit: "6", memory: "2Gi" } }), "--cores")).toBe("6");
    expect(flag(args({ resources: { cpu: "2500m", memory: "2Gi" } }), "--cores")).toBe("3");
    expect(flag(args({ resources: { cpu: "250m", memory: "2Gi" } }), "--cores")).toBe("1");
    expect(args({ resources: { cpu: "4", memory: "2Gi" } })).not.toContain("--threads");
    // server-args decides: --threads or --cores given there is not overridden
    const threads = args({ resources: { cpu: "8", memory: "2Gi" }, serverArgs: ["--threads 6 --workers 2"] });
    expect(threads).not.toContain("--cores");
    expect(flag(threads, "--threads")).toBe("6");
    const cores = args({ resources: { cpu: "8", memory: "2Gi" }, serverArgs: ["--cores 5"] });
    expect(cores.filter((a) => a === "--cores")).toHaveLength(1);
    expect(flag(cores, "--cores")).toBe("5");
    expect(cpuCores("250m")).toBe(0.25);
    expect(cpuCores("1.5")).toBe(1.5);
    expect(cpuCores("1e3")).toBeUndefined();
    expect(coresArgs("1e3", [])).toEqual([]);
  });

  it("deliver the model with a download and a checksum-verifying init container before the server", () => {
    const d = find(everything({}), "Deployment", "recs-canary");
    const [fetch, verify] = d.spec.template.spec.initContainers;
    expect(fetch.name).toBe("fetch-model");
    expect(fetch.image).toMatch(/aws-cli/); // s3:// URL
    expect(verify.name).toBe("verify-model");
    expect(verify.command.join(" ")).toContain("sha256sum");
    const files = fetch.env.find((e: { name: string }) => e.name === "RECSHIP_MODEL_FILES").value;
    expect(files).toBe(`${"cd".repeat(32)} tar bundle.tar.gz s3://shop-models/recs/v2.tar.gz`);
    expect(d.spec.template.spec.volumes).toEqual([{ name: "models", emptyDir: { sizeLimit: "4Gi" } }]);
    const stable = find(everything({}), "Deployment", "recs-stable");
    expect(stable.spec.template.spec.initContainers[0].image).toMatch(/curl/); // https:// URL
  });

  it("give a stopping pod its preStop pause and its whole drain before the kill", () => {
    const pod = (options: Partial<KubernetesDeployOptions>) => find(everything(options), "Deployment", "recs-stable").spec.template.spec;
    // defaults: a 5 s pause while the endpoint removal spreads, the server's 30 s drain, 5 s to exit
    const defaults = pod({});
    expect(defaults.containers[0].lifecycle).toEqual({ preStop: { sleep: { seconds: 5 } } });
    expect(defaults.terminationGracePeriodSeconds).toBe(40);
    // a drain longer than the former fixed 30 s grace period is not cut short
    expect(pod({ serverArgs: ["--drain-timeout 600"] }).terminationGracePeriodSeconds).toBe(610);
    expect(pod({ serverArgs: ["--workers 2 --drain-timeout=3600"] }).terminationGracePeriodSeconds).toBe(3610);
    expect(pod({ serverArgs: ["--drain-timeout 0.5"] }).terminationGracePeriodSeconds).toBe(11);
    const longPause = pod({ serverArgs: ["--drain-timeout 120"], preStopSeconds: 20 });
    expect(longPause.containers[0].lifecycle.preStop.sleep.seconds).toBe(20);
    expect(longPause.terminationGracePeriodSeconds).toBe(145);
    // 0: no hook (a cluster older than Kubernetes 1.30 has no sleep action), the drain still fits
    const none = pod({ preStopSeconds: 0 });
    expect(none.containers[0].lifecycle).toBeUndefined();
    expect(none.terminationGracePeriodSeconds).toBe(35);
    // the server's own default drain, which the grace period assumes without --drain-timeout
    const program = new Command();
    registerServe(program, {} as CommandContext);
    const serve = program.commands.find((c) => c.name() === "serve")!;
    expect(Number(serve.options.find((o) => o.long === "--drain-timeout")!.defaultValue)).toBe(SERVER_DEFAULT_DRAIN_SECONDS);
  });

  it("request nvidia.com/gpu in requests and limits, tolerate the GPU taint, and mount a PVC when asked", () => {
    const d = find(everything({ resources: { gpu: 2 }, modelVolume: { type: "pvc", claimName: "models" } }), "Deployment", "recs-stable");
    const server = d.spec.template.spec.containers[0];
    expect(server.resources.requests["nvidia.com/gpu"]).toBe("2");
    expect(server.resources.limits["nvidia.com/gpu"]).toBe("2");
    expect(d.spec.template.spec.tolerations).toEqual([{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }]);
    expect(server.args.slice(-4)).toEqual(["--device", "cuda", "--cores", "1"]);
    expect(d.spec.template.spec.volumes).toEqual([{ name: "models", persistentVolumeClaim: { claimName: "models" } }]);
    const cpuOnly = find(everything({}), "Deployment", "recs-stable").spec.template.spec.containers[0];
    expect(cpuOnly.resources.requests["nvidia.com/gpu"]).toBeUndefined();
  });

  it("leave replicas to the autoscaler and add an HPA and a PDB for stable", () => {
    const objects = everything({ autoscaling: { minReplicas: 3, maxReplicas: 12, cpuUtilization: 60 } });
    expect(find(objects, "Deployment", "recs-stable").spec.replicas).toBeUndefined();
    const hpa = find(objects, "HorizontalPodAutoscaler", "recs-stable");
    expect(hpa.spec).toMatchObject({ minReplicas: 3, maxReplicas: 12, scaleTargetRef: { kind: "Deployment", name: "recs-stable" } });
    expect(hpa.spec.metrics[0].resource.target.averageUtilization).toBe(60);
    expect(find(objects, "PodDisruptionBudget", "recs-stable").spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: { app: "recs", variant: "stable" } },
    });
  });

  it("split by replica ratio behind one Service selecting both variants", () => {
    const s = spec({ replicas: 9 });
    expect(canaryReplicas(s, 10)).toEqual({ replicas: 1, effectiveWeight: 10 });
    expect(canaryReplicas(s, 50)).toEqual({ replicas: 9, effectiveWeight: 50 });
    expect(canaryReplicas(spec({ replicas: 2 }), 10)).toEqual({ replicas: 1, effectiveWeight: 33.3 });
    const r = renderAll(s, withCanary(25));
    expect(find(r.services, "Service", "recs").spec.selector).toEqual({ app: "recs" });
    expect(r.route).toEqual([]);
    expect(find(r.canary, "Deployment", "recs-canary").spec.replicas).toBe(3);
  });

  it("split by HTTPRoute weights between per-variant Services", () => {
    const r = renderAll(spec({ traffic: "gateway-api", gateway: "infra/public" }), withCanary(20));
    const route = find(r.route, "HTTPRoute", "recs");
    expect(route.spec.parentRefs).toEqual([{ group: "gateway.networking.k8s.io", kind: "Gateway", namespace: "infra", name: "public" }]);
    expect(route.spec.rules[0].backendRefs.map((b: any) => [b.name, b.weight])).toEqual([
      ["recs-stable", 80],
      ["recs-canary", 20],
    ]);
    expect(find(r.routeStableOnly, "HTTPRoute", "recs").spec.rules[0].backendRefs.map((b: any) => [b.name, b.weight])).toEqual([
      ["recs-stable", 100],
    ]);
    expect(find(r.services, "Service", "recs").spec.selector).toEqual({ app: "recs", variant: "stable" });
    expect(find(r.canary, "Service", "recs-canary").spec.selector).toEqual({ app: "recs", variant: "canary" });
    const mesh = find(renderAll(spec({ traffic: "gateway-api" }), withCanary()).route, "HTTPRoute", "recs");
    expect(mesh.spec.parentRefs).toEqual([{ group: "", kind: "Service", name: "recs", port: 80 }]);
  });

  it("split by VirtualService weights", () => {
    const vs = find(renderAll(spec({ traffic: "istio" }), withCanary(5)).route, "VirtualService", "recs");
    expect(vs.spec.hosts).toEqual(["recs"]);
    expect(vs.spec.http[0].route.map((r: any) => [r.destination.host, r.weight])).toEqual([
      ["recs-stable", 95],
      ["recs-canary", 5],
    ]);
  });

  it("label for a ServiceMonitor exactly the Services that cover each pod once", () => {
    const weighted = renderAll(spec({ traffic: "istio", metrics: "service-monitor" }), withCanary());
    const scraped = [...weighted.services, ...weighted.canary].filter(
      (o) => o.kind === "Service" && o.metadata.labels?.["recship.dev/scrape"] === "true",
    );
    expect(scraped.map((o) => o.metadata.name).sort()).toEqual(["recs-canary", "recs-stable"]);
    const sm = find(weighted.services, "ServiceMonitor", "recs");
    expect(sm.spec.endpoints).toEqual([{ port: "http", path: "/metrics", interval: "30s" }]);
    expect(sm.spec.podTargetLabels).toEqual(["variant", "model-version"]);
    const single = renderAll(spec({ metrics: "service-monitor" }), withCanary());
    expect(single.services.filter((o) => o.metadata.labels?.["recship.dev/scrape"]).map((o) => o.metadata.name)).toEqual(["recs"]);
  });
});

describe("an API server older than Kubernetes 1.30", () => {
  it("refusing the preStop sleep action is answered with prestop-seconds 0", () => {
    const ref = { apiVersion: "apps/v1", kind: "Deployment", namespace: "shop", name: "recs-stable" };
    const fix = (e: KubeApiError) => String(apiError(e, "apply", ref, "https://k8s.example"));
    // 1.29 drops the unknown sleep field, which leaves the hook without a handler
    const dropped = new KubeApiError(
      'Deployment.apps "recs-stable" is invalid: spec.template.spec.containers[0].lifecycle.preStop: Required value: must specify a handler type',
      422,
      "Invalid",
    );
    expect(fix(dropped)).toMatch(/older than Kubernetes 1\.30.*set prestop-seconds to 0/);
    const strict = new KubeApiError(".spec.template.spec.containers[0].lifecycle.preStop.sleep: field not declared in schema", 400);
    expect(fix(strict)).toMatch(/set prestop-seconds to 0/);
    const other = new KubeApiError('Deployment.apps "recs-stable" is invalid: spec.replicas: Invalid value: -1', 422);
    expect(fix(other)).toMatch(/check the deploy inputs it names/);
  });
});

describe("manifest validation", () => {
  it("finds unknown fields the schemas let through, at any depth", () => {
    const d = find(everything({}), "Deployment", "recs-stable");
    d.spec.template.spec.containers[0].readinesProbe = d.spec.template.spec.containers[0].readinessProbe;
    d.spec.replica = 3;
    expect(manifestProblems(d).sort()).toEqual([
      "unknown field .spec.replica",
      "unknown field .spec.template.spec.containers[0].readinesProbe",
    ]);
    expect(unknownFields({ metadata: { name: "x", labelz: {} } }, "V1Service")).toEqual([".metadata.labelz"]);
  });

  it("reports schema errors from the Kubernetes models", () => {
    const d = find(everything({}), "Deployment", "recs-stable");
    d.spec.replicas = "two";
    delete d.spec.selector;
    const problems = manifestProblems(d);
    expect(problems.some((p) => p.includes("/spec/replicas"))).toBe(true);
    expect(problems.some((p) => p.includes("selector"))).toBe(true);
    expect(() => validateManifests([d])).toThrow(/Deployment recs-stable/);
  });

  it("checks custom resources against strict schemas", () => {
    const route = find(renderAll(spec({ traffic: "gateway-api" }), withCanary()).route, "HTTPRoute", "recs");
    route.spec.rules[0].backendRefs[0].wieght = 3;
    expect(manifestProblems(route)).toEqual(["unknown field .spec.rules.0.backendRefs.0.wieght"]);
  });
});

describe("deploy inputs", () => {
  const error = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      expect(isRecshipError(e)).toBe(true);
      return (e as Error).message;
    }
    throw new Error("no error");
  };

  it("refuse values Kubernetes would reject, naming the input and the fix", () => {
    expect(error(() => spec({ name: "Recs_App" }))).toMatch(/name: "Recs_App" is not a valid name/);
    expect(error(() => spec({ resources: { cpu: "half" } }))).toMatch(/resources cpu: "half" is not a Kubernetes quantity/);
    expect(error(() => spec({ hostnames: ["recs.example"] }))).toMatch(/need a gateway/);
    expect(error(() => spec({ preStopSeconds: -1 }))).toMatch(/prestop-seconds: must be a whole number from 0 to 300/);
    expect(error(() => checkModel({ ...v1, version: "v1 final" }, "model"))).toMatch(/cannot be a label value/);
    expect(error(() => checkModel({ ...v1, sha256: "abc" }, "model"))).toMatch(/sha256/);
    expect(error(() => checkModel({ ...v1, url: "ftp://x/y.tar.gz" }, "model"))).toMatch(/not a model URL/);
    expect(error(() => checkModel({ version: "v1", url: "https://x/model.bin", sha256: SHA }, "model"))).toMatch(
      /bundle tarball or an ONNX file/,
    );
  });

  it("refuse model URLs that carry credentials, without quoting them, and point to the fetch Secret", () => {
    const refused = (url: string, carried: RegExp, files = false) => {
      const model = files
        ? { version: "v3", url: "https://x/model.onnx", sha256: SHA, files: [{ name: "items.txt", url, sha256: SHA }] }
        : { ...v1, url };
      const message = error(() => checkModel(model, "model"));
      expect(message).toMatch(carried);
      expect(message).toMatch(/fetch-secret/);
      for (const secret of ["s3cr3t-pass", "AKIAEXAMPLE", "deadbeefcafe"]) expect(message).not.toContain(secret);
    };
    refused("https://deployer:s3cr3t-pass@models.example/recs/v1.tar.gz", /user:password@/);
    refused("https://deployer@models.example/recs/v1.tar.gz", /user:password@/);
    refused(
      "https://bucket.s3.amazonaws.com/v1.tar.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20250101&X-Amz-Signature=deadbeefcafe",
      /X-Amz-Credential, X-Amz-Signature/,
    );
    refused("https://acct.blob.core.windows.net/models/v1.tar.gz?sv=2024-01-01&sig=deadbeefcafe", /\bsig\b/);
    refused("https://models.example/v1.tar.gz?token=deadbeefcafe", /\btoken\b/);
    refused("https://storage.googleapis.com/m/v1.tar.gz?X-Goog-Signature=deadbeefcafe", /X-Goog-Signature/);
    refused("s3://deployer:s3cr3t-pass@shop-models/v1.tar.gz", /user:password@/);
    refused("https://deployer:s3cr3t-pass@models.example/items.txt", /files\[0\] url/, true);
    // ordinary query parameters and an @ in the path are fine
    expect(checkModel({ ...v1, url: "https://models.example/recs/v1.tar.gz?version=3&alt=media" }, "model").url).toContain("alt=media");
    expect(checkModel({ ...v1, url: "https://models.example/@team/v1.tar.gz" }, "model").url).toContain("@team");
  });

  it("refuse an ONNX file without the bundle files the server reads, and accept it with them", () => {
    const onnx = { version: "v3", url: "https://x/model.onnx", sha256: SHA };
    expect(error(() => checkModel(onnx, "model"))).toMatch(/bundle.json and items.txt/);
    const ok = checkModel(
      {
        ...onnx,
        files: [
          { name: "bundle.json", url: "https://x/bundle.json", sha256: SHA },
          { name: "items.txt", url: "https://x/items.txt", sha256: SHA },
        ],
      },
      "model",
    );
    expect(ok.kind).toBe("onnx");
    expect(modelFileList(ok).split("\n")).toEqual([
      `${SHA} file model.onnx https://x/model.onnx`,
      `${SHA} file bundle.json https://x/bundle.json`,
      `${SHA} file items.txt https://x/items.txt`,
    ]);
  });
});
