import { randomUUID } from "node:crypto";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { Service } from "kubernetes-models/v1/Service";
import { applyDefaults, apiVersionOf, type ResourceType } from "./resources.js";
import {
  deepEqual,
  fromFieldsV1,
  isObject,
  serverSideApply,
  takeChangedFields,
  toFieldsV1,
  type Json,
  type JsonObject,
  type ManagedFieldsEntry,
} from "./ssa.js";

/** A Kubernetes Status answer. */
export interface StatusError {
  code: number;
  reason: string;
  message: string;
  causes?: { type: string; message: string; field: string }[];
}

export function status(e: StatusError): JsonObject {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: e.message,
    reason: e.reason,
    ...(e.causes ? { details: { causes: e.causes } } : {}),
    code: e.code,
  };
}

export class StatusFailure extends Error {
  constructor(readonly status: StatusError) {
    super(status.message);
  }
}

const meta = (o: JsonObject) => o.metadata as JsonObject;

/** The API server's schema validation of applied built-in objects (admission's 422), from the OpenAPI models. */
const SCHEMAS: Record<string, new (data: never) => { validate(): void }> = {
  Deployment: Deployment as never,
  Service: Service as never,
  HorizontalPodAutoscaler: HorizontalPodAutoscaler as never,
  PodDisruptionBudget: PodDisruptionBudget as never,
};
/** Everything but metadata and status: what metadata.generation counts. */
const specPart = (o: JsonObject) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== "metadata" && k !== "status"));

/** The emulator's objects: resourceVersion, uid, generation, managedFields and cascading deletion. */
export class KubeStore {
  private readonly objects = new Map<string, JsonObject>();
  private resourceVersion = 1000;
  private nextIp = 10;
  /** Every persisted change by an API client (apply, delete, update), for tests to inspect. */
  readonly mutations: { verb: string; kind: string; namespace: string; name: string; manager?: string }[] = [];

  constructor(readonly types: ResourceType[]) {}

  private key(t: ResourceType, namespace: string, name: string): string {
    return `${t.group}/${t.plural}/${t.namespaced ? namespace : ""}/${name}`;
  }

  typeOf(apiVersion: string, kind: string): ResourceType | undefined {
    return this.types.find((t) => apiVersionOf(t) === apiVersion && t.kind === kind);
  }

  get(t: ResourceType, namespace: string, name: string): JsonObject | undefined {
    const o = this.objects.get(this.key(t, namespace, name));
    return o ? structuredClone(o) : undefined;
  }

  list(t: ResourceType, namespace?: string): JsonObject[] {
    const prefix = `${t.group}/${t.plural}/${t.namespaced && namespace ? namespace : ""}/`;
    return [...this.objects.entries()]
      .filter(([k]) => (t.namespaced && namespace ? k.startsWith(prefix) : k.startsWith(`${t.group}/${t.plural}/`)))
      .map(([, o]) => structuredClone(o));
  }

  /** Stores an object as a controller would (no managedFields change); bumps resourceVersion when it changed. */
  put(t: ResourceType, object: JsonObject): JsonObject {
    const m = meta(object);
    const k = this.key(t, String(m.namespace ?? ""), String(m.name));
    const prior = this.objects.get(k);
    if (prior && deepEqual(prior, object)) return structuredClone(prior);
    const next = structuredClone(object);
    const nm = meta(next);
    if (!prior) {
      nm.uid ??= randomUUID();
      nm.creationTimestamp ??= new Date().toISOString();
      if (t.generation) nm.generation = 1;
    } else if (t.generation && !deepEqual(specPart(prior), specPart(next))) {
      nm.generation = Number(meta(prior).generation ?? 1) + 1;
    }
    nm.resourceVersion = String(++this.resourceVersion);
    this.objects.set(k, next);
    return structuredClone(next);
  }

  /** Deletes an object and, like the garbage collector, everything it owns. */
  delete(t: ResourceType, namespace: string, name: string): boolean {
    const k = this.key(t, namespace, name);
    const o = this.objects.get(k);
    if (!o) return false;
    this.objects.delete(k);
    const uid = meta(o).uid;
    for (const [ok, other] of [...this.objects]) {
      const owners = (meta(other).ownerReferences as JsonObject[] | undefined) ?? [];
      if (owners.some((r) => r.uid === uid)) {
        const ot = this.types.find((x) => x.kind === other.kind && apiVersionOf(x) === other.apiVersion);
        if (ot) this.delete(ot, String(meta(other).namespace ?? ""), String(meta(other).name));
        else this.objects.delete(ok);
      }
    }
    return true;
  }

  allocateIp = (): string => `10.96.0.${this.nextIp++}`;

  private managedOf(o: JsonObject | undefined): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const e of ((o && (meta(o).managedFields as unknown as ManagedFieldsEntry[])) ?? []) as ManagedFieldsEntry[])
      out.set(e.manager, fromFieldsV1(e.fieldsV1));
    return out;
  }

  private withManaged(
    o: JsonObject,
    previous: ManagedFieldsEntry[],
    sets: Map<string, Set<string>>,
    actor: string,
    operation: "Apply" | "Update",
    apiVersion: string,
  ): JsonObject {
    const entries: ManagedFieldsEntry[] = [];
    for (const [manager, set] of sets) {
      const before = previous.find((e) => e.manager === manager);
      const fieldsV1 = toFieldsV1(set);
      const unchanged = before && deepEqual(before.fieldsV1, fieldsV1);
      entries.push({
        manager,
        operation: manager === actor ? operation : (before?.operation ?? "Update"),
        apiVersion: before?.apiVersion ?? apiVersion,
        time: unchanged && manager !== actor ? before.time : unchanged ? before.time : new Date().toISOString(),
        fieldsType: "FieldsV1",
        fieldsV1,
      });
    }
    meta(o).managedFields = entries as unknown as Json;
    return o;
  }

  /**
   * PATCH application/apply-patch+yaml. A no-op apply stores nothing and answers the live
   * object unchanged (same resourceVersion), like the API server.
   */
  apply(t: ResourceType, namespace: string, name: string, body: JsonObject, manager: string, force: boolean, dryRun: boolean): JsonObject {
    if (body.apiVersion !== apiVersionOf(t) || body.kind !== t.kind) {
      throw new StatusFailure({
        code: 400,
        reason: "BadRequest",
        message: `the body's ${body.apiVersion}/${body.kind} does not match the URL's ${apiVersionOf(t)}/${t.kind}`,
      });
    }
    const bm = isObject(body.metadata) ? body.metadata : {};
    if (bm.name !== name)
      throw new StatusFailure({
        code: 400,
        reason: "BadRequest",
        message: `the name of the object (${String(bm.name)}) does not match the name on the URL (${name})`,
      });
    if (t.namespaced && bm.namespace !== undefined && bm.namespace !== namespace) {
      throw new StatusFailure({
        code: 400,
        reason: "BadRequest",
        message: "the namespace of the provided object does not match the namespace sent on the request",
      });
    }
    if (t.namespaced && !this.get(this.typeOf("v1", "Namespace")!, "", namespace)) {
      throw new StatusFailure({ code: 404, reason: "NotFound", message: `namespaces "${namespace}" not found` });
    }
    const Schema = SCHEMAS[t.kind];
    if (Schema) {
      try {
        new Schema(body as never).validate();
      } catch (error) {
        throw new StatusFailure({ code: 422, reason: "Invalid", message: `${t.kind} "${name}" is invalid: ${(error as Error).message}` });
      }
    }
    const live = this.get(t, namespace, name);
    const result = serverSideApply(live, body, manager, force, this.managedOf(live));
    if (result.conflicts.length) {
      const byManager = [...new Set(result.conflicts.map((c) => c.manager))];
      throw new StatusFailure({
        code: 409,
        reason: "Conflict",
        message: `Apply failed with ${result.conflicts.length} conflict${result.conflicts.length > 1 ? "s" : ""}: ${byManager
          .map(
            (m) =>
              `conflict with "${m}": ${result.conflicts
                .filter((c) => c.manager === m)
                .map((c) => c.field)
                .join(", ")}`,
          )
          .join("; ")}`,
        causes: result.conflicts.map((c) => ({ type: "FieldManagerConflict", message: `conflict with "${c.manager}"`, field: c.field })),
      });
    }
    const next: JsonObject = { apiVersion: apiVersionOf(t), kind: t.kind, ...result.object };
    next.metadata = { ...(isObject(result.object.metadata) ? result.object.metadata : {}), name, ...(t.namespaced ? { namespace } : {}) };
    applyDefaults(t.kind, next, this.allocateIp);
    if (t.kind === "Deployment" && live && !deepEqual((live.spec as JsonObject)?.selector, (next.spec as JsonObject)?.selector)) {
      throw new StatusFailure({
        code: 422,
        reason: "Invalid",
        message: `Deployment.apps "${name}" is invalid: spec.selector: Invalid value: field is immutable`,
        causes: [{ type: "FieldValueInvalid", message: "field is immutable", field: "spec.selector" }],
      });
    }
    this.withManaged(
      next,
      ((live && meta(live).managedFields) ?? []) as unknown as ManagedFieldsEntry[],
      result.managed,
      manager,
      "Apply",
      apiVersionOf(t),
    );
    if (live && deepEqual(live, next)) return live;
    if (dryRun) return next;
    const stored = this.put(t, next);
    this.mutations.push({ verb: live ? "apply-update" : "apply-create", kind: t.kind, namespace, name, manager });
    return stored;
  }

  /** A write by another tool (kubectl edit, a controller's Update): the fields it changes become its own. */
  update(t: ResourceType, namespace: string, name: string, mutate: (o: JsonObject) => void, manager: string): JsonObject {
    const live = this.get(t, namespace, name);
    if (!live) throw new StatusFailure({ code: 404, reason: "NotFound", message: `${t.plural} "${name}" not found` });
    const next = structuredClone(live);
    mutate(next);
    applyDefaults(t.kind, next, this.allocateIp);
    const sets = takeChangedFields(live, next, manager, this.managedOf(live));
    this.withManaged(next, (meta(live).managedFields ?? []) as unknown as ManagedFieldsEntry[], sets, manager, "Update", apiVersionOf(t));
    const stored = this.put(t, next);
    this.mutations.push({ verb: "update", kind: t.kind, namespace, name, manager });
    return stored;
  }

  /** A DELETE from an API client. */
  remove(t: ResourceType, namespace: string, name: string, dryRun: boolean): boolean {
    if (!this.get(t, namespace, name)) return false;
    if (dryRun) return true;
    this.delete(t, namespace, name);
    this.mutations.push({ verb: "delete", kind: t.kind, namespace, name });
    return true;
  }
}
