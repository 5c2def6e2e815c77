import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { deployKubernetes, teardownKubernetes } from "../shared/deploy/k8s/deploy.js";
import type { KubernetesDeployOptions, ModelSource } from "../shared/deploy/k8s/types.js";
import { DEFAULT_THRESHOLDS, renderRuleGroups } from "../shared/deploy/monitoring/alert-rules.js";
import { localAlertSettings, type AlertOptions } from "../shared/deploy/monitoring/options.js";
import { renderMonitoringFiles, writeMonitoringFiles } from "../shared/deploy/monitoring/files.js";
import { readFileSync } from "node:fs";
import { isRecshipError } from "../shared/errors.js";
import { memoryLogger } from "../shared/log.js";
import { KubeEmulator, type EmulatorOptions } from "./helpers/k8s-emulator.js";
import { tempDir } from "./helpers/tmp.js";

const dir = tempDir("recship-k8s-monitoring-");
const IMAGE = "ghcr.io/shop/recship:0.1.0";
const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const model = (version: string): ModelSource => ({ version, url: `https://models.example/recs/${version}.tar.gz`, sha256: sha(version) });
const alerts = (mode: AlertOptions["mode"], extra: Partial<AlertOptions> = {}): AlertOptions => ({
  mode,
  ruleLabels: {},
  thresholds: DEFAULT_THRESHOLDS,
  ...extra,
});

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

const RULE = ["monitoring.coreos.com/v1", "PrometheusRule"] as const;

describe("deploy-k8s ships alert rules and a dashboard beside the model", () => {
  it("applies a PrometheusRule and a grafana_dashboard ConfigMap where the Prometheus Operator is installed; promote keeps them, teardown removes them", async () => {
    const e = await start({ crds: ["prometheus-operator"] });
    const result = await deploy(e, { mode: "direct", model: model("v1"), alerts: alerts("auto", { ruleLabels: { release: "kps" } }) });
    expect(result.monitoring?.applied).toEqual(["PrometheusRule/recs-alerts", "ConfigMap/recs-dashboard"]);
    expect(result.monitoring?.note).toBeUndefined();
    const rule = e.get(...RULE, "shop", "recs-alerts") as any;
    expect(rule.metadata.labels).toMatchObject({ release: "kps", app: "recs", "app.kubernetes.io/managed-by": "recship" });
    const groups = renderRuleGroups({ app: "recs", selector: 'namespace="shop"', thresholds: DEFAULT_THRESHOLDS });
    expect(rule.spec.groups).toEqual(groups);
    // the rule file beside the report holds the same groups
    expect(parse(result.monitoring!.rules)).toEqual({ groups });
    const cm = e.get("v1", "ConfigMap", "shop", "recs-dashboard") as any;
    expect(cm.metadata.labels.grafana_dashboard).toBe("1");
    expect(JSON.parse(cm.data["recship-dashboard.json"])).toEqual(JSON.parse(result.monitoring!.dashboard));

    await deploy(e, { mode: "canary", model: model("v2"), canaryWeight: 50, alerts: alerts("auto") });
    const promoted = await deploy(e, { mode: "promote" });
    expect(promoted.monitoring).toBeUndefined();
    expect(e.names(...RULE, "shop")).toEqual(["recs-alerts"]);
    expect(e.names("v1", "ConfigMap", "shop")).toEqual(["recs-dashboard"]);

    const deleted = await teardownKubernetes({ kubeconfig: e.kubeconfig(), tempDir: dir, name: "recs", log: memoryLogger() });
    expect(deleted.map((d) => `${d.kind}/${d.name}`)).toEqual(
      expect.arrayContaining(["PrometheusRule/recs-alerts", "ConfigMap/recs-dashboard"]),
    );
    expect(e.names(...RULE, "shop")).toEqual([]);
  });

  it("auto: without the PrometheusRule CRD the rules are left out with a note, the dashboard and the model still go out", async () => {
    const e = await start();
    const log = memoryLogger();
    const result = await deploy(e, { mode: "direct", model: model("v1"), alerts: alerts("auto") }, log);
    expect(result.outcome).toBe("deployed");
    expect(result.monitoring?.applied).toEqual(["ConfigMap/recs-dashboard"]);
    expect(result.monitoring?.note).toMatch(/does not serve PrometheusRule/);
    expect(result.warnings.join("\n")).toMatch(/does not serve PrometheusRule.*rule_files/);
    expect(log.warnings.join("\n")).toMatch(/does not serve PrometheusRule/);
    expect(parse(result.monitoring!.rules).groups[0].rules.length).toBeGreaterThan(10);
  });

  it("required: a cluster without PrometheusRule is refused before anything changes", async () => {
    const e = await start();
    const error = await deploy(e, { mode: "direct", model: model("v1"), alerts: alerts("required") }).catch((err: unknown) => err);
    expect(isRecshipError(error)).toBe(true);
    expect(String((error as Error).message)).toMatch(/does not serve PrometheusRule/);
    expect(e.names("apps/v1", "Deployment", "shop")).toEqual([]);
  });

  it("none leaves the monitoring objects out", async () => {
    const e = await start({ crds: ["prometheus-operator"] });
    const result = await deploy(e, { mode: "direct", model: model("v1"), alerts: alerts("none") });
    expect(result.monitoring).toBeUndefined();
    expect(e.names(...RULE, "shop")).toEqual([]);
    expect(e.names("v1", "ConfigMap", "shop")).toEqual([]);
  });

  it("the local target's files pick the served model's series by its name and are written as a rule file and dashboard JSON", async () => {
    const settings = localAlertSettings(alerts("auto"), "shop-recs");
    expect(settings).toMatchObject({ app: "shop-recs", selector: 'model="shop-recs"' });
    const paths = await writeMonitoringFiles(dir, renderMonitoringFiles(settings));
    expect(paths.rules).toMatch(/recship-alerts\.rules\.yml$/);
    const rules = parse(readFileSync(paths.rules, "utf8"));
    expect(rules.groups[0].rules.find((r: { alert?: string }) => r.alert === "RecshipHighErrorRate").expr).toContain('model="shop-recs"');
    expect(JSON.parse(readFileSync(paths.dashboard, "utf8")).panels[0].targets[0].expr).toContain('model="shop-recs"');
    expect(localAlertSettings(alerts("auto", { selector: 'job="x"' }), undefined)).toMatchObject({
      app: "recommender",
      selector: 'job="x"',
    });
  });
});
