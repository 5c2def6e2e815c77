import { Ajv } from "ajv";
import { readYamlDocument } from "../../util/yaml-document.js";

const SEVERITIES = ["error", "warn", "off"] as const;
type Severity = (typeof SEVERITIES)[number];
export type CheckGroup = "schema" | "content" | "drift";

/** One check's policy: over `max` it is reported with its severity (error fails the step); its own settings beside. */
interface CheckPolicy {
  severity: Severity;
  max: number;
  /** bots, cold-items: fewer than this many events is cold; more than max(this, factor × median) is a bot. */
  "min-events"?: number;
  factor?: number;
  /** event-types: the known event names. */
  known?: string[];
  /** future-timestamps: how far ahead of now a timestamp may be (clock skew). */
  "tolerance-hours"?: number;
}

interface CheckDefinition extends CheckPolicy {
  group: CheckGroup;
  /** What `max` bounds, in words (the report's threshold column). */
  measures: string;
}

const check = (
  group: CheckGroup,
  severity: Severity,
  max: number,
  measures: string,
  extra: Partial<CheckPolicy> = {},
): CheckDefinition => ({
  group,
  severity,
  max,
  measures,
  ...extra,
});

/**
 * Every check, its group and its defaults: what a shop's log normally passes. Schema errors fail
 * at the first offender; content checks bound a share of rows, users or items; drift checks bound
 * the change from the previous model's data profile (warn by default: a shift is worth a look,
 * not always wrong).
 */
const CHECKS = {
  "required-columns": check("schema", "error", 0, "missing columns"),
  "malformed-rows": check("schema", "error", 0, "rows that do not parse"),
  "empty-ids": check("schema", "error", 0, "rows with an empty user or item id"),
  timestamps: check("schema", "error", 0, "rows whose timestamp does not parse"),
  "event-types": check("schema", "warn", 0, "rows with an unknown event type", {
    known: [
      "view",
      "click",
      "detail",
      "add_to_cart",
      "addtocart",
      "cart",
      "remove_from_cart",
      "wishlist",
      "like",
      "rating",
      "review",
      "checkout",
      "purchase",
      "transaction",
      "order",
      "search",
    ],
  }),
  utf8: check("schema", "error", 0, "lines that are not valid UTF-8"),
  gzip: check("schema", "error", 0, "a truncated or damaged gzip stream"),
  "duplicate-rows": check("content", "error", 0.05, "share of rows that repeat an earlier row exactly"),
  "repeated-events": check("content", "warn", 0.01, "share of rows repeating an earlier (user, item, time)"),
  "out-of-order": check("content", "warn", 0.01, "share of rows earlier than the user's previous row"),
  "future-timestamps": check("content", "error", 0, "rows dated after now (+ tolerance)", { "tolerance-hours": 24 }),
  bots: check("content", "warn", 0, "users with more than max(min-events, factor × median) events", { "min-events": 1000, factor: 50 }),
  "one-event-users": check("content", "warn", 0.5, "share of users with a single event"),
  "cold-items": check("content", "warn", 0.8, "share of items with fewer than min-events events", { "min-events": 2 }),
  "top-item-share": check("content", "error", 0.2, "share of all events on the most frequent item"),
  catalogue: check("content", "warn", 0.01, "share of events on items missing from the catalogue"),
  "row-count": check("drift", "warn", 0.5, "relative change of the row count"),
  "user-count": check("drift", "warn", 0.5, "relative change of the user count"),
  "item-count": check("drift", "warn", 0.5, "relative change of the item count"),
  "popularity-js": check("drift", "warn", 0.1, "Jensen-Shannon distance of item popularity (top items + the rest)"),
  "popularity-linf": check("drift", "warn", 0.01, "L-infinity distance of the top items' shares"),
  "history-length": check("drift", "warn", 0.1, "Jensen-Shannon distance of the history-length distribution"),
  "new-items": check("drift", "warn", 0.3, "share of events on items the previous data never had"),
  "event-mix": check("drift", "warn", 0.1, "L-infinity distance of the event-type shares"),
} satisfies Record<string, CheckDefinition>;

export type CheckName = keyof typeof CHECKS;
export type ValidationPolicy = Record<CheckName, CheckPolicy & { group: CheckGroup; measures: string }>;

const PARAMS: Record<string, object> = {
  "min-events": { type: "integer", minimum: 1 },
  factor: { type: "number", exclusiveMinimum: 0 },
  known: { type: "array", items: { type: "string" } },
  "tolerance-hours": { type: "number", minimum: 0 },
};

const policySchema = {
  type: "object",
  additionalProperties: false,
  properties: {
    checks: {
      type: "object",
      additionalProperties: false,
      properties: Object.fromEntries(
        Object.entries(CHECKS).map(([name, d]) => [
          name,
          {
            type: "object",
            additionalProperties: false,
            properties: {
              severity: { enum: SEVERITIES },
              max: { type: "number", minimum: 0 },
              ...Object.fromEntries(
                Object.keys(PARAMS)
                  .filter((p) => p in d)
                  .map((p) => [p, PARAMS[p]]),
              ),
            },
          },
        ]),
      ),
    },
  },
};

const validatePolicy = new Ajv({ allErrors: false, strict: false }).compile(policySchema);

const POLICY_FIX =
  "see actions/validate-data/policy.example.yml (every check with its default); e.g.\nchecks:\n  duplicate-rows: { severity: warn, max: 0.1 }\n  event-types: { known: [view, purchase] }";

/** The validation policy: the defaults, with a YAML document's overrides (inline or a file) check by check. */
export function loadPolicy(source: string | undefined): ValidationPolicy {
  const policy = structuredClone(CHECKS) as ValidationPolicy;
  if (!source || source.trim() === "") return policy;
  const { raw } = readYamlDocument(source, {
    noun: "validation policy",
    verb: "is",
    fileNoun: "policy file",
    inlineWhere: "inline policy",
    notMapping: { message: "the validation policy must be a mapping (checks:)", fix: POLICY_FIX },
    fix: POLICY_FIX,
    validate: validatePolicy,
  });
  const given = (raw.checks ?? {}) as Partial<Record<CheckName, Partial<CheckPolicy>>>;
  for (const [name, overrides] of Object.entries(given)) Object.assign(policy[name as CheckName], overrides);
  return policy;
}
