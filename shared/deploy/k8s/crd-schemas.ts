/**
 * JSON Schemas for the custom resources recship renders, written from the upstream CRDs
 * (Gateway API v1 HTTPRoute, Istio networking v1 VirtualService, Prometheus Operator v1
 * ServiceMonitor) but only for the fields recship sets: strict (no unknown fields), so a typo
 * or a field from another version fails here instead of being pruned silently by the server.
 */
type Schema = Record<string, unknown>;

const str: Schema = { type: "string", minLength: 1 };
const port: Schema = { type: "integer", minimum: 1, maximum: 65535 };
const labels: Schema = { type: "object", additionalProperties: { type: "string" } };
const obj = (properties: Record<string, Schema>, required: string[] = []): Schema => ({
  type: "object",
  properties,
  required,
  additionalProperties: false,
});
const metadata = obj({ name: str, namespace: str, labels, annotations: labels }, ["name"]);
const resource = (apiVersion: string, kind: string, spec: Schema): Schema =>
  obj({ apiVersion: { const: apiVersion }, kind: { const: kind }, metadata, spec }, ["apiVersion", "kind", "metadata", "spec"]);

const parentRef = obj(
  {
    group: { type: "string" },
    kind: str,
    namespace: str,
    name: str,
    sectionName: str,
    port,
  },
  ["name"],
);
const backendRef = obj(
  {
    group: { type: "string" },
    kind: str,
    name: str,
    namespace: str,
    port,
    weight: { type: "integer", minimum: 0, maximum: 1_000_000 },
  },
  ["name"],
);
const httpRouteMatch = obj({
  path: obj({ type: { enum: ["Exact", "PathPrefix", "RegularExpression"] }, value: { type: "string", maxLength: 1024 } }),
});

export const HTTP_ROUTE_SCHEMA = resource(
  "gateway.networking.k8s.io/v1",
  "HTTPRoute",
  obj({
    parentRefs: { type: "array", maxItems: 32, items: parentRef },
    hostnames: { type: "array", maxItems: 16, items: str },
    rules: {
      type: "array",
      minItems: 1,
      maxItems: 16,
      items: obj({
        matches: { type: "array", maxItems: 64, items: httpRouteMatch },
        backendRefs: { type: "array", maxItems: 16, items: backendRef },
      }),
    },
  }),
);

export const VIRTUAL_SERVICE_SCHEMA = resource(
  "networking.istio.io/v1",
  "VirtualService",
  obj(
    {
      hosts: { type: "array", minItems: 1, items: str },
      gateways: { type: "array", items: str },
      http: {
        type: "array",
        items: obj({
          name: str,
          route: {
            type: "array",
            minItems: 1,
            items: obj(
              {
                destination: obj({ host: str, subset: str, port: obj({ number: port }) }, ["host"]),
                weight: { type: "integer", minimum: 0, maximum: 100 },
              },
              ["destination"],
            ),
          },
        }),
      },
    },
    ["hosts"],
  ),
);

export const SERVICE_MONITOR_SCHEMA = resource(
  "monitoring.coreos.com/v1",
  "ServiceMonitor",
  obj(
    {
      selector: obj({ matchLabels: labels }),
      namespaceSelector: obj({ any: { type: "boolean" }, matchNames: { type: "array", items: str } }),
      endpoints: {
        type: "array",
        items: obj({
          port: str,
          path: str,
          interval: {
            type: "string",
            pattern: "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
          },
          scheme: { enum: ["http", "https"] },
        }),
      },
      podTargetLabels: { type: "array", items: str },
      targetLabels: { type: "array", items: str },
      jobLabel: str,
    },
    ["selector", "endpoints"],
  ),
);

const duration: Schema = {
  type: "string",
  pattern: "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
};

/** Prometheus Operator v1 PrometheusRule: rule groups as in a Prometheus rule file (a rule records or alerts). */
export const PROMETHEUS_RULE_SCHEMA = resource(
  "monitoring.coreos.com/v1",
  "PrometheusRule",
  obj(
    {
      groups: {
        type: "array",
        minItems: 1,
        items: obj(
          {
            name: str,
            interval: duration,
            rules: {
              type: "array",
              items: {
                ...obj({ record: str, alert: str, expr: str, for: duration, labels, annotations: labels }, ["expr"]),
                oneOf: [
                  { properties: { record: str }, required: ["record"] },
                  { properties: { alert: str }, required: ["alert"] },
                ],
              },
            },
          },
          ["name", "rules"],
        ),
      },
    },
    ["groups"],
  ),
);
