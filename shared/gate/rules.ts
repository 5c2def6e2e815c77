import { Ajv } from "ajv";
import { readYamlDocument } from "../util/yaml-document.js";
import { RecshipError } from "../errors.js";
import type { Direction } from "../stats/bootstrap.js";

/** full: all items ranked (the history masked when protocol.excludeSeen); masked: the history always masked; sampled: 100 negatives. */
const PROTOCOLS = ["full", "masked", "sampled"] as const;
export type Protocol = (typeof PROTOCOLS)[number];
export const SLICES = ["all", "cold", "warm", "heavy", "head", "tail"] as const;
export type SliceName = (typeof SLICES)[number];

export interface Margin {
  kind: "relative" | "absolute";
  value: number;
}

/** One gated quality metric: fails only when a regression beyond `margin` is shown. */
interface MetricRule {
  /** ndcg@K, hr@K, mrr, coverage@K or popularity@K (mean popularity of the top-K). */
  metric: string;
  protocol: Protocol;
  slices: SliceName[];
  direction: Direction;
  margin: Margin;
  /** Critical rules fail the job; the others only warn. */
  critical: boolean;
}

interface LatencyRule {
  enabled: boolean;
  batchSizes: number[];
  warmup: number;
  repetitions: number;
  /** Allowed relative slow-down of the per-batch time (0.25 = 25% slower). */
  margin: number;
  critical: boolean;
}

export interface GateRules {
  /** Family-wise false-alarm rate of each family of tests (one-sided), Holm-corrected. */
  alpha: number;
  resamples: number;
  seed: number;
  cutoffs: number[];
  protocol: { excludeSeen: boolean; sampledNegatives: number };
  slices: { coldMax: number; heavyMin: number; headShare: number };
  metrics: MetricRule[];
  latency: LatencyRule;
  rankingDiff: { k: number; rboP: number };
}

const rel = (value: number): Margin => ({ kind: "relative", value });

export const DEFAULT_RULES: GateRules = {
  alpha: 0.05,
  resamples: 2000,
  seed: 1,
  cutoffs: [5, 10, 20],
  protocol: { excludeSeen: false, sampledNegatives: 100 },
  slices: { coldMax: 3, heavyMin: 20, headShare: 0.2 },
  metrics: [
    { metric: "ndcg@10", protocol: "full", slices: ["all"], direction: "higher", margin: rel(0.01), critical: true },
    { metric: "hr@10", protocol: "full", slices: ["all"], direction: "higher", margin: rel(0.01), critical: true },
    { metric: "mrr", protocol: "full", slices: ["all"], direction: "higher", margin: rel(0.02), critical: false },
    { metric: "ndcg@10", protocol: "sampled", slices: ["all"], direction: "higher", margin: rel(0.02), critical: false },
    {
      metric: "ndcg@10",
      protocol: "full",
      slices: ["cold", "warm", "heavy", "head", "tail"],
      direction: "higher",
      margin: rel(0.05),
      critical: false,
    },
  ],
  latency: { enabled: true, batchSizes: [1, 8, 64], warmup: 5, repetitions: 30, margin: 0.25, critical: true },
  rankingDiff: { k: 10, rboP: 0.9 },
};

export interface ParsedMetric {
  kind: "ndcg" | "hr" | "mrr" | "coverage" | "popularity";
  k: number;
}

/** "ndcg@10" → {kind: "ndcg", k: 10}; "mrr" → {kind: "mrr", k: 0}. */
export function parseMetric(name: string, where = "rules"): ParsedMetric {
  const m = /^(ndcg|hr|coverage|popularity)@(\d+)$/.exec(name.trim().toLowerCase());
  if (m && Number(m[2]) >= 1) return { kind: m[1] as ParsedMetric["kind"], k: Number(m[2]) };
  if (name.trim().toLowerCase() === "mrr") return { kind: "mrr", k: 0 };
  throw new RecshipError(`unknown metric "${name}"`, {
    where,
    fix: "use ndcg@K, hr@K, mrr, coverage@K or popularity@K (K a whole number, e.g. ndcg@10)",
  });
}

const marginSchema = {
  anyOf: [
    { type: "string", pattern: "^\\s*\\d+(\\.\\d+)?\\s*%\\s*$" },
    {
      type: "object",
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
      properties: { relative: { type: "number", minimum: 0 }, absolute: { type: "number", minimum: 0 } },
    },
  ],
};
const rulesSchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    alpha: { type: "number", exclusiveMinimum: 0, maximum: 0.5 },
    resamples: { type: "integer", minimum: 1000, maximum: 100000 },
    seed: { type: "integer" },
    cutoffs: { type: "array", minItems: 1, items: { type: "integer", minimum: 1 } },
    protocol: {
      type: "object",
      additionalProperties: false,
      properties: { excludeSeen: { type: "boolean" }, sampledNegatives: { type: "integer", minimum: 0 } },
    },
    slices: {
      type: "object",
      additionalProperties: false,
      properties: {
        coldMax: { type: "integer", minimum: 0 },
        heavyMin: { type: "integer", minimum: 1 },
        headShare: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 },
      },
    },
    metrics: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["metric"],
        properties: {
          metric: { type: "string" },
          protocol: { enum: [...PROTOCOLS] },
          slices: { type: "array", minItems: 1, items: { enum: [...SLICES] } },
          direction: { enum: ["higher", "lower"] },
          margin: marginSchema,
          critical: { type: "boolean" },
        },
      },
    },
    latency: {
      type: "object",
      additionalProperties: false,
      properties: {
        enabled: { type: "boolean" },
        batchSizes: { type: "array", minItems: 1, items: { type: "integer", minimum: 1, maximum: 4096 } },
        warmup: { type: "integer", minimum: 0 },
        repetitions: { type: "integer", minimum: 5, maximum: 10000 },
        margin: marginSchema,
        critical: { type: "boolean" },
      },
    },
    rankingDiff: {
      type: "object",
      additionalProperties: false,
      properties: { k: { type: "integer", minimum: 1 }, rboP: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 } },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: false, strict: false });
const validateRules = ajv.compile(rulesSchema);

const RULES_FIX =
  "see actions/benchmark-gate/rules.example.yml (every key, with the defaults); e.g.\nmetrics:\n  - metric: ndcg@10\n    margin: 1%\n    critical: true";

function parseMargin(raw: unknown, where: string): Margin {
  if (typeof raw === "string") return { kind: "relative", value: Number(raw.trim().replace(/%$/, "").trim()) / 100 };
  const o = raw as { relative?: number; absolute?: number };
  if (o.relative !== undefined) return { kind: "relative", value: o.relative };
  if (o.absolute !== undefined) return { kind: "absolute", value: o.absolute };
  throw new RecshipError("a margin must be `N%` or {relative: x} or {absolute: x}", { where, fix: RULES_FIX });
}

type RawRules = Partial<Omit<GateRules, "metrics" | "latency">> & {
  metrics?: (Partial<Omit<MetricRule, "margin">> & { metric: string; margin?: unknown })[];
  latency?: Partial<Omit<LatencyRule, "margin">> & { margin?: unknown };
};

/**
 * Gate rules from inline YAML/JSON or a YAML/JSON file, merged over DEFAULT_RULES. A given
 * `metrics:` list replaces the default list; every other key overrides its default alone.
 * Unknown keys and bad values are errors that name the key.
 */
export function loadRules(source: string | undefined): GateRules {
  if (!source || source.trim() === "") return structuredClone(DEFAULT_RULES);
  const { raw, where } = readYamlDocument(source, {
    noun: "gate rules",
    verb: "are",
    fileNoun: "rules file",
    inlineWhere: "inline rules",
    notMapping: { message: "the gate rules must be a mapping (alpha:, metrics:, latency:, ...)", fix: RULES_FIX },
    fix: RULES_FIX,
    validate: validateRules,
  });
  const given = raw as unknown as RawRules;
  const d = DEFAULT_RULES;
  const rules: GateRules = {
    alpha: given.alpha ?? d.alpha,
    resamples: given.resamples ?? d.resamples,
    seed: given.seed ?? d.seed,
    cutoffs: [...new Set(given.cutoffs ?? d.cutoffs)].sort((a, b) => a - b),
    protocol: { ...d.protocol, ...given.protocol },
    slices: { ...d.slices, ...given.slices },
    metrics: given.metrics
      ? given.metrics.map((m, i) => {
          const at = `${where}: metrics[${i}]`;
          const parsed = parseMetric(m.metric, at);
          return {
            metric: m.metric.trim().toLowerCase(),
            protocol: m.protocol ?? "full",
            slices: [...new Set<SliceName>(m.slices ?? ["all"])],
            direction: m.direction ?? (parsed.kind === "popularity" ? "lower" : "higher"),
            margin: m.margin === undefined ? rel(0.01) : parseMargin(m.margin, at),
            critical: m.critical ?? true,
          };
        })
      : structuredClone(d.metrics),
    latency: {
      ...d.latency,
      ...given.latency,
      margin: given.latency?.margin === undefined ? d.latency.margin : parseMargin(given.latency.margin, `${where}: latency.margin`).value,
    },
    rankingDiff: { ...d.rankingDiff, ...given.rankingDiff },
  };
  if (given.latency?.margin !== undefined && parseMargin(given.latency.margin, where).kind !== "relative") {
    throw new RecshipError("latency.margin must be relative (e.g. 25%)", { where, fix: RULES_FIX });
  }
  rules.metrics.forEach((m, i) => {
    const { kind } = parseMetric(m.metric, where);
    if (m.protocol === "sampled" && (kind === "coverage" || kind === "popularity")) {
      throw new RecshipError(`metrics[${i}]: ${m.metric} exists for the full protocol only`, { where, fix: "drop `protocol: sampled`" });
    }
    if (m.protocol === "sampled" && rules.protocol.sampledNegatives === 0) {
      throw new RecshipError(`metrics[${i}] gates a sampled metric but protocol.sampledNegatives is 0`, { where });
    }
  });
  if (rules.slices.heavyMin <= rules.slices.coldMax + 1) {
    throw new RecshipError(`slices.heavyMin (${rules.slices.heavyMin}) must exceed slices.coldMax + 1 (${rules.slices.coldMax + 1})`, {
      where,
      fix: "warm users are those between the two",
    });
  }
  return rules;
}

/** Width of the top-K lists the evaluation keeps: every K a rule or the ranking diff needs. */
export function topListWidth(rules: GateRules): number {
  const ks = [rules.rankingDiff.k, ...rules.cutoffs];
  for (const m of rules.metrics) {
    const p = parseMetric(m.metric);
    if (p.kind === "coverage" || p.kind === "popularity") ks.push(p.k);
  }
  return Math.max(...ks);
}
