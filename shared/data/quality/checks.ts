import type { CheckGroup, CheckName, ValidationPolicy } from "./policy.js";
import type { newItemShare, DriftFigures } from "./profile.js";
import type { DataScan, Offender } from "./scan.js";

type CheckStatus = "pass" | "warn" | "error" | "off" | "skipped";

/** One check's outcome: the measured value against the policy's max, and where the first offenders are. */
export interface CheckResult {
  name: CheckName;
  group: CheckGroup;
  status: CheckStatus;
  value: number;
  max: number;
  measures: string;
  /** What was found (or why the check was skipped). */
  message: string;
  /** How to fix it (flagged checks). */
  fix?: string;
  /** How many rows (users, items) are affected. */
  count: number;
  offenders: Offender[];
}

/** How to fix what each check flags. */
const FIXES: Record<CheckName, string> = {
  "required-columns": "name the columns with --user-col/--item-col/--time-col/--event-col (inputs user-column, ...)",
  "malformed-rows": "repair or drop the rows; check the format and the quoting",
  "empty-ids": "drop rows without a user or item id, or fix the export that left them empty",
  timestamps: "use Unix seconds/milliseconds or ISO-8601 dates, or drop the time column to use file order",
  "event-types": "list your event names in the policy (checks.event-types.known), or filter them with --event-filter",
  utf8: "re-export the log as UTF-8 (ids that differ by a broken byte are different items)",
  gzip: "the gzip stream is cut short or damaged: copy or download the file again",
  "duplicate-rows": "de-duplicate the log (an export or a load that ran twice?)",
  "repeated-events": "drop events repeated with the same timestamp (a tracker firing twice?)",
  "out-of-order": "sort the export by time; the reader orders each user by time, but an unsorted export often means mixed sources",
  "future-timestamps": "check the clock and the unit (seconds vs milliseconds) of the time column",
  bots: "filter crawlers and test accounts out of the log, or raise checks.bots.min-events",
  "one-event-users": "check the user column (a session id instead of a user id?), or raise checks.one-event-users.max",
  "cold-items": "check the item column, or apply --k-core to drop rare items",
  "top-item-share": "check the item column for a placeholder id (empty, 0, null, unknown)",
  catalogue: "check that the log and the catalogue use the same item ids",
  "row-count": "check that the whole log was exported (or raise checks.row-count.max if the shop changed)",
  "user-count": "check the user column and the export's time window",
  "item-count": "check the item column and the catalogue export",
  "popularity-js": "a shifted item popularity: check for a campaign, a tracking change or a broken item column",
  "popularity-linf": "one item's share moved: check for a campaign or a placeholder id",
  "history-length": "history lengths changed: check sessionisation, the user column and the export's time window",
  "new-items": "many events on items the previous model never saw: check that item ids did not change format",
  "event-mix": "the mix of event types changed: check the tracker and the event filter",
};

/** top-item-share is judged from this many items on. */
const MIN_ITEMS = 100;

const pct = (v: number) => `${(v * 100).toFixed(v < 0.001 ? 3 : 1)}%`;

/** A check's result from its measured value and the policy. */
function judge(
  policy: ValidationPolicy,
  name: CheckName,
  measured: { value: number; count: number; message: string; offenders?: Offender[] } | { skipped: string },
): CheckResult {
  const p = policy[name];
  const base = { name, group: p.group, max: p.max, measures: p.measures };
  if ("skipped" in measured) return { ...base, status: "skipped", value: 0, message: measured.skipped, count: 0, offenders: [] };
  const flagged = measured.value > p.max;
  const status: CheckStatus = p.severity === "off" ? "off" : !flagged ? "pass" : p.severity;
  return {
    ...base,
    status,
    value: measured.value,
    message: measured.message,
    ...(flagged ? { fix: FIXES[name] } : {}),
    count: measured.count,
    offenders: measured.offenders ?? [],
  };
}

/** Rows a check counted, with their first offenders and the scanner's own message when it has one. */
function rowCheck(scan: DataScan, name: CheckName, what: string, share?: number) {
  const count = scan.offenders.count(name);
  const detail = scan.offenders.messages.get(name)?.message;
  const value = share === undefined ? count : count / Math.max(1, share);
  const ofRows = share === undefined ? "" : ` (${pct(value)})`;
  return {
    value,
    count,
    message: count === 0 ? `no ${what}` : `${count} ${what}${ofRows}${detail ? `: ${detail}` : ""}`,
    offenders: scan.offenders.first.get(name),
  };
}

/** The schema checks: the first offending lines of each. */
export function schemaChecks(
  scan: DataScan,
  policy: ValidationPolicy,
  has: { time: boolean; event: boolean; gzip: boolean },
): CheckResult[] {
  return [
    judge(policy, "required-columns", rowCheck(scan, "required-columns", "missing columns")),
    judge(policy, "malformed-rows", rowCheck(scan, "malformed-rows", "malformed rows")),
    judge(policy, "empty-ids", rowCheck(scan, "empty-ids", "rows without a user or item id")),
    judge(policy, "timestamps", has.time ? rowCheck(scan, "timestamps", "unparseable timestamps") : { skipped: "no time column" }),
    judge(
      policy,
      "event-types",
      has.event ? rowCheck(scan, "event-types", "rows with an unknown event type") : { skipped: "no event column" },
    ),
    judge(policy, "utf8", rowCheck(scan, "utf8", "lines with invalid UTF-8")),
    judge(policy, "gzip", has.gzip ? rowCheck(scan, "gzip", "read failures") : { skipped: "not gzipped" }),
  ];
}

/** Users or items matching `test`, in the order they first appear: how many, and the first five. */
function firstOf(n: number, test: (k: number) => boolean, describe: (k: number) => Offender): { count: number; offenders: Offender[] } {
  const offenders: Offender[] = [];
  let count = 0;
  for (let k = 0; k < n; k++) {
    if (!test(k)) continue;
    count++;
    if (offenders.length < 5) offenders.push(describe(k));
  }
  return { count, offenders };
}

function median(values: Int32Array, n: number): number {
  if (n === 0) return 0;
  const sorted = values.slice(0, n).sort();
  return sorted[n >> 1];
}

/** Bots, one-event users, cold items, one item's share. */
function populationChecks(scan: DataScan, policy: ValidationPolicy): CheckResult[] {
  const { users, items, rows } = scan;
  const b = policy.bots;
  const limit = Math.max(b["min-events"] ?? 1000, (b.factor ?? 50) * median(scan.userEvents, users));
  const user = (u: number) => ({ line: scan.userFirstLine[u], value: `${scan.userIds[u]} (${scan.userEvents[u]} events)` });
  const item = (i: number) => ({ line: scan.itemFirstLine[i], value: `${scan.itemIds[i]} (${scan.itemEvents[i]} events)` });
  const bots = firstOf(users, (u) => scan.userEvents[u] > limit, user);
  const single = firstOf(users, (u) => scan.userEvents[u] === 1, user);
  const coldMin = policy["cold-items"]["min-events"] ?? 2;
  const cold = firstOf(items, (i) => scan.itemEvents[i] < coldMin, item);
  let top = 0;
  for (let i = 1; i < items; i++) if (scan.itemEvents[i] > scan.itemEvents[top]) top = i;
  const topShare = items > 0 ? scan.itemEvents[top] / Math.max(1, rows) : 0;
  const topItem = {
    value: topShare,
    count: scan.itemEvents[top] ?? 0,
    message: `item "${scan.itemIds[top]}" has ${pct(topShare)} of all events`,
    offenders: items > 0 ? [item(top)] : [],
  };
  return [
    judge(policy, "bots", {
      value: bots.count,
      count: bots.count,
      message: `${bots.count} users with more than ${limit} events`,
      offenders: bots.offenders,
    }),
    judge(policy, "one-event-users", {
      value: single.count / Math.max(1, users),
      count: single.count,
      message: `${single.count} of ${users} users (${pct(single.count / Math.max(1, users))}) have a single event`,
      offenders: single.offenders,
    }),
    judge(policy, "cold-items", {
      value: cold.count / Math.max(1, items),
      count: cold.count,
      message: `${cold.count} of ${items} items (${pct(cold.count / Math.max(1, items))}) have fewer than ${coldMin} events`,
      offenders: cold.offenders,
    }),
    // with a small catalogue one item's large share is normal: judged from MIN_ITEMS items on
    judge(policy, "top-item-share", items >= MIN_ITEMS ? topItem : { skipped: `fewer than ${MIN_ITEMS} items` }),
  ];
}

function catalogueCheck(scan: DataScan, policy: ValidationPolicy, catalogue: Set<string> | undefined): CheckResult {
  if (!catalogue) return judge(policy, "catalogue", { skipped: "no catalogue given" });
  let events = 0;
  const missing = firstOf(
    scan.items,
    (i) => !catalogue.has(scan.itemIds[i]),
    (i) => ({ line: scan.itemFirstLine[i], value: scan.itemIds[i] }),
  );
  for (let i = 0; i < scan.items; i++) if (!catalogue.has(scan.itemIds[i])) events += scan.itemEvents[i];
  const share = events / Math.max(1, scan.rows);
  return judge(policy, "catalogue", {
    value: share,
    count: missing.count,
    message: `${missing.count} items (${pct(share)} of events) are not in the catalogue`,
    offenders: missing.offenders,
  });
}

/** The content checks: repeats, time, the shape of the user and item populations, the catalogue. */
export function contentChecks(scan: DataScan, policy: ValidationPolicy, has: { time: boolean }, catalogue?: Set<string>): CheckResult[] {
  const noTime = { skipped: "no time column" };
  return [
    judge(policy, "duplicate-rows", rowCheck(scan, "duplicate-rows", "rows repeat an earlier row exactly", scan.records)),
    judge(
      policy,
      "repeated-events",
      has.time ? rowCheck(scan, "repeated-events", "rows repeat an earlier (user, item, time)", scan.rows) : noTime,
    ),
    judge(
      policy,
      "out-of-order",
      has.time ? rowCheck(scan, "out-of-order", "rows are earlier than the user's previous row", scan.rows) : noTime,
    ),
    judge(policy, "future-timestamps", has.time ? rowCheck(scan, "future-timestamps", "rows are dated in the future") : noTime),
    ...populationChecks(scan, policy),
    catalogueCheck(scan, policy, catalogue),
  ];
}

/** The drift checks against the previous data's profile. */
export function driftChecks(
  policy: ValidationPolicy,
  d: DriftFigures | undefined,
  newItems?: ReturnType<typeof newItemShare>,
): CheckResult[] {
  const names: CheckName[] = [
    "row-count",
    "user-count",
    "item-count",
    "popularity-js",
    "popularity-linf",
    "history-length",
    "new-items",
    "event-mix",
  ];
  if (!d) return names.map((n) => judge(policy, n, { skipped: "no baseline profile" }));
  const m = d.movedItem;
  const figure = (value: number, message: string, offenders?: Offender[]) => ({ value, count: 0, message, offenders });
  return [
    judge(policy, "row-count", figure(d.rowChange, `rows changed by ${pct(d.rowChange)}`)),
    judge(policy, "user-count", figure(d.userChange, `users changed by ${pct(d.userChange)}`)),
    judge(policy, "item-count", figure(d.itemChange, `items changed by ${pct(d.itemChange)}`)),
    judge(policy, "popularity-js", figure(d.popularityJs, `JS distance ${d.popularityJs.toFixed(4)}`)),
    judge(policy, "popularity-linf", figure(d.popularityLinf, `item "${m.item}" went from ${pct(m.before)} to ${pct(m.after)} of events`)),
    judge(policy, "history-length", figure(d.lengthJs, `JS distance ${d.lengthJs.toFixed(4)}`)),
    newItems
      ? judge(
          policy,
          "new-items",
          figure(
            newItems.share,
            `${pct(newItems.share)} of events are on new items`,
            newItems.first ? [{ line: newItems.first.line, value: newItems.first.item }] : [],
          ),
        )
      : judge(policy, "new-items", { skipped: "needs the log, not only its profile" }),
    judge(policy, "event-mix", figure(d.eventMixLinf, `largest change of one event type's share: ${pct(d.eventMixLinf)}`)),
  ];
}
