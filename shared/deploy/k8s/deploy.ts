import { tmpdir } from "node:os";
import { RecshipError } from "../../errors.js";
import type { Logger } from "../../log.js";
import { Applier } from "./apply.js";
import type { KubeClient, KubeObject, KubeRef } from "./client.js";
import { clientNodeKube, loadKubeConfig } from "./client-node.js";
import { checkImage, checkModel, checkWeight, resolveSpec } from "./inputs.js";
import { decodeKubeconfig, kubeconfigSecrets, redact, writeKubeconfig, type KubeconfigFile } from "./kubeconfig.js";
import { ANNOTATIONS, objectNames } from "./names.js";
import { managedRefs, renderAll, toYaml, type DesiredState, type Rendered } from "./render.js";
import { waitForRollout, type RolloutOutcome } from "./rollout.js";
import { overriddenSettings, readRecordedSpec } from "./recorded-spec.js";
import { deployStatus, readState } from "./state.js";
import { checkDeployRequest, DEFAULT_CANARY_WEIGHT, type DeployMode, type DeployStatus } from "../../rollout/target.js";
import type { KubernetesDeployOptions, KubernetesDeployResult, KubernetesSpec, ObjectChange, Variant, VariantState } from "./types.js";
import { validateManifests } from "./validate.js";

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

function redactingLogger(log: Logger, secrets: readonly string[]): Logger {
  return {
    info: (m) => log.info(redact(m, secrets)),
    warn: (m, where) => log.warn(redact(m, secrets), where),
    group: (title, fn) => log.group(redact(title, secrets), fn),
  };
}

function redactError(error: unknown, secrets: readonly string[]): unknown {
  if (secrets.length && error instanceof Error) {
    error.message = redact(error.message, secrets);
    if (error.stack) error.stack = redact(error.stack, secrets);
  }
  return error;
}

/** The options that say how to reach the cluster. */
export type ConnectionOptions = Pick<KubernetesDeployOptions, "kubeconfig" | "kubeconfigPath" | "context" | "tempDir" | "client" | "log">;

/**
 * Runs `fn` with a client for the cluster. A kubeconfig given as text lives in a 0600 file
 * for the call only; it and its credentials are redacted from every log line and error.
 */
export async function withKubeClient<T>(options: ConnectionOptions, fn: (client: KubeClient, log: Logger) => Promise<T>): Promise<T> {
  const text = options.kubeconfig ? decodeKubeconfig(options.kubeconfig, "the kubeconfig input") : undefined;
  const secrets = options.kubeconfig ? [...new Set([...kubeconfigSecrets(options.kubeconfig), ...kubeconfigSecrets(text!)])] : [];
  const log = secrets.length ? redactingLogger(options.log, secrets) : options.log;
  let file: KubeconfigFile | undefined;
  try {
    let client = options.client;
    if (!client) {
      let path = options.kubeconfigPath;
      if (text) {
        file = await writeKubeconfig(text, options.tempDir ?? tmpdir());
        path = file.path;
      }
      if (!path) throw new RecshipError("no kubeconfig was given", { fix: "pass the kubeconfig (a secret) or a kubeconfig file" });
      client = clientNodeKube(loadKubeConfig(path, text ? "the kubeconfig input" : path, options.context));
    }
    return await fn(client, log);
  } catch (error) {
    throw redactError(error, secrets);
  } finally {
    await file?.remove();
  }
}

/**
 * Deploys to Kubernetes: renders the manifests, checks them against the API schemas,
 * server-side applies them as field manager `recship`, waits for the rollouts and, when one
 * fails, undoes it and says why (DeployFailure carries the result).
 */
export async function deployKubernetes(options: KubernetesDeployOptions): Promise<KubernetesDeployResult> {
  return withKubeClient(options, (client, log) => runDeploy(client, options, log));
}

/** Deletes every object recship manages for the app (labelled app.kubernetes.io/managed-by=recship). */
export async function teardownKubernetes(options: ConnectionOptions & { name?: string; namespace?: string }): Promise<ObjectChange[]> {
  return withKubeClient(options, async (client, log) => {
    const spec = resolveSpec({ mode: "rollback", log, name: options.name }, options.namespace ?? client.defaultNamespace);
    const applier = new Applier(client, { force: false, dryRun: false, log });
    const warnings: string[] = [];
    await applier.prune(managedRefs(spec), [], warnings);
    for (const w of warnings) log.warn(w);
    return applier.changes;
  });
}

/** What runs now, as the target-neutral status (the Service's URL from the port stable, else the canary, recorded). */
export async function kubernetesStatus(
  options: ConnectionOptions & { name?: string; namespace?: string; servicePort?: number },
): Promise<DeployStatus> {
  return withKubeClient(options, async (client, log) => {
    const given = resolveSpec(
      { mode: "rollback", log, name: options.name, ...(options.servicePort !== undefined ? { servicePort: options.servicePort } : {}) },
      options.namespace ?? client.defaultNamespace,
    );
    const { state, live } = await readState(client, given.namespace, given.name);
    const recorded = (["stable", "canary"] as const).map((v) => (live[v] ? readRecordedSpec(live[v], given) : undefined)).find(Boolean);
    return deployStatus(state, serviceUrl(recorded ?? given));
  });
}

const variantOf = (s: VariantState) => ({ image: s.image, model: s.model });

/** Everything but canary and direct renders from what the live Deployments recorded, not from the step's inputs. */
const REUSING_MODES: readonly DeployMode[] = ["set-weight", "promote", "rollback"];

async function runDeploy(client: KubeClient, options: KubernetesDeployOptions, log: Logger): Promise<KubernetesDeployResult> {
  const namespace = options.namespace ?? client.defaultNamespace;
  /** The settings from this step's inputs (defaults filled in): what canary and direct render with. */
  const given = resolveSpec(options, namespace);
  const dryRun = !!options.dryRun;
  const mode = options.mode;
  const warnings: string[] = [];
  const applier = new Applier(client, { force: !!options.forceConflicts, dryRun, log });
  const { state, live } = await readState(client, namespace, given.name);
  const names = objectNames(given.name);

  // The live Deployments' recorded settings this mode needs, read and checked before anything
  // changes: the canary's for set-weight and promote, stable's for rollback (the canary's only
  // when stable has none) and, to put it back should its replacement fail, for direct and promote.
  const recordOf = (variant: Variant) => (live[variant] ? readRecordedSpec(live[variant], given) : undefined);
  const recorded: Partial<Record<Variant, KubernetesSpec | undefined>> = {};
  if (mode === "set-weight" || mode === "promote") recorded.canary = recordOf("canary");
  if (mode === "direct" || mode === "promote" || mode === "rollback") recorded.stable = recordOf("stable");
  if (mode === "rollback" && !recorded.stable) recorded.canary = recordOf("canary");
  const legacyWarning = (variant: Variant, what: string) =>
    `Deployment ${namespace}/${names.deployment(variant)} has no ${ANNOTATIONS.spec} annotation (it was deployed by a recship that did not record its settings): ` +
    `${what} from this step's inputs, as before, so a setting not given here (service account, GPU, fetch Secret, ports...) falls back to its default. ` +
    "Deploy it again with mode canary or direct to record its settings";
  /** The recorded settings used for this step; explicitly given settings that differ are kept out, with a warning. */
  const useRecorded = (variant: Variant, spec: KubernetesSpec): KubernetesSpec => {
    const overridden = overriddenSettings(options, given, spec);
    if (overridden.length) {
      warnings.push(
        `${mode} keeps the settings Deployment ${namespace}/${names.deployment(variant)} was deployed with, not the ones given here (${overridden.join("; ")}). ` +
          "To change them deploy with mode canary (then promote) or direct",
      );
    }
    return spec;
  };

  /**
   * The settings this step renders with. canary, direct: the inputs. set-weight, promote: the
   * canary's record (a weight change must not touch its pods; promote makes stable exactly the
   * canary that was tested). rollback: stable's record (the canary's when stable has none).
   * A Deployment without a record: the inputs, as before records existed, with a warning.
   */
  let spec = given;
  if (REUSING_MODES.includes(mode) && state.canary) {
    const from: Variant | undefined = recorded.stable && mode === "rollback" ? "stable" : recorded.canary ? "canary" : undefined;
    if (from) spec = useRecorded(from, recorded[from]!);
    else if (mode === "rollback") warnings.push(legacyWarning("stable", "rendering the Services and the route"));
    else if (mode === "promote") warnings.push(legacyWarning("canary", "rendering the new stable, the Services and the route"));
    else warnings.push(legacyWarning("canary", "rendering it, the Services and the route"));
  }
  log.info(
    `${dryRun ? "dry run: " : ""}${mode} of ${spec.name} in namespace ${namespace} on ${client.server} (traffic split: ${spec.traffic})`,
  );
  if (state.stable) log.info(`stable: ${state.stable.version} (${state.stable.readyReplicas}/${state.stable.replicas} ready)`);
  if (state.canary)
    log.info(`canary: ${state.canary.version} at ${state.canary.weight}% (${state.canary.readyReplicas}/${state.canary.replicas} ready)`);
  if ((mode === "canary" || mode === "direct") && !options.model) {
    throw new RecshipError(`mode ${mode} needs the model to deploy`, { fix: "pass model-url, model-sha256 and model-version" });
  }
  // the same rules as every target: what each mode needs and what the current state allows
  checkDeployRequest({ mode, bundle: options.model?.url, weight: options.canaryWeight }, deployStatus(state, serviceUrl(spec)));

  const wait = async (variant: Variant, rendered: KubernetesSpec = spec): Promise<RolloutOutcome> => {
    if (dryRun) return { ok: true };
    return log.group(`rollout of ${names.deployment(variant)}`, () =>
      waitForRollout(client, namespace, names.deployment(variant), {
        pollIntervalMs: options.pollIntervalMs ?? 2000,
        timeoutMs: options.rolloutTimeoutMs ?? (rendered.progressDeadlineSeconds + 60) * 1000,
        log,
      }),
    );
  };
  const newModel = () => {
    if (!options.model)
      throw new RecshipError(`mode ${mode} needs the model to deploy`, { fix: "pass model-url, model-sha256 and model-version" });
    return { image: checkImage(options.image ?? "", "image"), model: checkModel(options.model, "model") };
  };
  const weightInput = (fallback?: number) => {
    const w = options.canaryWeight ?? fallback;
    if (w === undefined)
      throw new RecshipError(`mode ${mode} needs the canary's weight`, { where: "canary-weight", fix: "a percentage from 0 to 100" });
    checkWeight(w, "canary-weight");
    if (spec.traffic === "replicas" && w === 100) {
      throw new RecshipError("a replica-ratio split cannot send the canary all the traffic (stable keeps its pods)", {
        where: "canary-weight",
        fix: "promote the canary instead, or use traffic gateway-api / istio",
      });
    }
    return w;
  };
  const render = (desired: DesiredState, check: (r: Rendered) => KubeObject[]): Rendered => {
    const r = renderAll(spec, desired);
    validateManifests(check(r));
    return r;
  };
  const pruneExcept = async (keep: KubeObject[], only?: (ref: KubeRef) => boolean) =>
    applier.prune(
      managedRefs(spec).filter((ref) => !only || only(ref)),
      keep,
      warnings,
    );
  const isCanaryRef = (ref: KubeRef) => ref.name === names.deployment("canary") && (ref.kind === "Deployment" || ref.kind === "Service");
  const isStableGroupRef = (ref: KubeRef) =>
    (ref.kind === "Deployment" && ref.name === names.deployment("stable")) ||
    ref.kind === "HorizontalPodAutoscaler" ||
    ref.kind === "PodDisruptionBudget";

  let final: DesiredState;
  let applied: KubeObject[];
  let rendered: Rendered;
  let failure: { reason: string; details: string[]; undone: string; outcome: "rolled-back" | "failed" } | undefined;

  /** Puts the previous stable model back, with the settings it was deployed with, after its replacement failed to roll out. */
  const restoreStable = async (previous: VariantState | undefined): Promise<string> => {
    if (!previous) return "There was no earlier stable to go back to: the objects are left for inspection";
    if (!recorded.stable) warnings.push(legacyWarning("stable", "putting it back"));
    const settings = recorded.stable ?? spec;
    const back = renderAll(settings, { stable: variantOf(previous) });
    await applier.apply(back.stable.filter((o) => o.kind === "Deployment"));
    const outcome = await wait("stable", settings);
    return outcome.ok
      ? `Stable is back on ${previous.version}`
      : `Putting stable back on ${previous.version} did not complete either: ${outcome.reason}`;
  };

  switch (mode) {
    case "direct":
    case "promote": {
      let next: { image: string; model: VariantState["model"] };
      if (mode === "direct") next = newModel();
      else {
        if (!state.canary)
          throw new RecshipError("there is no canary to promote", {
            where: `namespace ${namespace}`,
            fix: "deploy one with mode canary first",
          });
        if (options.model?.version && options.model.version !== state.canary.version) {
          throw new RecshipError(
            `promote promotes the running canary (${state.canary.version}), but model version ${options.model.version} was given`,
            {
              fix: "drop the model inputs, or deploy that model as a canary first",
            },
          );
        }
        next = variantOf(state.canary);
      }
      final = { stable: next };
      rendered = render(final, (r) => [...r.stable, ...r.services, ...r.routeStableOnly]);
      applied = [...rendered.services, ...rendered.stable, ...rendered.routeStableOnly];
      await applier.requireKinds(applied);
      await applier.apply([...rendered.services, ...rendered.stable]);
      const outcome = await wait("stable");
      if (!outcome.ok) {
        const undone = await restoreStable(state.stable);
        failure = { reason: outcome.reason, details: outcome.details, undone, outcome: state.stable ? "rolled-back" : "failed" };
        final = state.stable
          ? {
              stable: variantOf(state.stable),
              ...(state.canary ? { canary: { ...variantOf(state.canary), weight: state.canary.weight } } : {}),
            }
          : final;
        break;
      }
      await applier.apply(rendered.routeStableOnly);
      if (state.canary) log.info(`canary ${state.canary.version} is now stable: removing the canary`);
      await pruneExcept(applied);
      break;
    }
    case "canary": {
      if (!state.stable) {
        throw new RecshipError(`there is no stable ${names.deployment("stable")} to run a canary beside`, {
          where: `namespace ${namespace}`,
          fix: "deploy the first model with mode direct",
        });
      }
      const next = newModel();
      const weight = weightInput(DEFAULT_CANARY_WEIGHT);
      if (spec.traffic === "replicas" && weight === 0) {
        throw new RecshipError("a replica-ratio canary at weight 0 would have no pods to check", {
          where: "canary-weight",
          fix: "give it a share (e.g. 10), or use traffic gateway-api / istio for a canary without traffic",
        });
      }
      final = { stable: variantOf(state.stable), canary: { ...next, weight } };
      rendered = render(final, (r) => [...r.canary, ...r.services, ...r.route, ...r.routeStableOnly]);
      applied = [...rendered.services, ...rendered.canary, ...rendered.route];
      await applier.requireKinds(applied);
      await applier.apply(rendered.services);
      // no traffic to the canary while it is replaced
      if (state.canary) await applier.apply(rendered.routeStableOnly);
      await applier.apply(rendered.canary);
      const outcome = await wait("canary");
      if (!outcome.ok) {
        await applier.apply(rendered.routeStableOnly);
        await pruneExcept([], isCanaryRef);
        failure = {
          reason: outcome.reason,
          details: outcome.details,
          undone: `The canary was removed; stable ${state.stable.version} keeps all the traffic and was not touched`,
          outcome: "rolled-back",
        };
        final = { stable: variantOf(state.stable) };
        break;
      }
      await applier.apply(rendered.route);
      await pruneExcept(applied, (ref) => !isStableGroupRef(ref));
      break;
    }
    case "set-weight": {
      if (!state.canary || !state.stable)
        throw new RecshipError("there is no canary to set the weight of", {
          where: `namespace ${namespace}`,
          fix: "deploy one with mode canary",
        });
      const weight = weightInput();
      final = { stable: variantOf(state.stable), canary: { ...variantOf(state.canary), weight } };
      rendered = render(final, (r) => [...r.canary, ...r.services, ...r.route]);
      applied = [...rendered.services, ...rendered.canary, ...rendered.route];
      await applier.requireKinds(applied);
      await applier.apply([...rendered.services, ...rendered.canary]);
      const outcome = await wait("canary");
      if (!outcome.ok) {
        const before = renderAll(spec, { ...final, canary: { ...variantOf(state.canary), weight: state.canary.weight } });
        await applier.apply(before.canary);
        failure = {
          reason: outcome.reason,
          details: outcome.details,
          undone: `The canary is back at ${state.canary.weight}%`,
          outcome: "rolled-back",
        };
        final = { ...final, canary: { ...final.canary!, weight: state.canary.weight } };
        break;
      }
      await applier.apply(rendered.route);
      break;
    }
    case "rollback": {
      if (!state.stable) throw new RecshipError("there is no stable deployment to roll back to", { where: `namespace ${namespace}` });
      final = { stable: variantOf(state.stable) };
      rendered = render(final, (r) => [...r.services, ...r.routeStableOnly]);
      applied = [...rendered.services, ...rendered.routeStableOnly];
      await applier.requireKinds(applied);
      await applier.apply(applied);
      await pruneExcept([], isCanaryRef);
      break;
    }
    default:
      throw new RecshipError(`unknown mode "${String(mode)}"`, { fix: "canary, promote, rollback, direct or set-weight" });
  }

  const manifests = toYaml(applied);
  await log.group(dryRun ? "manifests (dry run)" : "manifests", async () => log.info(manifests));
  const diff = applier.diffs.join("\n");
  if (dryRun) await log.group("diff against the live objects", async () => log.info(diff || "no changes"));
  if (spec.traffic === "replicas" && final.canary && Math.abs(rendered.effectiveWeight - final.canary.weight) >= 5) {
    warnings.push(
      `with ${stableBase(spec)} stable replicas the replica ratio gives the canary ${rendered.effectiveWeight}% of the traffic, not ${final.canary.weight}%: ` +
        "raise replicas or use traffic gateway-api / istio for exact weights",
    );
  }
  for (const w of warnings) log.warn(w);

  const result: KubernetesDeployResult = {
    target: "kubernetes",
    mode,
    dryRun,
    outcome: dryRun ? "dry-run" : failure ? failure.outcome : "deployed",
    namespace,
    name: spec.name,
    traffic: spec.traffic,
    serviceUrl: serviceUrl(spec),
    ...(spec.serviceType === "LoadBalancer" && !dryRun ? await externalUrl(client, namespace, names.service, spec.servicePort) : {}),
    stableVersion: final.stable.model.version,
    ...(final.canary ? { canaryVersion: final.canary.model.version } : {}),
    canaryWeight: final.canary ? (failure ? final.canary.weight : rendered.effectiveWeight) : 0,
    objects: applier.changes,
    manifests,
    ...(dryRun ? { diff } : {}),
    ...(failure ? { failure: { reason: failure.reason, details: failure.details } } : {}),
    warnings,
  };
  if (failure) {
    for (const d of failure.details) log.warn(d);
    throw new DeployFailure(
      `${mode} failed and was undone: ${failure.reason}. ${failure.undone}.\n${failure.details.map((d) => `  - ${d}`).join("\n")}`,
      { fix: "see why above (pod status and events); fix the image or model and deploy again" },
      result,
    );
  }
  return result;
}

/** The Service's in-cluster URL. */
export function serviceUrl(spec: KubernetesSpec): string {
  return `http://${objectNames(spec.name).service}.${spec.namespace}.svc.cluster.local${spec.servicePort === 80 ? "" : `:${spec.servicePort}`}`;
}

function stableBase(spec: KubernetesSpec): number {
  return spec.autoscaling ? spec.autoscaling.minReplicas : spec.replicas;
}

async function externalUrl(client: KubeClient, namespace: string, name: string, port: number): Promise<{ externalUrl?: string }> {
  const svc = await client.get({ apiVersion: "v1", kind: "Service", namespace, name });
  const ingress = (svc?.status as { loadBalancer?: { ingress?: { ip?: string; hostname?: string }[] } } | undefined)?.loadBalancer
    ?.ingress?.[0];
  const host = ingress?.hostname ?? ingress?.ip;
  return host ? { externalUrl: `http://${host}${port === 80 ? "" : `:${port}`}` } : {};
}
