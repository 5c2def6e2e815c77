import { writeFile } from "node:fs/promises";
import type { Logger } from "../log.js";
import { logChecks } from "../data/quality/outcome.js";
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

/** validate-data: read the log once, run every check, compare with the baseline profile, write the profile. */
export async function validateData(options: ValidateDataOptions): Promise<DataReport> {
  const { log } = options;
  const baseline = options.baselineProfile ? await readProfile(options.baselineProfile) : undefined;
  const report = await log.group(`validating ${options.data}`, () => validateLog({ ...options, baseline }));
  logChecks(report, log);
  if (options.profileOut) await writeFile(options.profileOut, `${JSON.stringify(report.profile)}\n`);
  return report;
}
