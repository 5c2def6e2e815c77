import type { OptionSpec } from "../../util/option-spec.js";

/** The validation options train-model offers too (its `validate` switch turns them on). */
export const POLICY_OPTIONS: readonly OptionSpec[] = [
  {
    name: "policy",
    kind: "text",
    placeholder: "yaml-or-file",
    description:
      "Validation policy: inline YAML or a YAML file overriding each check's severity (error, warn, off) and max (actions/validate-data/policy.example.yml lists every check and its default)",
  },
  {
    name: "catalogue",
    kind: "text",
    placeholder: "file",
    description: "Item catalogue, one id a line (CSV/TSV: the first column): items missing from it are reported",
  },
  {
    name: "baseline-profile",
    kind: "text",
    placeholder: "file-or-dir",
    description: "The previous data's profile (data-profile.json, or a bundle folder holding one) to check drift against",
  },
];
