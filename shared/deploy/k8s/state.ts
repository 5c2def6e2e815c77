import { RecshipError } from "../../errors.js";
import type { KubeClient, KubeObject } from "./client.js";
import { ANNOTATIONS, LABELS, objectNames } from "./names.js";
import { SERVER } from "./render-workload.js";
import type { DeployStatus, VariantStatus } from "../../rollout/target.js";
import type { KubernetesState, ModelSource, Variant, VariantState } from "./types.js";

interface DeploymentShape {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { replicas?: number; template?: { spec?: { containers?: { name: string; image?: string }[] } } };
  status?: { readyReplicas?: number };
}

/** A recship Deployment's variant as it runs: the model from its annotation, the server image from its pod template. */
function variantState(object: KubeObject, where: string): VariantState {
  const d = object as unknown as DeploymentShape;
  const raw = d.metadata.annotations?.[ANNOTATIONS.model];
  let model: ModelSource | undefined;
  try {
    model = raw ? (JSON.parse(raw) as ModelSource) : undefined;
  } catch {
    model = undefined;
  }
  const image = d.spec?.template?.spec?.containers?.find((c) => c.name === SERVER.container)?.image;
  if (!model?.url || !model.sha256 || !image) {
    throw new RecshipError(`was not deployed by recship (no readable ${ANNOTATIONS.model} annotation or ${SERVER.container} container)`, {
      where,
      fix: "deploy it with recship (mode direct) first, or remove it",
    });
  }
  return {
    version: d.metadata.labels?.[LABELS.modelVersion] ?? model.version,
    image,
    model,
    replicas: d.spec?.replicas ?? 1,
    readyReplicas: d.status?.readyReplicas ?? 0,
  };
}

/** The live stable and canary Deployments of the app. */
export async function readState(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<{ state: KubernetesState; live: Partial<Record<Variant, KubeObject>> }> {
  const names = objectNames(name);
  const live: Partial<Record<Variant, KubeObject>> = {};
  const state: KubernetesState = {};
  for (const variant of ["stable", "canary"] as const) {
    const object = await client.get({ apiVersion: "apps/v1", kind: "Deployment", namespace, name: names.deployment(variant) });
    if (!object) continue;
    live[variant] = object;
    const s = variantState(object, `Deployment ${namespace}/${names.deployment(variant)}`);
    if (variant === "stable") state.stable = s;
    else state.canary = { ...s, weight: Number(object.metadata.annotations?.[ANNOTATIONS.canaryWeight] ?? 0) };
  }
  return { state, live };
}

/** The target-neutral status (shared/deploy/types.ts) of a Kubernetes state; `endpoint` is the Service's URL. */
export function deployStatus(state: KubernetesState, endpoint: string): DeployStatus {
  const variant = (v: Variant, s: VariantState): VariantStatus => ({
    variant: v,
    version: s.version,
    bundle: s.model.url,
    endpoint,
    ready: s.readyReplicas >= s.replicas,
  });
  return {
    target: "kubernetes",
    endpoint,
    ...(state.stable ? { stable: variant("stable", state.stable) } : {}),
    ...(state.canary ? { canary: variant("canary", state.canary) } : {}),
    canaryWeight: state.canary?.weight ?? 0,
  };
}
