import type { KubernetesDeployResult } from "../deploy/k8s/types.js";
import type { DeployResult, DeployStatus } from "../rollout/target.js";
import { table } from "./markdown.js";

const OUTCOME: Record<KubernetesDeployResult["outcome"], string> = {
  deployed: "✅ deployed",
  "rolled-back": "❌ failed and rolled back",
  failed: "❌ failed",
  "dry-run": "🔍 dry run (nothing changed)",
};

/** A collapsed code block, cut at `maxLines`. */
function details(summary: string, text: string, lang: string, maxLines = 400): string {
  const lines = text.split("\n");
  const body = lines.length > maxLines ? [...lines.slice(0, maxLines), `... (${lines.length - maxLines} more lines)`] : lines;
  return [`<details><summary>${summary}</summary>`, "", "```" + lang, ...body, "```", "", "</details>"].join("\n");
}

/** The deploy-k8s job summary: outcome, versions and traffic, what changed, why it failed, the diff or manifests. */
export function kubernetesDeploySummary(r: KubernetesDeployResult): string {
  const parts = [
    `## recship deploy: ${r.mode} on Kubernetes`,
    "",
    `${OUTCOME[r.outcome]} — \`${r.name}\` in namespace \`${r.namespace}\`, traffic split by ${r.traffic === "replicas" ? "replica ratio" : r.traffic}.`,
    "",
    table(
      ["", "value"],
      [
        ["service", r.serviceUrl + (r.externalUrl ? ` (external: ${r.externalUrl})` : "")],
        ["stable version", r.stableVersion ?? "–"],
        ["canary version", r.canaryVersion ?? "–"],
        ["canary share of traffic", r.canaryVersion ? `${r.canaryWeight}%` : "–"],
      ],
    ),
  ];
  if (r.failure) {
    parts.push("", `**Why:** ${r.failure.reason}`, "", ...r.failure.details.map((d) => `- ${d.replace(/\|/g, "\\|")}`));
  }
  if (r.warnings.length) parts.push("", ...r.warnings.map((w) => `> ⚠️ ${w}`));
  if (r.objects.length) {
    parts.push(
      "",
      table(
        ["object", "namespace", "change"],
        r.objects.map((o) => [`${o.kind} ${o.name}`, o.namespace, o.action]),
      ),
    );
  }
  if (r.dryRun) parts.push("", r.diff ? details("diff against the live objects", r.diff, "diff") : "No differences from the live objects.");
  parts.push("", details("manifests", r.manifests, "yaml"));
  return `${parts.join("\n")}\n`;
}

function statusRows(s: DeployStatus): (string | number)[][] {
  return [
    ["endpoint", s.endpoint ?? "–"],
    ["stable version", s.stable ? `${s.stable.version}${s.stable.ready ? "" : " (not ready)"}` : "–"],
    ["canary version", s.canary ? `${s.canary.version}${s.canary.ready ? "" : " (not ready)"}` : "–"],
    ["canary share of traffic", s.canary ? `${s.canaryWeight}%` : "–"],
  ];
}

/** A target-neutral summary (the local target's result). */
export function deployResultSummary(r: DeployResult): string {
  return [
    `## recship deploy: ${r.mode} on ${r.after.target}`,
    "",
    `Done in ${r.seconds.toFixed(1)}s.`,
    "",
    table(["after", "value"], statusRows(r.after)),
    "",
  ].join("\n");
}
