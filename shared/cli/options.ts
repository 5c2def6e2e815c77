import { Option, type Command } from "commander";
import { flagOf, offeredBy, type OptionSource, type OptionSpec } from "../util/option-spec.js";

/** Commander's key for a flag: `--user-col` → `userCol`. */
const camel = (flag: string) => flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Registers a step's CLI flags from its option spec (defaults are applied by the reader, shown in --help). */
export function registerOptions(command: Command, specs: readonly OptionSpec[]): Command {
  for (const spec of specs.filter((s) => offeredBy(s, "cli"))) {
    const flag = flagOf(spec);
    const placeholder =
      spec.placeholder ??
      (spec.kind === "list" ? "list" : spec.kind === "text" || spec.kind === "lines" ? "value" : spec.kind === "choice" ? "name" : "n");
    // choices are checked by the reader (one error format for both front ends), listed here
    const choices = spec.choices && !spec.description.includes(spec.choices[0]) ? ` (${spec.choices.join(", ")})` : "";
    const shownDefault = spec.default !== undefined && spec.kind !== "boolean" ? ` (default: ${spec.default})` : "";
    // a switch that is on by default is turned off with --no-<flag> (commander then defaults it to true)
    const negated = spec.kind === "boolean" && spec.default === "true";
    const option = new Option(
      spec.kind === "boolean" ? `--${negated ? "no-" : ""}${flag}` : `--${flag} <${placeholder}>`,
      (negated ? "turn off: " : "") +
        lowerFirst(spec.description) +
        choices +
        shownDefault +
        (spec.kind === "lines" ? " (repeatable)" : ""),
    );
    if (spec.kind === "lines") option.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
    if (spec.required) option.makeOptionMandatory();
    command.addOption(option);
  }
  return command;
}

/** The raw values commander parsed, by option name, for an OptionReader. */
export function cliSource(specs: readonly OptionSpec[], values: Record<string, unknown>): OptionSource {
  const byName = new Map(specs.filter((s) => offeredBy(s, "cli")).map((s) => [s.name, s]));
  const flag = (name: string) => flagOf(byName.get(name) ?? { name, kind: "text", description: "" });
  return {
    get: (name) => {
      const v = values[camel(flag(name))];
      if (v === undefined) return undefined;
      return Array.isArray(v) ? v.join("\n") : String(v);
    },
    where: (name) => `--${flag(name)}`,
    frontEnd: "cli",
  };
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
