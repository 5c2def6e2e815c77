import { RecshipError } from "../../errors.js";
import { DEFAULT_CANARY_WEIGHT } from "../../rollout/target.js";
import type { KubeRef } from "./client.js";
import {
  canaryWeight,
  newModel,
  pruneExcept,
  render,
  restoreStable,
  variantOf,
  waitFor,
  type DeployRun,
  type ModeOutcome,
} from "./deploy-run.js";
import { renderAll, type DesiredState } from "./render.js";

// One function per mode, each the order in which the objects change so that traffic only ever
// reaches pods that are ready, and how a failed rollout is undone. openRun (deploy-run.ts) has
// already checked what the mode needs (a stable for canary, a canary for promote and set-weight).

const isCanaryRef = (run: DeployRun) => (ref: KubeRef) =>
  ref.name === run.names.deployment("canary") && (ref.kind === "Deployment" || ref.kind === "Service");

const isStableGroupRef = (run: DeployRun) => (ref: KubeRef) =>
  (ref.kind === "Deployment" && ref.name === run.names.deployment("stable")) ||
  ref.kind === "HorizontalPodAutoscaler" ||
  ref.kind === "PodDisruptionBudget";

/** direct: the new model; promote: the running canary, exactly as tested. */
function nextStable(run: DeployRun): DesiredState["stable"] {
  if (run.mode === "direct") return newModel(run);
  const canary = run.state.canary!;
  const asked = run.options.model?.version;
  if (asked && asked !== canary.version) {
    throw new RecshipError(`promote promotes the running canary (${canary.version}), but model version ${asked} was given`, {
      fix: "drop the model inputs, or deploy that model as a canary first",
    });
  }
  return variantOf(canary);
}

/**
 * direct and promote: stable's Deployment is replaced, then the route sends it everything and the
 * canary goes. A failed rollout puts the previous stable back (and leaves the canary as it was).
 */
export async function replaceStable(run: DeployRun): Promise<ModeOutcome> {
  const { state, applier } = run;
  const final: DesiredState = { stable: nextStable(run) };
  const rendered = render(run, final, (r) => [...r.stable, ...r.services, ...r.routeStableOnly]);
  const applied = [...rendered.services, ...rendered.stable, ...rendered.routeStableOnly];
  await applier.requireKinds(applied);
  await applier.apply([...rendered.services, ...rendered.stable]);
  const outcome = await waitFor(run, "stable");
  if (!outcome.ok) {
    const undone = await restoreStable(run, state.stable);
    const before: DesiredState | undefined = state.stable && {
      stable: variantOf(state.stable),
      ...(state.canary ? { canary: { ...variantOf(state.canary), weight: state.canary.weight } } : {}),
    };
    return {
      final: before ?? final,
      applied,
      rendered,
      failure: { reason: outcome.reason, details: outcome.details, undone, outcome: state.stable ? "rolled-back" : "failed" },
    };
  }
  await applier.apply(rendered.routeStableOnly);
  if (state.canary) run.log.info(`canary ${state.canary.version} is now stable: removing the canary`);
  await pruneExcept(run, applied);
  return { final, applied, rendered };
}

/**
 * canary: the new model beside stable. The route keeps the canary out while its pods are replaced
 * and gives it its weight once they are ready; a failed rollout removes the canary.
 */
export async function startCanary(run: DeployRun): Promise<ModeOutcome> {
  const { applier, spec } = run;
  const stable = run.state.stable!;
  const next = newModel(run);
  const weight = canaryWeight(run, DEFAULT_CANARY_WEIGHT);
  if (spec.traffic === "replicas" && weight === 0) {
    throw new RecshipError("a replica-ratio canary at weight 0 would have no pods to check", {
      where: "canary-weight",
      fix: "give it a share (e.g. 10), or use traffic gateway-api / istio for a canary without traffic",
    });
  }
  const final: DesiredState = { stable: variantOf(stable), canary: { ...next, weight } };
  const rendered = render(run, final, (r) => [...r.canary, ...r.services, ...r.route, ...r.routeStableOnly]);
  const applied = [...rendered.services, ...rendered.canary, ...rendered.route];
  await applier.requireKinds(applied);
  await applier.apply(rendered.services);
  if (run.state.canary) await applier.apply(rendered.routeStableOnly);
  await applier.apply(rendered.canary);
  const outcome = await waitFor(run, "canary");
  if (!outcome.ok) {
    await applier.apply(rendered.routeStableOnly);
    await pruneExcept(run, [], isCanaryRef(run));
    const undone = `The canary was removed; stable ${stable.version} keeps all the traffic and was not touched`;
    return {
      final: { stable: variantOf(stable) },
      applied,
      rendered,
      failure: { reason: outcome.reason, details: outcome.details, undone, outcome: "rolled-back" },
    };
  }
  await applier.apply(rendered.route);
  await pruneExcept(run, applied, (ref) => !isStableGroupRef(run)(ref));
  return { final, applied, rendered };
}

/** set-weight: the canary's replica count (replica ratio) and the route change; a failed scale-up goes back to the old weight. */
export async function setWeight(run: DeployRun): Promise<ModeOutcome> {
  const { applier } = run;
  const canary = run.state.canary!;
  const final: DesiredState = { stable: variantOf(run.state.stable!), canary: { ...variantOf(canary), weight: canaryWeight(run) } };
  const rendered = render(run, final, (r) => [...r.canary, ...r.services, ...r.route]);
  const applied = [...rendered.services, ...rendered.canary, ...rendered.route];
  await applier.requireKinds(applied);
  await applier.apply([...rendered.services, ...rendered.canary]);
  const outcome = await waitFor(run, "canary");
  if (!outcome.ok) {
    const before = renderAll(run.spec, { ...final, canary: { ...variantOf(canary), weight: canary.weight } });
    await applier.apply(before.canary);
    return {
      final: { ...final, canary: { ...final.canary!, weight: canary.weight } },
      applied,
      rendered,
      failure: {
        reason: outcome.reason,
        details: outcome.details,
        undone: `The canary is back at ${canary.weight}%`,
        outcome: "rolled-back",
      },
    };
  }
  await applier.apply(rendered.route);
  return { final, applied, rendered };
}

/** rollback: the route sends stable everything, then the canary goes. */
export async function rollBack(run: DeployRun): Promise<ModeOutcome> {
  const stable = run.state.stable;
  if (!stable) throw new RecshipError("there is no stable deployment to roll back to", { where: `namespace ${run.namespace}` });
  const final: DesiredState = { stable: variantOf(stable) };
  const rendered = render(run, final, (r) => [...r.services, ...r.routeStableOnly]);
  const applied = [...rendered.services, ...rendered.routeStableOnly];
  await run.applier.requireKinds(applied);
  await run.applier.apply(applied);
  await pruneExcept(run, [], isCanaryRef(run));
  return { final, applied, rendered };
}
