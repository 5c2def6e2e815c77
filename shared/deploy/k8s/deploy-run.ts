import { RecshipError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { checkDeployRequest, type DeployMode } from "../../rollout/target.js";
import { Applier } from "./apply.js";
import type { KubeClient, KubeObject, KubeRef } from "./client.js";
import { checkImage, checkModel, checkWeight, resolveSpec } from "./inputs.js";
import { ANNOTATIONS, objectNames } from "./names.js";
import { managedRefs, renderAll, stableBaseReplicas, toYaml, type DesiredState, type Rendered } from "./render.js";
import { overriddenSettings, readRecordedSpec } from "./recorded-spec.js";
import { waitForRollout, type RolloutOutcome } from "./rollout.js";
import { deployStatus, readState } from "./state.js";
import type { KubernetesDeployOptions, KubernetesDeployResult, KubernetesSpec, KubernetesState, Variant, VariantState } from "./types.js";
import { validateManifests } from "./validate.js";
import type { MonitoringOutcome } from "../monitoring/files.js";

/** One deploy in progress: the cluster's state when it started, the settings it renders with, what it has done. */
export interface DeployRun {
  client: KubeClient;
  options: KubernetesDeployOptions;
  mode: DeployMode;
  namespace: string;
  dryRun: boolean;
  state: KubernetesState;
  names: ReturnType<typeof objectNames>;
  /** The live Deployments' recorded settings this mode needs (see recordedSettings). */
  recorded: Partial<Record<Variant, KubernetesSpec>>;
  /** The settings this step renders with (see settingsToRender). */
  spec: KubernetesSpec;
  applier: Applier;
  warnings: string[];
  log: Logger;
}

/** What a mode did: the state it leaves, the objects it applied, and the rollout that failed (then undone). */
export interface ModeOutcome {
  final: DesiredState;
  applied: KubeObject[];
  rendered: Rendered;
  failure?: { reason: string; details: string[]; undone: string; outcome: "rolled-back" | "failed" };
}

/** Everything but canary and direct renders from what the live Deployments recorded, not from the step's inputs. */
const REUSING_MODES: readonly DeployMode[] = ["set-weight", "promote", "rollback"];

export const variantOf = (s: VariantState) => ({ image: s.image, model: s.model });

/**
 * The recorded settings a mode needs, read and checked before anything changes: the canary's for
 * set-weight and promote, stable's for rollback (the canary's only when stable has none) and, to
 * put it back should its replacement fail, stable's for direct and promote.
 */
function recordedSettings(
  mode: DeployMode,
  live: Partial<Record<Variant, KubeObject>>,
  given: KubernetesSpec,
): Partial<Record<Variant, KubernetesSpec>> {
  const recordOf = (variant: Variant) => (live[variant] ? readRecordedSpec(live[variant], given) : undefined);
  const recorded: Partial<Record<Variant, KubernetesSpec | undefined>> = {};
  if (mode === "set-weight" || mode === "promote") recorded.canary = recordOf("canary");
  if (mode === "direct" || mode === "promote" || mode === "rollback") recorded.stable = recordOf("stable");
  if (mode === "rollback" && !recorded.stable) recorded.canary = recordOf("canary");
  return Object.fromEntries(Object.entries(recorded).filter(([, v]) => v)) as Partial<Record<Variant, KubernetesSpec>>;
}

/** A Deployment from before settings were recorded: this step's inputs stand in, with a warning. */
function legacyWarning(run: Pick<DeployRun, "namespace" | "names">, variant: Variant, what: string): string {
  return (
    `Deployment ${run.namespace}/${run.names.deployment(variant)} has no ${ANNOTATIONS.spec} annotation (it was deployed by a recship that did not record its settings): ` +
    `${what} from this step's inputs, as before, so a setting not given here (service account, GPU, fetch Secret, ports...) falls back to its default. ` +
    "Deploy it again with mode canary or direct to record its settings"
  );
}

/**
 * The settings this step renders with. canary, direct: the inputs. set-weight, promote: the
 * canary's record (a weight change must not touch its pods; promote makes stable exactly the
 * canary that was tested). rollback: stable's record (the canary's when stable has none). A
 * Deployment without a record: the inputs, with a warning. Given settings that differ from the
 * record are kept out, with a warning.
 */
function settingsToRender(run: Omit<DeployRun, "spec">, given: KubernetesSpec): KubernetesSpec {
  const { mode, recorded } = run;
  if (!REUSING_MODES.includes(mode)) return given;
  const from: Variant | undefined = recorded.stable && mode === "rollback" ? "stable" : recorded.canary ? "canary" : undefined;
  if (!from) {
    const [variant, what]: [Variant, string] =
      mode === "rollback"
        ? ["stable", "rendering the Services and the route"]
        : mode === "promote"
          ? ["canary", "rendering the new stable, the Services and the route"]
          : ["canary", "rendering it, the Services and the route"];
    run.warnings.push(legacyWarning(run, variant, what));
    return given;
  }
  const overridden = overriddenSettings(run.options, given, recorded[from]!);
  if (overridden.length) {
    run.warnings.push(
      `${mode} keeps the settings Deployment ${run.namespace}/${run.names.deployment(from)} was deployed with, not the ones given here (${overridden.join("; ")}). ` +
        "To change them deploy with mode canary (then promote) or direct",
    );
  }
  return recorded[from]!;
}

/** Reads the cluster, settles the settings, logs what runs, and checks the request against it: nothing has changed yet. */
export async function openRun(client: KubeClient, options: KubernetesDeployOptions, log: Logger): Promise<DeployRun> {
  const namespace = options.namespace ?? client.defaultNamespace;
  const given = resolveSpec(options, namespace);
  const dryRun = !!options.dryRun;
  const { state, live } = await readState(client, namespace, given.name);
  const base = {
    client,
    options,
    mode: options.mode,
    namespace,
    dryRun,
    state,
    names: objectNames(given.name),
    recorded: recordedSettings(options.mode, live, given),
    applier: new Applier(client, { force: !!options.forceConflicts, dryRun, log }),
    warnings: [],
    log,
  };
  const run: DeployRun = { ...base, spec: settingsToRender(base, given) };
  log.info(
    `${dryRun ? "dry run: " : ""}${run.mode} of ${run.spec.name} in namespace ${namespace} on ${client.server} (traffic split: ${run.spec.traffic})`,
  );
  if (state.stable) log.info(`stable: ${state.stable.version} (${state.stable.readyReplicas}/${state.stable.replicas} ready)`);
  if (state.canary)
    log.info(`canary: ${state.canary.version} at ${state.canary.weight}% (${state.canary.readyReplicas}/${state.canary.replicas} ready)`);
  if ((run.mode === "canary" || run.mode === "direct") && !options.model) {
    throw new RecshipError(`mode ${run.mode} needs the model to deploy`, { fix: "pass model-url, model-sha256 and model-version" });
  }
  // the same rules as every target: what each mode needs and what the current state allows
  checkDeployRequest(
    { mode: run.mode, bundle: options.model?.url, weight: options.canaryWeight },
    deployStatus(state, serviceUrl(run.spec)),
  );
  return run;
}

/** Waits for a Deployment's rollout (not in a dry run), within its progress deadline. */
export async function waitFor(run: DeployRun, variant: Variant, rendered: KubernetesSpec = run.spec): Promise<RolloutOutcome> {
  if (run.dryRun) return { ok: true };
  return run.log.group(`rollout of ${run.names.deployment(variant)}`, () =>
    waitForRollout(run.client, run.namespace, run.names.deployment(variant), {
      pollIntervalMs: run.options.pollIntervalMs ?? 2000,
      timeoutMs: run.options.rolloutTimeoutMs ?? (rendered.progressDeadlineSeconds + 60) * 1000,
      log: run.log,
    }),
  );
}

/** The image and model this step ships (canary, direct), checked (openRun made sure a model was given). */
export function newModel(run: DeployRun): { image: string; model: VariantState["model"] } {
  return { image: checkImage(run.options.image ?? "", "image"), model: checkModel(run.options.model!, "model") };
}

/** The canary's weight from the options (else `fallback`), which a replica-ratio split must be able to give. */
export function canaryWeight(run: DeployRun, fallback?: number): number {
  const w = run.options.canaryWeight ?? fallback;
  if (w === undefined)
    throw new RecshipError(`mode ${run.mode} needs the canary's weight`, { where: "canary-weight", fix: "a percentage from 0 to 100" });
  checkWeight(w, "canary-weight");
  if (run.spec.traffic === "replicas" && w === 100) {
    throw new RecshipError("a replica-ratio split cannot send the canary all the traffic (stable keeps its pods)", {
      where: "canary-weight",
      fix: "promote the canary instead, or use traffic gateway-api / istio",
    });
  }
  return w;
}

/** Renders the desired state and validates the objects `check` picks against the API schemas. */
export function render(run: DeployRun, desired: DesiredState, check: (r: Rendered) => KubeObject[]): Rendered {
  const r = renderAll(run.spec, desired);
  validateManifests(check(r));
  return r;
}

/** Deletes the managed objects (those `only` picks) that are not in `keep`. */
export async function pruneExcept(run: DeployRun, keep: KubeObject[], only?: (ref: KubeRef) => boolean): Promise<void> {
  await run.applier.prune(
    managedRefs(run.spec).filter((ref) => !only || only(ref)),
    keep,
    run.warnings,
  );
}

/** Puts the previous stable model back, with the settings it was deployed with, after its replacement failed to roll out. */
export async function restoreStable(run: DeployRun, previous: VariantState | undefined): Promise<string> {
  if (!previous) return "There was no earlier stable to go back to: the objects are left for inspection";
  if (!run.recorded.stable) run.warnings.push(legacyWarning(run, "stable", "putting it back"));
  const settings = run.recorded.stable ?? run.spec;
  const back = renderAll(settings, { stable: variantOf(previous) });
  await run.applier.apply(back.stable.filter((o) => o.kind === "Deployment"));
  const outcome = await waitFor(run, "stable", settings);
  return outcome.ok
    ? `Stable is back on ${previous.version}`
    : `Putting stable back on ${previous.version} did not complete either: ${outcome.reason}`;
}

/** The Service's in-cluster URL. */
export function serviceUrl(spec: KubernetesSpec): string {
  return `http://${objectNames(spec.name).service}.${spec.namespace}.svc.cluster.local${spec.servicePort === 80 ? "" : `:${spec.servicePort}`}`;
}

async function externalUrl(client: KubeClient, namespace: string, name: string, port: number): Promise<{ externalUrl?: string }> {
  const svc = await client.get({ apiVersion: "v1", kind: "Service", namespace, name });
  const ingress = (svc?.status as { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } } | undefined)?.loadBalancer
    ?.ingress?.[0];
  const host = ingress?.hostname ?? ingress?.ip;
  return host ? { externalUrl: `http://${host}${port === 80 ? "" : `:${port}`}` } : {};
}

/** Logs the manifests (and, in a dry run, the diff), warns when a replica ratio cannot give the weight asked for. */
async function logOutcome(run: DeployRun, outcome: ModeOutcome, manifests: string, diff: string): Promise<void> {
  const { log, spec } = run;
  await log.group(run.dryRun ? "manifests (dry run)" : "manifests", async () => log.info(manifests));
  if (run.dryRun) await log.group("diff against the live objects", async () => log.info(diff || "no changes"));
  const { final, rendered } = outcome;
  if (spec.traffic === "replicas" && final.canary && Math.abs(rendered.effectiveWeight - final.canary.weight) >= 5) {
    run.warnings.push(
      `with ${stableBaseReplicas(spec)} stable replicas the replica ratio gives the canary ${rendered.effectiveWeight}% of the traffic, not ${final.canary.weight}%: ` +
        "raise replicas or use traffic gateway-api / istio for exact weights",
    );
  }
  for (const w of run.warnings) log.warn(w);
}

/** The step's result; a failed (and undone) rollout becomes a DeployFailure carrying it. */
export async function finishRun(run: DeployRun, outcome: ModeOutcome, monitoring?: MonitoringOutcome): Promise<KubernetesDeployResult> {
  const { spec, dryRun, namespace } = run;
  const { final, failure } = outcome;
  const manifests = toYaml(outcome.applied);
  const diff = run.applier.diffs.join("\n");
  await logOutcome(run, outcome, manifests, diff);
  const result: KubernetesDeployResult = {
    target: "kubernetes",
    mode: run.mode,
    dryRun,
    outcome: dryRun ? "dry-run" : failure ? failure.outcome : "deployed",
    namespace,
    name: spec.name,
    traffic: spec.traffic,
    serviceUrl: serviceUrl(spec),
    ...(spec.serviceType === "LoadBalancer" && !dryRun
      ? await externalUrl(run.client, namespace, run.names.service, spec.servicePort)
      : {}),
    stableVersion: final.stable.model.version,
    ...(final.canary ? { canaryVersion: final.canary.model.version } : {}),
    canaryWeight: final.canary ? (failure ? final.canary.weight : outcome.rendered.effectiveWeight) : 0,
    objects: run.applier.changes,
    manifests,
    ...(dryRun ? { diff } : {}),
    ...(failure ? { failure: { reason: failure.reason, details: failure.details } } : {}),
    ...(monitoring ? { monitoring } : {}),
    warnings: run.warnings,
  };
  if (failure) {
    for (const d of failure.details) run.log.warn(d);
    throw new DeployFailure(
      `${run.mode} failed and was undone: ${failure.reason}. ${failure.undone}.\n${failure.details.map((d) => `  - ${d}`).join("\n")}`,
      { fix: "see why above (pod status and events); fix the image or model and deploy again" },
      result,
    );
  }
  return result;
}

/** A rollout failed; the result says what was undone and why. */
export class DeployFailure extends RecshipError {
  constructor(
    message: string,
    options: { where?: string; fix?: string },
    readonly result: KubernetesDeployResult,
  ) {
    super(message, options);
    this.name = "DeployFailure";
  }
}
