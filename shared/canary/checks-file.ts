import { Ajv } from "ajv";
import { readYamlDocument } from "../util/yaml-document.js";
import { RecshipError } from "../errors.js";
import { builtinChecks, watchBuiltinChecks } from "./builtin-checks.js";
import { checkTemplate } from "./template.js";
import type { CheckKind, CheckQueries, CheckSpec, Direction, MarginKind } from "./types.js";

const margin = {
  anyOf: [
    { type: "number", minimum: 0 },
    { type: "string", pattern: "^\\s*[0-9.]+\\s*%\\s*$" },
    {
      type: "object",
      additionalProperties: false,
      properties: { relative: { type: "number", minimum: 0 }, absolute: { type: "number", minimum: 0 } },
      minProperties: 1,
      maxProperties: 1,
    },
  ],
};
const common = {
  direction: { enum: ["lower", "higher"] },
  margin,
  critical: { type: "boolean" },
  minSamples: { type: "integer", minimum: 1 },
  fromWeight: { type: "number", minimum: 0, maximum: 100 },
};
const schema = {
  type: "object",
  additionalProperties: false,
  properties: {
    builtins: {
      type: "object",
      additionalProperties: false,
      // one file may serve the canary and the watch: either's built-ins may be set
      properties: Object.fromEntries(
        [...new Set([...builtinChecks(), ...watchBuiltinChecks()].map((c) => c.name))].map((name) => [
          name,
          {
            anyOf: [
              { type: "boolean" },
              {
                type: "object",
                additionalProperties: false,
                properties: { margin, critical: common.critical, minSamples: common.minSamples, fromWeight: common.fromWeight },
              },
            ],
          },
        ]),
      ),
    },
    checks: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["name", "kind"],
        properties: {
          name: { type: "string", pattern: "^[a-z0-9][a-z0-9_.-]{0,62}$" },
          kind: { enum: ["proportion", "histogram", "drift", "series"] },
          description: { type: "string" },
          numerator: { type: "string" },
          denominator: { type: "string" },
          buckets: { type: "string" },
          quantile: { type: "string" },
          query: { type: "string" },
          ...common,
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: false, strict: false });
const validate = ajv.compile(schema);

const CHECKS_FIX =
  "see actions/monitor-canary/checks.example.yml; e.g.\nchecks:\n  - name: purchase-rate\n    kind: proportion\n" +
  '    numerator: sum(increase(recship_feedback_total{event="purchase",outcome="recommended",variant="$variant"}[$interval]))\n' +
  '    denominator: sum(increase(recship_recommendations_served_total{variant="$variant"}[$interval]))\n' +
  "    direction: higher\n    margin: 10%\n    critical: true";

type RawMargin = number | string | { relative?: number; absolute?: number };

function parseMargin(raw: RawMargin, fallback: MarginKind): { margin: number; marginKind: MarginKind } {
  if (typeof raw === "number") return { margin: raw, marginKind: fallback };
  if (typeof raw === "string") return { margin: Number(raw.trim().replace(/%$/, "").trim()) / 100, marginKind: "relative" };
  if (raw.absolute !== undefined) return { margin: raw.absolute, marginKind: "absolute" };
  return { margin: raw.relative!, marginKind: "relative" };
}

interface RawCheck {
  name: string;
  kind: CheckKind;
  description?: string;
  numerator?: string;
  denominator?: string;
  buckets?: string;
  quantile?: string;
  query?: string;
  direction?: Direction;
  margin?: RawMargin;
  critical?: boolean;
  minSamples?: number;
  fromWeight?: number;
}

interface RawChecks {
  builtins?: Record<string, boolean | { margin?: RawMargin; critical?: boolean; minSamples?: number; fromWeight?: number }>;
  checks?: RawCheck[];
}

function userCheck(raw: RawCheck, where: string): CheckSpec {
  const need = (key: "numerator" | "denominator" | "buckets" | "query"): string => {
    const v = raw[key];
    if (!v) throw new RecshipError(`a ${raw.kind} check needs "${key}" (a PromQL template)`, { where, fix: CHECKS_FIX });
    checkTemplate(v, `${where}.${key}`);
    return v;
  };
  let queries: CheckQueries;
  switch (raw.kind) {
    case "proportion":
      queries = { kind: "proportion", numerator: need("numerator"), denominator: need("denominator") };
      break;
    case "histogram":
      queries = { kind: "histogram", buckets: need("buckets"), ...(raw.quantile ? { quantile: raw.quantile } : {}) };
      if (raw.quantile) checkTemplate(raw.quantile, `${where}.quantile`);
      break;
    case "drift":
      queries = { kind: "drift", buckets: need("buckets") };
      break;
    case "series":
      queries = { kind: "series", query: need("query") };
      break;
  }
  const extra = (["numerator", "denominator", "buckets", "quantile", "query"] as const).filter(
    (k) => raw[k] !== undefined && !(k in queries),
  );
  if (extra.length) throw new RecshipError(`a ${raw.kind} check takes no "${extra[0]}"`, { where, fix: CHECKS_FIX });
  if (raw.kind !== "drift" && !raw.direction) {
    throw new RecshipError('the check needs "direction": lower or higher (which is better)', { where, fix: CHECKS_FIX });
  }
  const m =
    raw.margin === undefined
      ? { margin: raw.kind === "drift" ? 0.2 : 0.1, marginKind: "relative" as MarginKind }
      : parseMargin(raw.margin, "relative");
  return {
    name: raw.name,
    kind: raw.kind,
    description: raw.description ?? `user check (${raw.kind})`,
    direction: raw.direction ?? "lower",
    margin: m.margin,
    marginKind: raw.kind === "drift" ? "absolute" : m.marginKind,
    critical: raw.critical ?? true,
    minSamples: raw.minSamples ?? (raw.kind === "series" ? 3 : 50),
    ...(raw.fromWeight !== undefined ? { fromWeight: raw.fromWeight } : {}),
    queries,
    builtin: false,
  };
}

/**
 * The checks to run: the built-ins (each may be switched off or get another margin, critical
 * flag or minimum sample count under `builtins:`) plus the user's `checks:`, from inline YAML
 * or a YAML file. Every query is a PromQL template with $variant, $version, $namespace and
 * $interval. Unknown keys, bad values and queries that ignore $variant are errors naming the key.
 * `for: "watch"` starts from the drift watch's built-ins; a setting for a built-in of the other
 * set is ignored, so one file can serve both.
 */
export function loadChecks(source: string | undefined, options: { for?: "canary" | "watch" } = {}): CheckSpec[] {
  let checks = options.for === "watch" ? watchBuiltinChecks() : builtinChecks();
  if (!source || source.trim() === "") return checks;
  const { raw, where } = readYamlDocument(source, {
    noun: "checks",
    verb: "are",
    fileNoun: "checks file",
    inlineWhere: "inline checks",
    notMapping: { message: "the checks file must be a mapping (builtins:, checks:)", fix: CHECKS_FIX },
    fix: CHECKS_FIX,
    validate,
  });
  const given = raw as unknown as RawChecks;
  for (const [name, setting] of Object.entries(given.builtins ?? {})) {
    if (setting === false) {
      checks = checks.filter((c) => c.name !== name);
      continue;
    }
    if (setting === true) continue;
    checks = checks.map((c) => {
      if (c.name !== name) return c;
      const m = setting.margin === undefined ? { margin: c.margin, marginKind: c.marginKind } : parseMargin(setting.margin, c.marginKind);
      return {
        ...c,
        margin: m.margin,
        marginKind: c.kind === "proportion" ? m.marginKind : c.marginKind,
        critical: setting.critical ?? c.critical,
        minSamples: setting.minSamples ?? c.minSamples,
        ...(setting.fromWeight !== undefined ? { fromWeight: setting.fromWeight } : {}),
      };
    });
  }
  const seen = new Set(checks.map((c) => c.name));
  for (const [i, rawCheck] of (given.checks ?? []).entries()) {
    const at = `${where}: checks[${i}] (${rawCheck.name})`;
    if (seen.has(rawCheck.name)) {
      throw new RecshipError(`there is already a check named "${rawCheck.name}"`, {
        where: at,
        fix: "pick another name; built-ins are changed under `builtins:`",
      });
    }
    seen.add(rawCheck.name);
    checks.push(userCheck(rawCheck, at));
  }
  if (!checks.length) throw new RecshipError("every check is switched off: there is nothing to judge the canary by", { where });
  return checks;
}
