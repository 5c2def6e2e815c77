import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kubeconfigSecrets } from "../shared/deploy/k8s/kubeconfig.js";
import { KubeEmulator } from "./helpers/k8s-emulator.js";
import { runDistAction } from "./helpers/run-action.js";
import { tempDir } from "./helpers/tmp.js";

// The action's dist bundle, run as the runner runs it, against the API emulator.
const root = new URL("..", import.meta.url).pathname;
const entry = join(root, "dist", "deploy-k8s", "index.js");
const dir = tempDir("recship-k8s-action-");
const sha = (s: string) => createHash("sha256").update(s).digest("hex");
let emu: KubeEmulator;
let runs = 0;

async function runAction(inputs: Record<string, string>) {
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\` first`);
  const n = ++runs;
  const temp = join(dir, `runner-temp-${n}`);
  mkdirSync(temp);
  const all = {
    kubeconfig: emu.kubeconfig(),
    name: "recs",
    image: "ghcr.io/shop/recship:0.1.0",
    report: join(dir, `report-${n}.json`),
    ...inputs,
  };
  return { ...(await runDistAction("deploy-k8s", all, dir, {}, temp)), temp };
}

/** What the runner would print: everything but the add-mask commands it consumes. */
function visible(text: string): string {
  return text
    .split("\n")
    .filter((l) => !l.startsWith("::add-mask::"))
    .join("\n");
}

beforeAll(async () => {
  emu = await KubeEmulator.start();
});
afterAll(() => emu.close());

describe("deploy-k8s action", () => {
  it("deploys, outputs the service URL, versions and objects, masks the kubeconfig and removes it", async () => {
    const r = await runAction({
      mode: "direct",
      "model-url": "https://models.example/recs/v1.tar.gz",
      "model-sha256": sha("v1"),
      "model-version": "v1",
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.outputs).toMatchObject({
      outcome: "deployed",
      "service-url": "http://recs.shop.svc.cluster.local",
      "stable-version": "v1",
      "canary-version": "",
      "canary-weight": "0",
    });
    expect(JSON.parse(r.outputs.objects)).toContainEqual({ kind: "Deployment", namespace: "shop", name: "recs-stable", action: "created" });
    expect(readFileSync(r.outputs.manifests, "utf8")).toContain("kind: Deployment");
    expect(JSON.parse(readFileSync(r.outputs.report, "utf8")).outcome).toBe("deployed");
    expect(r.summary).toContain("## recship deploy: direct on Kubernetes");
    // masked before use: the whole kubeconfig and its token are registered with the runner
    const masks = r.stdout.split("\n").filter((l) => l.startsWith("::add-mask::"));
    expect(masks).toContain(`::add-mask::${emu.token}`);
    for (const secret of kubeconfigSecrets(emu.kubeconfig())) expect(visible(r.stdout + r.stderr) + r.summary).not.toContain(secret);
    expect(readdirSync(r.temp)).toEqual([]);
  });

  it("rolls a failing canary back, fails the step with the reason and still writes its outputs", async () => {
    emu.failPods({ match: { modelVersion: "v2" }, mode: "image-pull-backoff" });
    const r = await runAction({
      mode: "canary",
      "canary-weight": "20",
      "model-url": "https://models.example/recs/v2.tar.gz",
      "model-sha256": sha("v2"),
      "model-version": "v2",
    });
    emu.clearFailures();
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(
      /::error title=recship::canary failed and was undone: .*ImagePullBackOff|::error title=recship::canary failed and was undone: .*ErrImagePull/,
    );
    expect(r.outputs).toMatchObject({ outcome: "rolled-back", "stable-version": "v1", "canary-version": "" });
    expect(r.summary).toContain("**Why:**");
    expect(emu.names("apps/v1", "Deployment", "shop")).toEqual(["recs-stable"]);
    expect(visible(r.stdout + r.stderr)).not.toContain(emu.token);
    expect(readdirSync(r.temp)).toEqual([]);
  });

  it("dry-run outputs the diff and changes nothing", async () => {
    const before = emu.snapshot();
    const r = await runAction({
      mode: "direct",
      "dry-run": "true",
      "model-url": "https://models.example/recs/v3.tar.gz",
      "model-sha256": sha("v3"),
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.outputs.outcome).toBe("dry-run");
    expect(r.outputs["stable-version"]).toBe(sha("v3").slice(0, 12)); // model-version defaults to the sha256's start
    expect(r.summary).toContain("diff against the live objects");
    expect(r.stdout).toMatch(/^\+\s+model-version: [0-9a-f]{12}$/m);
    expect(emu.snapshot()).toEqual(before);
  });

  it("refuses a missing kubeconfig for the kubernetes target", async () => {
    const r = await runAction({ kubeconfig: "", mode: "rollback" });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(/input kubeconfig: target kubernetes needs the kubeconfig/);
  });
});

describe("recship deploy --target kubernetes (the CLI, same options as the action)", () => {
  it("deploys directly, reports the status, and names a missing kubeconfig", async () => {
    const { main } = await import("../shared/cli/main.js");
    const { writeFileSync } = await import("node:fs");
    const kubeconfig = join(dir, "cli-kubeconfig.yaml");
    writeFileSync(kubeconfig, emu.kubeconfig(), { mode: 0o600 });
    const report = join(dir, "cli-report.json");
    const common = ["--target", "kubernetes", "--kubeconfig", kubeconfig, "--name", "cli-recs"];
    const code = await main([
      "deploy",
      ...common,
      "--mode",
      "direct",
      "--image",
      "ghcr.io/shop/recship:0.1.0",
      "--model-url",
      "https://models.example/recs/v9.tar.gz",
      "--model-sha256",
      sha("v9"),
      "--model-version",
      "v9",
      "--replicas",
      "3",
      "--report",
      report,
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(readFileSync(report, "utf8")) as { outcome: string; stableVersion: string; serviceUrl: string };
    expect(result).toMatchObject({ outcome: "deployed", stableVersion: "v9" });
    expect(result.serviceUrl).toMatch(/^http:\/\/cli-recs\./);
    const deployment = emu.get("apps/v1", "Deployment", "shop", "cli-recs-stable") as { spec: { replicas: number } } | undefined;
    expect(deployment?.spec.replicas).toBe(3);

    const statusReport = join(dir, "cli-status.json");
    expect(await main(["deploy", ...common, "--mode", "status", "--report", statusReport])).toBe(0);
    expect(JSON.parse(readFileSync(statusReport, "utf8"))).toMatchObject({ stable: { version: "v9" } });

    expect(await main(["deploy", "--target", "kubernetes", "--kubeconfig", join(dir, "nope.yaml"), "--mode", "status"])).not.toBe(0);
  });
});
