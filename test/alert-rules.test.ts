import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { POPULARITY_BUCKETS, SCORE_BUCKETS } from "../shared/bundle/monitoring-reference.js";
import { Ajv } from "ajv";
import { DEFAULT_THRESHOLDS, renderRuleGroups, type PromRule } from "../shared/deploy/monitoring/alert-rules.js";
import { renderDashboard } from "../shared/deploy/monitoring/dashboard.js";
import { prometheusInstalled } from "./helpers/prometheus.js";
import { tempDir } from "./helpers/tmp.js";

// The shipped alert rules, tested with Prometheus's own tooling: `promtool check rules` parses
// every expression and annotation template; `promtool test rules` evaluates the rules over
// synthetic series, one fault and one healthy scenario per alert. promtool compares an alert's
// annotations too, and ours hold templated values ({{ $value }}), so the rules under test are the
// rendered ones with their annotations left out: expressions, `for` and labels as shipped.

const PROMTOOL = process.env.RECSHIP_PROMTOOL ?? "/usr/bin/promtool";
const SELECTOR = 'namespace="shop"';
const LABELS = { namespace: "shop", model: "recommender", version: "v1", variant: "stable" };
const POD = { ...LABELS, pod: "recship-stable-1" };

interface InputSeries {
  series: string;
  values: string;
}

function name(metric: string, labels: Record<string, string>): string {
  return `${metric}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",")}}`;
}

/** A counter growing by `perMinute` for `minutes`. */
function counter(metric: string, labels: Record<string, string>, perMinute: number, minutes: number): InputSeries {
  return { series: name(metric, { ...POD, ...labels }), values: `0+${perMinute}x${minutes}` };
}

function gauge(metric: string, labels: Record<string, string>, value: number, minutes: number): InputSeries {
  return { series: name(metric, { ...POD, ...labels }), values: `${value}+0x${minutes}` };
}

/** A histogram observed `perMinute` times a minute, shares[i] of them in bucket i (bounds, then +Inf). */
function histogram(metric: string, bounds: readonly number[], shares: number[], perMinute: number, minutes: number): InputSeries[] {
  let cumulative = 0;
  const out = shares.map((share, i) => {
    cumulative += share;
    const le = i < bounds.length ? String(bounds[i]) : "+Inf";
    return counter(`${metric}_bucket`, { le }, Number((cumulative * perMinute).toFixed(6)), minutes);
  });
  out.push(counter(`${metric}_count`, {}, perMinute, minutes));
  return out;
}

/** The reference's shares as the server exports them. */
function reference(metric: string, bounds: readonly number[], shares: number[], minutes: number): InputSeries[] {
  return shares.map((share, i) => gauge(metric, { bucket_le: i < bounds.length ? String(bounds[i]) : "+Inf" }, share, minutes));
}

/** Shares peaked around bucket `centre` (a discretised bell), over `n` buckets. */
function bell(n: number, centre: number, width: number): number[] {
  const raw = Array.from({ length: n }, (_, i) => Math.exp(-(((i - centre) / width) ** 2)));
  const total = raw.reduce((a, b) => a + b, 0);
  return raw.map((r) => Number((r / total).toFixed(6)));
}

/** Every share moved by up to ±10 % (deterministic), renormalised: a healthy week's sampling noise. */
function jitter(shares: number[]): number[] {
  const moved = shares.map((s, i) => s * (1 + 0.1 * Math.sin(7 * i)));
  const total = moved.reduce((a, b) => a + b, 0);
  return moved.map((s) => Number((s / total).toFixed(6)));
}

interface Scenario {
  alert: string;
  evalMinutes: number;
  fault: InputSeries[];
  healthy: InputSeries[];
}

const recommend = { route: "/v1/recommend", method: "POST" };

function scenarios(): Scenario[] {
  const scoreRef = bell(SCORE_BUCKETS.length + 1, 9, 2.5);
  const popularityRef = bell(POPULARITY_BUCKETS.length + 1, 5, 1.5);
  const m = 130;
  const score = (shares: number[]) => [
    ...histogram("recship_recommendation_top_score", SCORE_BUCKETS, shares, 60, m),
    ...reference("recship_reference_top_score_share", SCORE_BUCKETS, scoreRef, m),
  ];
  const popularity = (shares: number[]) => [
    ...histogram("recship_recommended_item_popularity", POPULARITY_BUCKETS, shares, 600, m),
    ...reference("recship_reference_popularity_share", POPULARITY_BUCKETS, popularityRef, m),
  ];
  const latency = (fast: number) => [
    counter("recship_http_request_duration_seconds_bucket", { route: "/v1/recommend", le: "0.01" }, fast, 30),
    counter("recship_http_request_duration_seconds_bucket", { route: "/v1/recommend", le: "0.5" }, fast + 5, 30),
    counter("recship_http_request_duration_seconds_bucket", { route: "/v1/recommend", le: "1" }, 60, 30),
    counter("recship_http_request_duration_seconds_bucket", { route: "/v1/recommend", le: "+Inf" }, 60, 30),
  ];
  const day = 26 * 60 + 60;
  const served = counter("recship_recommendations_served_total", {}, 600, day);
  const clicks = { event: "click", outcome: "recommended" };
  return [
    {
      alert: "RecshipHighErrorRate",
      evalMinutes: 20,
      fault: [
        counter("recship_http_requests_total", { ...recommend, status: "200" }, 60, 30),
        counter("recship_http_requests_total", { ...recommend, status: "500" }, 6, 30),
      ],
      healthy: [
        counter("recship_http_requests_total", { ...recommend, status: "200" }, 60, 30),
        counter("recship_http_requests_total", { ...recommend, status: "500" }, 0.3, 30),
      ],
    },
    { alert: "RecshipHighLatencyP99", evalMinutes: 25, fault: latency(30), healthy: latency(60) },
    {
      alert: "RecshipNoTraffic",
      evalMinutes: 45,
      // traffic stops after 10 minutes; healthy: it goes on
      fault: [
        gauge("recship_model_ready", {}, 1, 50),
        { series: name("recship_http_requests_total", { ...POD, ...recommend, status: "200" }), values: "0+60x10 600+0x40" },
      ],
      healthy: [gauge("recship_model_ready", {}, 1, 50), counter("recship_http_requests_total", { ...recommend, status: "200" }, 60, 50)],
    },
    {
      alert: "RecshipCpuSaturation",
      evalMinutes: 30,
      fault: [counter("process_cpu_seconds_total", {}, 57, 40), gauge("recship_cpu_limit_cores", {}, 1, 40)],
      healthy: [counter("process_cpu_seconds_total", {}, 30, 40), gauge("recship_cpu_limit_cores", {}, 1, 40)],
    },
    {
      alert: "RecshipMemorySaturation",
      evalMinutes: 20,
      fault: [gauge("process_resident_memory_bytes", {}, 0.95e9, 30), gauge("recship_memory_limit_bytes", {}, 1e9, 30)],
      healthy: [gauge("process_resident_memory_bytes", {}, 0.5e9, 30), gauge("recship_memory_limit_bytes", {}, 1e9, 30)],
    },
    {
      alert: "RecshipEventLoopLag",
      evalMinutes: 20,
      fault: [gauge("nodejs_eventloop_lag_p99_seconds", {}, 0.5, 30)],
      healthy: [gauge("nodejs_eventloop_lag_p99_seconds", {}, 0.012, 30)],
    },
    // scores 3 buckets higher than validation's (e.g. a broken feature makes every item look certain)
    {
      alert: "RecshipScoreDrift",
      evalMinutes: 100,
      fault: score(bell(SCORE_BUCKETS.length + 1, 12, 2.5)),
      healthy: score(jitter(scoreRef)),
    },
    // recommendations collapse onto the head of the catalogue
    {
      alert: "RecshipPopularityDrift",
      evalMinutes: 100,
      fault: popularity(bell(POPULARITY_BUCKETS.length + 1, 1, 1)),
      healthy: popularity(jitter(popularityRef)),
    },
    {
      alert: "RecshipCoverageDrop",
      evalMinutes: 60,
      fault: [gauge("recship_recommended_items_distinct_share", {}, 0.05, 70), gauge("recship_reference_distinct_share", {}, 0.3, 70)],
      healthy: [gauge("recship_recommended_items_distinct_share", {}, 0.27, 70), gauge("recship_reference_distinct_share", {}, 0.3, 70)],
    },
    {
      alert: "RecshipClickThroughDrop",
      evalMinutes: day - 40,
      // 5 % of recommended items clicked for 25 hours, then 2.5 %; healthy: 5 % throughout
      fault: [served, { series: name("recship_feedback_total", { ...POD, ...clicks }), values: `0+30x1500 45000+15x${day - 1500}` }],
      healthy: [served, counter("recship_feedback_total", clicks, 30, day)],
    },
  ];
}

function withoutAnnotations(rule: PromRule): PromRule {
  const { annotations: _annotations, ...rest } = rule;
  return rest;
}

function promtool(args: string[], cwd: string): { status: number | null; output: string } {
  const r = spawnSync(PROMTOOL, args, { cwd, encoding: "utf8" });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe.runIf(prometheusInstalled())("the alert rules deploy-k8s ships (promtool)", () => {
  const dir = tempDir("recship-alert-rules-");
  const settings = { app: "recship", selector: SELECTOR, thresholds: DEFAULT_THRESHOLDS };
  const groups = renderRuleGroups(settings);
  const alerts = groups.flatMap((g) => g.rules).filter((r) => r.alert);

  it("pass promtool check rules, annotation templates included", () => {
    writeFileSync(join(dir, "rules.yml"), stringify({ groups }, { lineWidth: 0 }));
    const r = promtool(["check", "rules", "rules.yml"], dir);
    expect(r.output).toContain(`SUCCESS: ${groups[0].rules.length} rules found`);
    expect(r.status).toBe(0);
  });

  it("each alert fires on its fault and stays silent on a healthy series (promtool test rules)", () => {
    writeFileSync(
      join(dir, "rules-under-test.yml"),
      stringify({ groups: groups.map((g) => ({ ...g, rules: g.rules.map(withoutAnnotations) })) }, { lineWidth: 0 }),
    );
    const cases = scenarios();
    expect(cases.map((c) => c.alert).sort()).toEqual(alerts.map((a) => a.alert).sort());
    const test = (c: Scenario, series: InputSeries[], fires: boolean) => ({
      interval: "1m",
      input_series: series,
      alert_rule_test: [
        {
          eval_time: `${c.evalMinutes}m`,
          alertname: c.alert,
          exp_alerts: fires ? [{ exp_labels: { ...expectedLabels(c.alert), ...alerts.find((a) => a.alert === c.alert)!.labels } }] : [],
        },
      ],
    });
    const file = {
      rule_files: ["rules-under-test.yml"],
      evaluation_interval: "1m",
      tests: cases.flatMap((c) => [test(c, c.fault, true), test(c, c.healthy, false)]),
    };
    writeFileSync(join(dir, "rules.test.yml"), stringify(file, { lineWidth: 0 }));
    const r = promtool(["test", "rules", "rules.test.yml"], dir);
    expect(r.output).toContain("SUCCESS");
    expect(r.status).toBe(0);
    expect(file.tests).toHaveLength(2 * alerts.length);
  }, 120_000);
});

/** The part of Grafana's dashboard JSON model recship writes, strict: a misspelt field fails here. */
const DASHBOARD_SCHEMA = {
  type: "object",
  required: ["uid", "title", "schemaVersion", "panels", "templating"],
  properties: {
    uid: { type: "string", pattern: "^[A-Za-z0-9_-]{1,40}$" },
    title: { type: "string", minLength: 1 },
    schemaVersion: { type: "integer", minimum: 36 },
    templating: {
      type: "object",
      properties: {
        list: { type: "array", contains: { type: "object", properties: { name: { const: "datasource" }, type: { const: "datasource" } } } },
      },
    },
    panels: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        required: ["id", "type", "title", "datasource", "gridPos", "targets"],
        properties: {
          id: { type: "integer" },
          type: { enum: ["timeseries", "stat", "gauge", "table"] },
          datasource: {
            type: "object",
            required: ["type", "uid"],
            properties: { type: { const: "prometheus" }, uid: { const: "${datasource}" } },
          },
          gridPos: {
            type: "object",
            required: ["x", "y", "w", "h"],
            properties: {
              x: { type: "integer", minimum: 0, maximum: 23 },
              w: { type: "integer", minimum: 1, maximum: 24 },
              y: { type: "integer", minimum: 0 },
              h: { type: "integer", minimum: 1 },
            },
          },
          targets: {
            type: "array",
            minItems: 1,
            items: {
              type: "object",
              required: ["refId", "expr"],
              properties: { refId: { type: "string", pattern: "^[A-Z]$" }, expr: { type: "string", minLength: 1 } },
            },
          },
        },
      },
    },
  },
};

describe.runIf(prometheusInstalled())("the Grafana dashboard deploy-k8s ships", () => {
  const dir = tempDir("recship-dashboard-");
  const dashboard = renderDashboard({ app: "recship", selector: SELECTOR, thresholds: DEFAULT_THRESHOLDS });

  it("has the dashboard JSON shape, unique panel ids and no overlapping panels", () => {
    const validate = new Ajv({ strict: false }).compile(DASHBOARD_SCHEMA);
    expect(validate(JSON.parse(JSON.stringify(dashboard))), JSON.stringify(validate.errors)).toBe(true);
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    const cells = dashboard.panels.flatMap((p) =>
      Array.from(
        { length: p.gridPos.w * p.gridPos.h },
        (_, i) => `${p.gridPos.x + (i % p.gridPos.w)},${p.gridPos.y + Math.floor(i / p.gridPos.w)}`,
      ),
    );
    expect(new Set(cells).size).toBe(cells.length);
  });

  it("every panel query parses as PromQL (promtool check rules on a recording rule per query)", () => {
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    const rules = exprs.map((expr, i) => ({ record: `recship:dashboard_query_${i}`, expr }));
    writeFileSync(join(dir, "queries.yml"), stringify({ groups: [{ name: "dashboard-queries", rules }] }, { lineWidth: 0 }));
    const r = promtool(["check", "rules", "queries.yml"], dir);
    expect(r.output).toContain(`SUCCESS: ${exprs.length} rules found`);
    expect(r.status).toBe(0);
    // and a broken query would not: the check is not vacuous
    writeFileSync(
      join(dir, "broken.yml"),
      stringify({ groups: [{ name: "b", rules: [{ record: "recship:broken", expr: `${exprs[0]})` }] }] }),
    );
    expect(promtool(["check", "rules", "broken.yml"], dir).status).not.toBe(0);
  });
});

/** The labels an alert carries from its expression: the model group, without the version where it compares across versions. */
function expectedLabels(alert: string): Record<string, string> {
  if (alert === "RecshipClickThroughDrop") return { namespace: LABELS.namespace, model: LABELS.model, variant: LABELS.variant };
  if (["RecshipCpuSaturation", "RecshipMemorySaturation", "RecshipEventLoopLag"].includes(alert)) return POD;
  return LABELS;
}
