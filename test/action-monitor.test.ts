import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { deployKubernetes } from "../shared/deploy/k8s/deploy.js";
import { kubeconfigSecrets } from "../shared/deploy/k8s/kubeconfig.js";
import type { KubernetesDeployOptions, ModelSource } from "../shared/deploy/k8s/types.js";
import { memoryLogger } from "../shared/log.js";
import { KubeEmulator } from "./helpers/k8s-emulator.js";
import { runDistAction } from "./helpers/run-action.js";
import { tempDir } from "./helpers/tmp.js";

// The monitor-canary dist bundle run as the runner runs it (action.yml defaults filled in, INPUT_*
// variables, output and summary files) on the kubernetes target against the API emulator, with a
// fake Prometheus answering the one critical check. The canary is deployed by deploy-k8s with
// settings monitor-canary is not given; moving its weight, promoting and rolling back keep them.

const root = new URL("..", import.meta.url).pathname;
const entry = join(root, "dist", "monitor-canary", "index.js");
const dir = tempDir("recship-monitor-action-");
const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const model = (version: string): ModelSource => ({ version, url: `s3://models/recs/${version}.tar.gz`, sha256: sha(version) });

/** deploy-k8s's inputs for the canary: everything monitor-canary does not know about. */
const SETTINGS = {
  traffic: "gateway-api",
  gateway: "infra/public",
  serviceAccountName: "recs-reader",
  resources: { gpu: 1 },
  fetchSecret: "model-store-creds",
  imagePullSecrets: ["ghcr-pull"],
  nodeSelector: { pool: "gpu" },
  port: 9090,
  servicePort: 8081,
  autoscaling: { minReplicas: 2, maxReplicas: 6, cpuUtilization: 70 },
} satisfies Partial<KubernetesDeployOptions>;

const CHECKS = `
builtins:
  error-rate: false
  latency-p99: false
  click-through: false
  add-to-cart: false
  score-drift: false
checks:
  - name: errors
    kind: proportion
    numerator: sum(increase(test_errors_total{variant="$variant",version="$version"}[$interval]))
    denominator: sum(increase(test_requests_total{variant="$variant",version="$version"}[$interval]))
    direction: lower
    margin: { absolute: 0.01 }
    critical: true
`;

/** A Prometheus answering instant queries: both variants present, `errorShare` of 100000 requests failing. */
async function fakePrometheus(errorShare: { stable: number; canary: number }): Promise<{ url: string; server: Server; queries: string[] }> {
  const queries: string[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      const params = new URLSearchParams(body);
      const query = params.get("query") ?? "";
      queries.push(query);
      const variant = /variant="canary"/.test(query) ? "canary" : "stable";
      const value = query.startsWith("count(recship_model_ready")
        ? 1
        : query.includes("test_errors_total")
          ? Math.round(100_000 * errorShare[variant])
          : 100_000;
      res.setHeader("content-type", "application/json");
      res.end(
        JSON.stringify({
          status: "success",
          data: { resultType: "vector", result: [{ metric: {}, value: [Number(params.get("time") ?? 0), String(value)] }] },
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, queries };
}

let emu: KubeEmulator;
let prometheus: { url: string; server: Server; queries: string[] } | undefined;
let runs = 0;

beforeEach(async () => {
  emu = await KubeEmulator.start({ crds: ["gateway-api"] });
});
afterEach(async () => {
  await emu.close();
  const server = prometheus?.server;
  prometheus = undefined;
  if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
});

function deploy(options: Partial<KubernetesDeployOptions> & Pick<KubernetesDeployOptions, "mode">) {
  return deployKubernetes({
    kubeconfig: emu.kubeconfig(),
    tempDir: dir,
    name: "recs",
    image: "ghcr.io/shop/recship:0.1.0",
    pollIntervalMs: 5,
    log: memoryLogger(),
    ...SETTINGS,
    ...options,
  });
}

/** The step as a workflow gives it (retrain-on-merge.yml), plus the runner's action.yml defaults. */
async function runMonitor(inputs: Record<string, string>) {
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  const n = ++runs;
  const temp = join(dir, `runner-temp-${n}`);
  mkdirSync(temp);
  // the runner fills in action.yml's defaults for inputs a workflow leaves out
  const action = parseYaml(readFileSync(join(root, "actions", "monitor-canary", "action.yml"), "utf8")) as {
    inputs: Record<string, { default?: string }>;
  };
  const defaults = Object.fromEntries(
    Object.entries(action.inputs)
      .filter(([, spec]) => spec.default !== undefined && !spec.default.includes("${{"))
      .map(([name, spec]) => [name, spec.default!]),
  );
  const all = {
    ...defaults,
    target: "kubernetes",
    kubeconfig: emu.kubeconfig(),
    name: "recs",
    "prometheus-url": prometheus!.url,
    checks: CHECKS,
    interval: "1",
    warmup: "5",
    comment: "false",
    report: join(dir, `report-${n}.json`),
    ...inputs,
  };
  return { ...(await runDistAction("monitor-canary", all, dir, {}, temp)), temp };
}

/** Watches the canary while the action runs: every pod template and ReplicaSet it had. */
function watchCanary() {
  const templates = new Set<string>();
  const replicaSets = new Set<string>();
  const look = () => {
    const d = emu.get("apps/v1", "Deployment", "shop", "recs-canary") as any;
    if (d) templates.add(JSON.stringify(d.spec.template));
    for (const rs of emu.names("apps/v1", "ReplicaSet", "shop")) if (rs.startsWith("recs-canary-")) replicaSets.add(rs);
  };
  look();
  const timer = setInterval(look, 5);
  return {
    stop: () => {
      clearInterval(timer);
      look();
      return { templates, replicaSets };
    },
  };
}

const deployment = (name: string) => emu.get("apps/v1", "Deployment", "shop", name) as any;
const routeWeights = () =>
  (emu.get("gateway.networking.k8s.io/v1", "HTTPRoute", "shop", "recs") as any).spec.rules[0].backendRefs.map((b: any) => [
    b.name,
    b.weight,
  ]);
const servicePort = (name: string) => (emu.get("v1", "Service", "shop", name) as any).spec.ports[0].port;
const visible = (text: string) =>
  text
    .split("\n")
    .filter((l) => !l.startsWith("::add-mask::"))
    .join("\n");

function expectSettings(name: string): void {
  const pod = deployment(name).spec.template.spec;
  expect(pod.serviceAccountName).toBe("recs-reader");
  expect(pod.imagePullSecrets).toEqual([{ name: "ghcr-pull" }]);
  expect(pod.nodeSelector).toEqual({ pool: "gpu" });
  expect(pod.containers[0].resources.limits["nvidia.com/gpu"]).toBe("1");
  expect(pod.containers[0].ports[0].containerPort).toBe(9090);
  expect(pod.initContainers[0].envFrom).toEqual([{ secretRef: { name: "model-store-creds" } }]);
  expect(servicePort("recs")).toBe(8081);
  expect(emu.get("autoscaling/v2", "HorizontalPodAutoscaler", "shop", "recs-stable")).toBeDefined();
}

describe("monitor-canary action on the kubernetes target", () => {
  it("steps a healthy canary through 20 and 50 % and promotes it, keeping everything deploy-k8s set up", async () => {
    await deploy({ mode: "direct", model: model("v1") });
    await deploy({ mode: "canary", model: model("v2"), canaryWeight: 10 });
    prometheus = await fakePrometheus({ stable: 0, canary: 0 });
    const watch = watchCanary();
    const r = await runMonitor({ steps: "20,50,100", "max-intervals": "4" });
    const seen = watch.stop();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.outputs).toMatchObject({ verdict: "promoted", "final-weight": "100" });
    const report = JSON.parse(readFileSync(r.outputs.report, "utf8"));
    expect(report).toMatchObject({ verdict: "promoted", applied: true, target: "kubernetes", canary: { version: "v2" } });
    expect(report.steps.map((s: any) => [s.weight, s.outcome])).toEqual([
      [20, "completed"],
      [50, "completed"],
      [100, "promoted"],
    ]);
    expect(r.summary).toContain("## recship monitor-canary");
    // the weight moved without touching the canary's pods
    expect(seen.templates.size).toBe(1);
    expect(seen.replicaSets.size).toBe(1);
    // promoted: stable is the canary's model with every setting deploy-k8s gave it
    expect(emu.names("apps/v1", "Deployment", "shop")).toEqual(["recs-stable"]);
    expect(deployment("recs-stable").metadata.labels["model-version"]).toBe("v2");
    expectSettings("recs-stable");
    expect(routeWeights()).toEqual([["recs-stable", 100]]);
    expect(prometheus.queries.some((q) => q.includes('variant="canary",version="v2"'))).toBe(true);
    // the kubeconfig is masked and its file gone
    expect(r.stdout).toContain(`::add-mask::${emu.token}`);
    for (const secret of kubeconfigSecrets(emu.kubeconfig())) expect(visible(r.stdout + r.stderr) + r.summary).not.toContain(secret);
    expect(readdirSync(r.temp)).toEqual([]);
  });

  it("rolls a canary that fails its critical check back, leaves stable untouched and fails the step", async () => {
    await deploy({ mode: "direct", model: model("v1") });
    await deploy({ mode: "canary", model: model("v3"), canaryWeight: 10 });
    const stableRv = String(deployment("recs-stable").metadata.resourceVersion);
    prometheus = await fakePrometheus({ stable: 0, canary: 0.2 });
    const watch = watchCanary();
    const r = await runMonitor({ steps: "20,50,100", "max-intervals": "4" });
    const seen = watch.stop();
    expect(r.code).not.toBe(0);
    expect(r.outputs).toMatchObject({ verdict: "rolled_back", "final-weight": "0" });
    expect(r.stdout).toMatch(/::error title=recship monitor-canary%3A rolled back::errors: Canary worse beyond the margin/);
    expect(seen.templates.size).toBe(1);
    expect(seen.replicaSets.size).toBe(1);
    expect(emu.names("apps/v1", "Deployment", "shop")).toEqual(["recs-stable"]);
    expect(String(deployment("recs-stable").metadata.resourceVersion)).toBe(stableRv);
    expect(deployment("recs-stable").metadata.labels["model-version"]).toBe("v1");
    expectSettings("recs-stable");
    expect(routeWeights()).toEqual([["recs-stable", 100]]);
    expect(emu.names("v1", "Service", "shop")).toEqual(["recs", "recs-stable"]);
    expect(readdirSync(r.temp)).toEqual([]);
  });
});
