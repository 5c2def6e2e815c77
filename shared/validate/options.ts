import { readOptionSpecs, readOptionsFrom } from "../data/read-options.js";
import { POLICY_OPTIONS } from "../data/quality/options.js";
import type { OptionReader, OptionSpec } from "../util/option-spec.js";
import type { ValidateDataOptions } from "./validate-data.js";

/** validate-data's options: `recship validate` flags and the action's inputs (action.yml is generated from this). */
export const VALIDATE_OPTIONS: readonly OptionSpec[] = [
  {
    name: "data",
    kind: "text",
    required: true,
    placeholder: "file",
    description:
      "Interaction log to validate, read as train-model reads it: CSV/TSV with a header, JSON Lines, `user item` pairs or one sequence per line (gzip ok), or Parquet (a file, a folder or a glob)",
  },
  ...readOptionSpecs(),
  ...POLICY_OPTIONS,
  {
    name: "profile-out",
    kind: "text",
    placeholder: "file",
    description: "Write the data's profile (data-profile.json) here, for the next run's drift checks",
  },
  { name: "fail-on-error", kind: "boolean", default: "true", description: "Fail when a check at severity error fails (off: report only)" },
  {
    name: "markdown",
    kind: "text",
    frontEnds: ["cli"],
    placeholder: "file",
    description: "Write the markdown report here (default: stdout)",
  },
  {
    name: "report",
    kind: "text",
    placeholder: "file",
    description: "Also write the JSON report to this path (the action's default: validate-data-report.json)",
  },
];

export function validateOptionsFrom(o: OptionReader): Omit<ValidateDataOptions, "log"> {
  return {
    data: o.requiredText("data"),
    ...readOptionsFrom(o),
    policy: o.text("policy"),
    catalogue: o.text("catalogue"),
    baselineProfile: o.text("baseline-profile"),
    profileOut: o.text("profile-out"),
  };
}
