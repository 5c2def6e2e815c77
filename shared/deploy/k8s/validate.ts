import * as k8s from "@kubernetes/client-node";
import { Ajv, type ValidateFunction } from "ajv";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Service } from "kubernetes-models/v1/Service";
import { RecshipError } from "../../errors.js";
import type { KubeObject } from "./client.js";
import { HTTP_ROUTE_SCHEMA, PROMETHEUS_RULE_SCHEMA, SERVICE_MONITOR_SCHEMA, VIRTUAL_SERVICE_SCHEMA } from "./crd-schemas.js";

interface BuiltIn {
  /** kubernetes-models: the OpenAPI schema's types, formats, enums and required fields. */
  model: new (data: never) => { validate(): void };
  /** @kubernetes/client-node's model class: its attribute map lists every known field. */
  typeName: string;
}

const BUILT_IN: Record<string, BuiltIn> = {
  "apps/v1/Deployment": { model: Deployment as never, typeName: "V1Deployment" },
  "v1/Service": { model: Service as never, typeName: "V1Service" },
  "v1/ConfigMap": { model: ConfigMap as never, typeName: "V1ConfigMap" },
  "autoscaling/v2/HorizontalPodAutoscaler": { model: HorizontalPodAutoscaler as never, typeName: "V2HorizontalPodAutoscaler" },
  "policy/v1/PodDisruptionBudget": { model: PodDisruptionBudget as never, typeName: "V1PodDisruptionBudget" },
};

const ajv = new Ajv({ allErrors: true, strict: true });
const CUSTOM: Record<string, ValidateFunction> = {
  "gateway.networking.k8s.io/v1/HTTPRoute": ajv.compile(HTTP_ROUTE_SCHEMA),
  "networking.istio.io/v1/VirtualService": ajv.compile(VIRTUAL_SERVICE_SCHEMA),
  "monitoring.coreos.com/v1/ServiceMonitor": ajv.compile(SERVICE_MONITOR_SCHEMA),
  "monitoring.coreos.com/v1/PrometheusRule": ajv.compile(PROMETHEUS_RULE_SCHEMA),
};

interface AttributeType {
  baseName: string;
  type: string;
}
type ModelClass = { getAttributeTypeMap(): AttributeType[] };

function modelClass(type: string): ModelClass | undefined {
  const c = (k8s as unknown as Record<string, unknown>)[type] as Partial<ModelClass> | undefined;
  return typeof c?.getAttributeTypeMap === "function" ? (c as ModelClass) : undefined;
}

/**
 * Fields the API does not know, by the client library's model of every API type. The
 * kubernetes-models schemas allow additional properties, and the API server drops unknown
 * fields with at most a warning: a misspelt `readinesProbe` would vanish without a word.
 */
export function unknownFields(value: unknown, type: string, path = ""): string[] {
  const t = type.replace(/ \| (null|undefined)$/, "");
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(t);
  if (array) return Array.isArray(value) ? value.flatMap((v, i) => unknownFields(v, array[1], `${path}[${i}]`)) : [];
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(t);
  if (map) {
    return typeof value === "object" ? Object.entries(value as object).flatMap(([k, v]) => unknownFields(v, map[1], `${path}.${k}`)) : [];
  }
  const cls = modelClass(t);
  if (!cls || typeof value !== "object" || Array.isArray(value)) return [];
  const known = new Map(cls.getAttributeTypeMap().map((a) => [a.baseName, a.type]));
  return Object.entries(value as object).flatMap(([k, v]) => {
    const fieldType = known.get(k);
    return fieldType === undefined ? [`${path}.${k}`] : unknownFields(v, fieldType, `${path}.${k}`);
  });
}

/** Problems of one rendered object: schema errors and unknown fields; empty when it is fine. */
export function manifestProblems(object: KubeObject): string[] {
  const key = `${object.apiVersion}/${object.kind}`;
  const builtIn = BUILT_IN[key];
  if (builtIn) {
    const problems: string[] = [];
    try {
      new builtIn.model(object as never).validate();
    } catch (error) {
      problems.push(...String((error as Error).message).split(", "));
    }
    const { status: _status, ...rest } = object;
    problems.push(...unknownFields(rest, builtIn.typeName).map((p) => `unknown field ${p}`));
    return problems;
  }
  const custom = CUSTOM[key];
  if (custom) {
    if (custom(object)) return [];
    return (custom.errors ?? []).map((e) =>
      e.keyword === "additionalProperties"
        ? `unknown field ${e.instancePath.replace(/\//g, ".")}.${(e.params as { additionalProperty: string }).additionalProperty}`
        : `data${e.instancePath} ${e.message}`,
    );
  }
  return [`no schema for ${key}`];
}

/** Throws when any rendered object would not pass the API's validation. */
export function validateManifests(objects: KubeObject[]): void {
  const problems = objects.flatMap((o) => manifestProblems(o).map((p) => `${o.kind} ${o.metadata.name}: ${p}`));
  if (problems.length) {
    throw new RecshipError(
      `the rendered manifests are invalid: ${problems.slice(0, 10).join("; ")}${problems.length > 10 ? ` (+${problems.length - 10} more)` : ""}`,
      {
        fix: "check the deploy inputs named above",
      },
    );
  }
}
