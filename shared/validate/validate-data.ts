import { writeFile } from "node:fs/promises";
import { RecshipError } from "../errors.js";
import type { Logger } from "../log.js";
import { readProfile, validateLog, type DataReport } from "../data/quality/validate-log.js";
import type { ReadOptions } from "../data/readers.js";

export interface ValidateDataOptions extends ReadOptions {
  data: string;
  /** Inline YAML or a YAML file of policy overrides. */
  policy?: string;
  catalogue?: string;
  /** data-profile.json, or a bundle folder holding one. */
  baselineProfile?: string;
  /** Where to write this data's profile. */
  profileOut?: string;
  log: Logger;
  /** Unix seconds "now" (tests). */
  now?: number;
}

/** The data failed a check at severity error: reported, and the step fails (unless told not to). */
export class DataInvalid extends RecshipError {}

/** Each flagged check as a log line (warnings with the file and line of the first offender). */
function logChecks(report: DataReport, log: Logger): void {
  for (const c of report.checks.filter((c) => c.status === "error" || c.status === "warn")) {
    const first = c.offenders[0];
    const where = first ? ` (first: ${report.data}:${first.line}: ${first.value})` : "";
    log.warn(
      `${c.status === "error" ? "error" : "warning"}: ${c.name}: ${c.message}${where}`,
      first ? { file: report.data, line: first.line } : undefined,
    );
  }
  log.info(`${report.headline} (${report.rows} rows, ${report.users} users, ${report.items} items in ${report.seconds.toFixed(1)}s)`);
}

/** The error that fails the step when the report has errors. */
export function invalidDataError(report: DataReport): DataInvalid {
  const first = report.checks.find((c) => c.status === "error")!;
  const at = first.offenders[0] ? `${report.data}:${first.offenders[0].line}` : report.data;
  return new DataInvalid(report.headline, {
    where: at,
    fix: `${first.fix ?? "see the report"}; or relax the check in the policy (checks.${first.name})`,
  });
}

/** validate-data: read the log once, run every check, compare with the baseline profile, write the profile. */
export async function validateData(options: ValidateDataOptions): Promise<DataReport> {
  const { log } = options;
  const baseline = options.baselineProfile ? await readProfile(options.baselineProfile) : undefined;
  const report = await log.group(`validating ${options.data}`, () => validateLog({ ...options, baseline }));
  logChecks(report, log);
  if (options.profileOut) await writeFile(options.profileOut, `${JSON.stringify(report.profile)}\n`);
  return report;
}
