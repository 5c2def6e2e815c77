import type { Logger } from "../../log.js";
import type { KubeClient, KubeObject } from "./client.js";
import { containerProblems, describeProblem, explainRollout, isFatal } from "./diagnose.js";
import { labelSelectorString } from "./names.js";

const REVISION = "deployment.kubernetes.io/revision";
const TEMPLATE_HASH = "pod-template-hash";

interface DeploymentShape {
  metadata: { name: string; generation?: number; annotations?: Record<string, string> };
  spec?: { replicas?: number; selector?: { matchLabels?: Record<string, string> }; progressDeadlineSeconds?: number };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

export interface RolloutWait {
  pollIntervalMs: number;
  timeoutMs: number;
  log: Logger;
  /** Stop at the first problem that cannot clear up (bad image, crash loop) instead of waiting for the deadline. */
  failFast?: boolean;
}

export type RolloutOutcome = { ok: true } | { ok: false; reason: string; details: string[] };

/** Where a rollout stands, as `kubectl rollout status` judges it; undefined when complete. */
function rolloutProgress(d: KubeObject): { waiting: string } | { failed: string } | undefined {
  const { metadata, spec, status = {} } = d as unknown as DeploymentShape;
  if ((status.observedGeneration ?? 0) < (metadata.generation ?? 1))
    return { waiting: `waiting for the controller to observe generation ${metadata.generation}` };
  const stalled = status.conditions?.find((c) => c.type === "Progressing" && c.reason === "ProgressDeadlineExceeded");
  if (stalled)
    return { failed: `exceeded its progress deadline (${spec?.progressDeadlineSeconds ?? 600}s): ${stalled.message ?? ""}`.trim() };
  const want = spec?.replicas ?? 1;
  const updated = status.updatedReplicas ?? 0;
  if (updated < want) return { waiting: `${updated} of ${want} new replicas updated` };
  if ((status.replicas ?? 0) > updated) return { waiting: `${(status.replicas ?? 0) - updated} old replicas pending termination` };
  if ((status.readyReplicas ?? 0) < updated) return { waiting: `${status.readyReplicas ?? 0} of ${updated} updated replicas ready` };
  if ((status.availableReplicas ?? 0) < updated)
    return { waiting: `${status.availableReplicas ?? 0} of ${updated} updated replicas available` };
  return undefined;
}

/** The newest ReplicaSet's pods (the rollout's), and every ReplicaSet name of the Deployment. */
async function newestPods(client: KubeClient, namespace: string, d: KubeObject): Promise<{ pods: KubeObject[]; replicaSets: string[] }> {
  const { metadata, spec } = d as unknown as DeploymentShape;
  const selector = labelSelectorString(spec?.selector?.matchLabels ?? {});
  const sets = (await client.list("apps/v1", "ReplicaSet", namespace, { labelSelector: selector })).filter((rs) =>
    ((rs.metadata.ownerReferences as { name?: string }[] | undefined) ?? []).some((o) => o.name === metadata.name),
  );
  const revision = metadata.annotations?.[REVISION];
  const newest = sets.find((rs) => revision !== undefined && rs.metadata.annotations?.[REVISION] === revision);
  const hash = newest?.metadata.labels?.[TEMPLATE_HASH];
  if (!hash) return { pods: [], replicaSets: sets.map((s) => s.metadata.name) };
  const pods = await client.list("v1", "Pod", namespace, { labelSelector: `${selector},${TEMPLATE_HASH}=${hash}` });
  return { pods, replicaSets: sets.map((s) => s.metadata.name) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls a Deployment until its rollout completes (observedGeneration caught up; all
 * replicas updated, available, old ones gone), its progress deadline passes, a pod shows a
 * problem that waiting will not fix, or `timeoutMs` runs out. A failure says why.
 */
export async function waitForRollout(client: KubeClient, namespace: string, name: string, options: RolloutWait): Promise<RolloutOutcome> {
  const started = Date.now();
  const seen = new Map<string, number>();
  let last = "";
  const failFast = options.failFast ?? true;
  for (;;) {
    const d = await client.get({ apiVersion: "apps/v1", kind: "Deployment", namespace, name });
    if (!d) return { ok: false, reason: `Deployment ${namespace}/${name} was deleted during its rollout`, details: [] };
    const progress = rolloutProgress(d);
    if (!progress) {
      options.log.info(`Deployment ${name}: rollout complete`);
      return { ok: true };
    }
    if ("failed" in progress) {
      const { pods, replicaSets } = await newestPods(client, namespace, d);
      return {
        ok: false,
        reason: `Deployment ${name} ${progress.failed}`,
        details: await explainRollout(client, namespace, name, pods, replicaSets),
      };
    }
    if (progress.waiting !== last) {
      options.log.info(`Deployment ${name}: ${progress.waiting}`);
      last = progress.waiting;
    }
    if (failFast) {
      const { pods, replicaSets } = await newestPods(client, namespace, d);
      const problems = pods.flatMap(containerProblems);
      const now = new Map<string, number>();
      for (const p of problems) {
        const key = `${p.pod}/${p.container}/${p.reason}`;
        now.set(key, (seen.get(key) ?? 0) + 1);
      }
      seen.clear();
      for (const [k, v] of now) seen.set(k, v);
      const fatal = problems.find((p) => isFatal(p, seen.get(`${p.pod}/${p.container}/${p.reason}`) ?? 0));
      if (fatal) {
        return {
          ok: false,
          reason: `Deployment ${name} cannot become ready: ${describeProblem(fatal)}`,
          details: await explainRollout(client, namespace, name, pods, replicaSets),
        };
      }
    }
    if (Date.now() - started > options.timeoutMs) {
      const { pods, replicaSets } = await newestPods(client, namespace, d);
      return {
        ok: false,
        reason: `Deployment ${name} did not finish its rollout within ${Math.round(options.timeoutMs / 1000)}s (${progress.waiting})`,
        details: await explainRollout(client, namespace, name, pods, replicaSets),
      };
    }
    await sleep(options.pollIntervalMs);
  }
}
