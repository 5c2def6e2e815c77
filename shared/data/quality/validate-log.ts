import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { RecshipError } from "../../errors.js";
import { readsThroughDuckDb, scanWithDuckDb } from "../duckdb-reader.js";
import { scanRows, type ReadOptions, type ScanInfo } from "../row-scanner.js";
import { contentChecks, driftChecks, schemaChecks, type CheckResult } from "./checks.js";
import { loadPolicy, type ValidationPolicy } from "./policy.js";
import { driftFigures, LENGTH_EDGES, newItemShare, profileOf, PROFILE_FILE, type DataProfile, type DriftFigures } from "./profile.js";
import { DataScan } from "./scan.js";

export interface ValidateLogOptions extends ReadOptions {
  data: string;
  /** The policy: YAML inline or a file (overrides of the defaults), or a loaded policy. */
  policy?: string | ValidationPolicy;
  /** Optional catalogue: one item id a line (CSV/TSV: the first column, after the header). */
  catalogue?: string;
  /** The previous data's profile to compare with. */
  baseline?: { profile: DataProfile; from: string };
  /** Unix seconds "now" for future timestamps (tests). */
  now?: number;
}

/** What validate-data found: every check, the data's profile, and the drift from the baseline. */
export interface DataReport {
  step: "validate";
  data: string;
  format: string;
  sha256: string;
  bytes: number;
  seconds: number;
  /** Data records (lines, or CSV rows), interactions kept, and interactions the event filter dropped. */
  records: number;
  rows: number;
  skippedByFilter: number;
  users: number;
  items: number;
  passed: boolean;
  errors: number;
  warnings: number;
  headline: string;
  checks: CheckResult[];
  profile: DataProfile;
  drift?: DriftFigures & { baseline: string; baselineCreatedAt: string };
  /** Users per history-length bucket now, for the chart (LENGTH_EDGES lower edges). */
  lengthEdges: number[];
}

async function readCatalogue(path: string): Promise<Set<string>> {
  if (!existsSync(path)) throw new RecshipError(`the catalogue "${path}" does not exist`, { fix: "pass a file with one item id a line" });
  const lines = (await readFile(path, "utf8")).split(/\r?\n/);
  const delimited = /\.(csv|tsv)$/i.test(path);
  const ids = (delimited ? lines.slice(1) : lines).map((l) => (delimited ? l.split(/[,\t]/)[0] : l).trim().replace(/^"|"$/g, ""));
  return new Set(ids.filter((id) => id !== "" && !id.startsWith("#")));
}

function summary(checks: CheckResult[]): Pick<DataReport, "passed" | "errors" | "warnings" | "headline"> {
  const errors = checks.filter((c) => c.status === "error");
  const warnings = checks.filter((c) => c.status === "warn");
  const names = (list: CheckResult[]) => list.map((c) => c.name).join(", ");
  const headline =
    errors.length > 0
      ? `the data fails ${errors.length} check${errors.length > 1 ? "s" : ""}: ${names(errors)}`
      : warnings.length > 0
        ? `the data passes, with ${warnings.length} warning${warnings.length > 1 ? "s" : ""}: ${names(warnings)}`
        : "the data passes every check";
  return { passed: errors.length === 0, errors: errors.length, warnings: warnings.length, headline };
}

/** The checks of a finished scan (content and drift only when the whole file was read). */
function allChecks(scan: DataScan, info: ScanInfo, options: ValidateLogOptions, policy: ValidationPolicy, catalogue?: Set<string>) {
  const has = { time: !!options.timeColumn, event: !!options.eventColumn, gzip: info.gzip };
  const schema = schemaChecks(scan, policy, has);
  if (scan.stopped || scan.rows === 0) {
    const why = scan.stopped ? "the file could not be read to the end" : "no rows to check";
    const rest = [...contentChecks(scan, policy, has, catalogue), ...driftChecks(policy, undefined)];
    return { checks: [...schema, ...rest.map((c) => ({ ...c, status: "skipped" as const, message: why, fix: undefined, offenders: [] }))] };
  }
  const profile = profileOf(scan, { file: options.data, format: info.format, sha256: info.sha256 });
  const base = options.baseline?.profile;
  const drift = base ? driftFigures(profile, base, (id) => scan.eventsOf(id)) : undefined;
  const checks = [
    ...schema,
    ...contentChecks(scan, policy, has, catalogue),
    ...driftChecks(policy, drift, base && newItemShare(scan, base)),
  ];
  return { checks, profile, drift };
}

/**
 * Validates an interaction log in one streaming pass: schema, content, and drift from the
 * previous data's profile when one is given. Reads exactly what train-model reads, with the same
 * options, and changes nothing.
 */
export async function validateLog(options: ValidateLogOptions): Promise<DataReport> {
  const started = performance.now();
  const policy = typeof options.policy === "object" ? options.policy : loadPolicy(options.policy);
  const catalogue = options.catalogue ? await readCatalogue(options.catalogue) : undefined;
  const scan = new DataScan(options, {
    known: policy["event-types"].known,
    now: options.now ?? Date.now() / 1000,
    toleranceHours: policy["future-timestamps"]["tolerance-hours"] ?? 24,
  });
  const info = readsThroughDuckDb(options.data, options)
    ? await scanWithDuckDb(options.data, options, scan)
    : await scanRows(options.data, options, scan);
  const { checks, profile, drift } = allChecks(scan, info, options, policy, catalogue);
  return {
    step: "validate",
    data: options.data,
    format: info.format,
    sha256: info.sha256,
    bytes: info.bytes,
    seconds: (performance.now() - started) / 1000,
    records: scan.records,
    rows: scan.rows,
    skippedByFilter: scan.skippedByFilter,
    users: scan.users,
    items: scan.items,
    ...summary(checks),
    checks,
    profile: profile ?? profileOf(scan, { file: options.data, format: info.format, sha256: info.sha256 }),
    ...(drift && options.baseline
      ? { drift: { ...drift, baseline: options.baseline.from, baselineCreatedAt: options.baseline.profile.createdAt } }
      : {}),
    lengthEdges: LENGTH_EDGES,
  };
}

/** A data profile from a file (data-profile.json, or a bundle folder holding one). */
export async function readProfile(path: string): Promise<{ profile: DataProfile; from: string }> {
  const file = existsSync(`${path}/${PROFILE_FILE}`) ? `${path}/${PROFILE_FILE}` : path;
  let profile: DataProfile;
  try {
    profile = JSON.parse(await readFile(file, "utf8")) as DataProfile;
  } catch (cause) {
    throw new RecshipError(`cannot read the data profile "${file}"`, {
      fix: `pass a ${PROFILE_FILE} (or a bundle folder holding one) written by validate-data or train-model`,
      cause,
    });
  }
  if (profile?.schemaVersion !== 1 || !Array.isArray(profile.topItems) || !Array.isArray(profile.lengths)) {
    throw new RecshipError(`"${file}" is not a recship data profile`, {
      fix: `pass a ${PROFILE_FILE} written by validate-data or train-model`,
    });
  }
  return { profile, from: file };
}
