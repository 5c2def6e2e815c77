import { RecshipError } from "../../errors.js";
import type { Logger } from "../../log.js";
import type { DataReport } from "./validate-log.js";

/** The data failed a check at severity error: reported, and the step fails (unless told not to). */
export class DataInvalid extends RecshipError {}

/** Each flagged check as a log line (warnings with the file and line of the first offender). */
export function logChecks(report: DataReport, log: Logger): void {
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
