/**
 * Server-side apply as the API server does it, for the emulator: field sets per manager
 * (fieldsV1), associative lists merged by key, atomic lists and scalars replaced, fields a
 * manager stops applying removed unless someone else owns them, conflicts where another
 * manager owns a field with a different value (unless forced).
 */

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };
/** A field path: "f:name" for map keys, "k:{...}" for an associative list item, "." for the item itself. */
export type FieldPath = string[];

export interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time: string;
  fieldsType: "FieldsV1";
  fieldsV1: JsonObject;
  subresource?: string;
}

export interface Conflict {
  manager: string;
  field: string;
}

export const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

/** Keys of the associative lists recship's kinds use (the OpenAPI x-kubernetes-list-map-keys / patchMergeKey). */
function listKeys(field: string, items: Json[]): string[] | undefined {
  switch (field) {
    case "containers":
    case "initContainers":
    case "env":
    case "volumes":
    case "imagePullSecrets":
      return ["name"];
    case "volumeMounts":
      return ["mountPath"];
    case "ports":
      // container ports are keyed by containerPort, Service ports by port (both with protocol)
      return items.some((i) => isObject(i) && "containerPort" in i) ? ["containerPort", "protocol"] : ["port", "protocol"];
    default:
      return undefined;
  }
}

function itemKey(item: Json, keys: string[]): string {
  const o = isObject(item) ? item : {};
  const key: JsonObject = {};
  for (const k of keys) key[k] = o[k] ?? (k === "protocol" ? "TCP" : null);
  return `k:${JSON.stringify(key)}`;
}

const enc = (p: FieldPath) => JSON.stringify(p);
const dec = (s: string) => JSON.parse(s) as FieldPath;

/** The fields a configuration sets, as encoded paths. */
function fieldSet(config: JsonObject): Set<string> {
  const out = new Set<string>();
  const walk = (value: Json, path: FieldPath, field: string) => {
    if (isObject(value)) {
      if (path.length && Object.keys(value).length === 0) out.add(enc(path));
      for (const [k, v] of Object.entries(value)) walk(v, [...path, `f:${k}`], k);
    } else if (Array.isArray(value)) {
      const keys = listKeys(field, value);
      if (!keys) {
        out.add(enc(path));
        return;
      }
      for (const item of value) {
        const itemPath = [...path, itemKey(item, keys)];
        out.add(enc([...itemPath, "."]));
        if (isObject(item)) for (const [k, v] of Object.entries(item)) walk(v, [...itemPath, `f:${k}`], k);
      }
    } else out.add(enc(path));
  };
  walk(config, [], "");
  return out;
}

/** The value at a field path, or undefined. */
export function valueAt(object: Json | undefined, path: FieldPath): Json | undefined {
  let cur: Json | undefined = object;
  let field = "";
  for (const seg of path) {
    if (cur === undefined) return undefined;
    if (seg === ".") return cur;
    if (seg.startsWith("f:")) {
      field = seg.slice(2);
      cur = isObject(cur) ? cur[field] : undefined;
    } else if (seg.startsWith("k:")) {
      if (!Array.isArray(cur)) return undefined;
      const keys = Object.keys(JSON.parse(seg.slice(2)) as object);
      cur = cur.find((item) => itemKey(item, keys) === seg);
    }
  }
  return cur;
}

/** Removes the value at a field path (a map key or a list item). */
function removeAt(object: JsonObject, path: FieldPath): void {
  const last = path[path.length - 1] === "." ? path.slice(0, -1) : path;
  const parent = valueAt(object, last.slice(0, -1));
  const seg = last[last.length - 1];
  if (seg.startsWith("f:") && isObject(parent)) delete parent[seg.slice(2)];
  else if (seg.startsWith("k:") && Array.isArray(parent)) {
    const keys = Object.keys(JSON.parse(seg.slice(2)) as object);
    const i = parent.findIndex((item) => itemKey(item, keys) === seg);
    if (i >= 0) parent.splice(i, 1);
  }
}

export function deepEqual(a: Json | undefined, b: Json | undefined): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(v: Json | undefined): Json | undefined {
  if (Array.isArray(v)) return v.map((x) => sortKeys(x) as Json);
  if (isObject(v))
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys(v[k]) as Json]),
    );
  return v;
}

/** Merges an applied configuration into the live object: maps per key, associative lists per item, the rest replaced. */
function merge(live: Json | undefined, config: Json, field: string): Json {
  if (isObject(config)) {
    const out: JsonObject = isObject(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(config)) out[k] = merge(out[k], v, k);
    return out;
  }
  if (Array.isArray(config)) {
    const keys = listKeys(field, config);
    if (!keys || !Array.isArray(live)) return structuredClone(config);
    const out = [...live];
    for (const item of config) {
      const k = itemKey(item, keys);
      const i = out.findIndex((x) => itemKey(x, keys) === k);
      if (i >= 0) out[i] = merge(out[i], item, field);
      else out.push(structuredClone(item));
    }
    return out;
  }
  return config;
}

/** fieldsV1 JSON from a set of paths. */
export function toFieldsV1(set: Set<string>): JsonObject {
  const root: JsonObject = {};
  for (const s of set) {
    let node = root;
    for (const seg of dec(s)) {
      if (!isObject(node[seg])) node[seg] = {};
      node = node[seg] as JsonObject;
    }
  }
  return root;
}

/** The set of paths of a fieldsV1 JSON. */
export function fromFieldsV1(fields: JsonObject): Set<string> {
  const out = new Set<string>();
  const walk = (node: JsonObject, path: FieldPath) => {
    const keys = Object.keys(node);
    if (keys.length === 0 && path.length) out.add(enc(path));
    for (const k of keys) walk(node[k] as JsonObject, [...path, k]);
  };
  walk(fields, []);
  return out;
}

/** What an apply sends that is not a managed field: identity, bookkeeping and status. */
function applicableConfig(body: JsonObject): JsonObject {
  const { apiVersion: _a, kind: _k, status: _s, metadata, ...rest } = body;
  const meta = isObject(metadata) ? { ...metadata } : {};
  for (const k of ["name", "namespace", "resourceVersion", "managedFields", "uid", "generation", "creationTimestamp"]) delete meta[k];
  return Object.keys(meta).length ? { ...rest, metadata: meta } : rest;
}

const isAncestor = (a: FieldPath, b: FieldPath) => a.length < b.length && a.every((s, i) => s === b[i]);

/**
 * Applies `config` for `manager` on top of `live` (undefined: create). Returns the new object
 * body (metadata bookkeeping untouched), the managers' field sets, and the conflicts when
 * not forced (then nothing else is meaningful).
 */
export function serverSideApply(
  live: JsonObject | undefined,
  body: JsonObject,
  manager: string,
  force: boolean,
  managed: Map<string, Set<string>>,
): { object: JsonObject; managed: Map<string, Set<string>>; conflicts: Conflict[] } {
  const config = applicableConfig(body);
  const applied = fieldSet(config);
  const sets = new Map([...managed].map(([m, s]) => [m, new Set(s)]));
  const conflicts: Conflict[] = [];
  for (const [other, set] of sets) {
    if (other === manager) continue;
    for (const p of applied) {
      if (!set.has(p) || p.endsWith('"."]')) continue;
      const path = dec(p);
      if (deepEqual(valueAt(live, path), valueAt(config, path))) continue; // same value: shared ownership
      if (force) set.delete(p);
      else
        conflicts.push({ manager: other, field: `.${path.map((s) => (s.startsWith("f:") ? s.slice(2) : `[${s.slice(2)}]`)).join(".")}` });
    }
  }
  if (conflicts.length) return { object: live ?? {}, managed, conflicts };

  const previous = sets.get(manager) ?? new Set<string>();
  const merged = merge(live ?? {}, config, "") as JsonObject;
  // fields this manager applied before and no longer does go away, unless another manager owns them or something below them
  const strip = (p: FieldPath) => (p[p.length - 1] === "." ? p.slice(0, -1) : p);
  const same = (a: FieldPath, b: FieldPath) => a.length === b.length && a.every((s, i) => s === b[i]);
  const othersOwn = (path: FieldPath) => {
    const base = strip(path);
    for (const [m, set] of sets) {
      if (m === manager) continue;
      for (const q of set) {
        const qp = dec(q);
        const qBase = strip(qp);
        // the same field or something below it, or a leaf (atomic list, scalar) above it
        if (same(qBase, base) || isAncestor(base, qBase)) return true;
        if (qp[qp.length - 1] !== "." && isAncestor(qp, base)) return true;
      }
    }
    return false;
  };
  const removed = [...previous].filter((p) => !applied.has(p)).map(dec);
  removed.sort((a, b) => b.length - a.length);
  for (const path of removed) {
    if (othersOwn(path)) continue;
    if (path[path.length - 1] !== "." && valueAt(config, path) !== undefined) continue;
    removeAt(merged, path);
    pruneEmptyParents(merged, path.filter((s) => s !== ".").slice(0, -1), sets);
  }
  sets.set(manager, applied);
  for (const [m, s] of sets) if (s.size === 0) sets.delete(m);
  return { object: merged, managed: sets, conflicts: [] };
}

/** A map left empty by a removal goes too, unless a manager owns it as such. */
function pruneEmptyParents(object: JsonObject, path: FieldPath, sets: Map<string, Set<string>>): void {
  for (let p = path; p.length > 0; p = p.slice(0, -1)) {
    const v = valueAt(object, p);
    if (!isObject(v) || Object.keys(v).length > 0) return;
    if ([...sets.values()].some((s) => s.has(enc(p)))) return;
    removeAt(object, p);
  }
}

/** An Update (e.g. kubectl edit) takes the fields it changed: they move to `manager`. */
export function takeChangedFields(
  before: JsonObject,
  after: JsonObject,
  manager: string,
  managed: Map<string, Set<string>>,
): Map<string, Set<string>> {
  const sets = new Map([...managed].map(([m, s]) => [m, new Set(s)]));
  const changed = [...fieldSet(applicableConfig(after))].filter((p) => !deepEqual(valueAt(before, dec(p)), valueAt(after, dec(p))));
  for (const [, set] of sets) for (const p of changed) set.delete(p);
  const mine = sets.get(manager) ?? new Set<string>();
  for (const p of changed) mine.add(p);
  sets.set(manager, mine);
  for (const [m, s] of sets) if (s.size === 0) sets.delete(m);
  return sets;
}
