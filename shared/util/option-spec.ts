import { RecshipError } from "../errors.js";
import { int, list, nonNegative, number, oneOf } from "./parse.js";

/**
 * One declaration per option of a step: the CLI registers its flags from it, the action reads
 * its inputs through it, and the action's action.yml `inputs:` block is generated from it
 * (scripts/gen-action-inputs.ts, checked in CI). Defaults live here only: both front ends hand
 * over the raw text (undefined when not given) and the reader applies the default.
 */
export type FrontEnd = "cli" | "action";

export type OptionKind =
  /** any text */
  | "text"
  /** a whole number */
  | "int"
  /** a number > 0 */
  | "positive"
  /** a number ≥ 0 */
  | "nonnegative"
  /** true / false (a CLI switch) */
  | "boolean"
  /** comma- or newline-separated values */
  | "list"
  /** one of `choices` */
  | "choice"
  /** one value a line (action input), a repeatable flag (CLI): values that may hold commas, e.g. headers */
  | "lines";

export interface OptionSpec {
  /** kebab-case: the action input's name, and the CLI flag's unless `flag` is given. */
  name: string;
  kind: OptionKind;
  description: string;
  /** As text, the way action.yml states it. */
  default?: string;
  required?: boolean;
  choices?: readonly string[];
  /** The CLI flag when it differs from the input's name (kept for compatibility, e.g. `user-col`). */
  flag?: string;
  /** The front ends that offer it (default both). */
  frontEnds?: readonly FrontEnd[];
  /** CLI only: the placeholder in --help (default derived from the kind). */
  placeholder?: string;
  /**
   * A deployment setting recorded on the live objects: its default is documented (action.yml,
   * --help) but not applied by the reader, and a value equal to it reads as not given. The runner
   * fills action.yml's default in when an input is missing, so only a value really given
   * differently counts; an update (promote, set-weight) keeps the recorded setting, a new
   * deployment gets the library's default (the same value).
   */
  recorded?: boolean;
}

export function offeredBy(spec: OptionSpec, frontEnd: FrontEnd): boolean {
  return !spec.frontEnds || spec.frontEnds.includes(frontEnd);
}

/** The CLI flag of an option, without dashes. */
export function flagOf(spec: OptionSpec): string {
  return spec.flag ?? spec.name;
}

const quote = (text: string) => `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

/** The `inputs:` block of an action.yml for a spec: the options the action offers, in the spec's order. */
export function actionInputsYaml(specs: readonly OptionSpec[]): string {
  const lines = ["inputs:"];
  for (const spec of specs.filter((s) => offeredBy(s, "action"))) {
    lines.push(`  ${spec.name}:`, `    description: ${quote(spec.description)}`, `    required: ${spec.required ? "true" : "false"}`);
    if (spec.default !== undefined) lines.push(`    default: ${quote(spec.default)}`);
  }
  return `${lines.join("\n")}\n`;
}

/** Raw values by option name, and how a front end names an option in an error ("--epochs", "input epochs"). */
export interface OptionSource {
  get(name: string): string | undefined;
  where(name: string): string;
  /** The front end the values come from: only the options it offers are read (a name may be declared once per front end). */
  frontEnd?: FrontEnd;
}

/**
 * Typed reads of a step's options from a front end's raw values. Each getter checks that the
 * option is declared with that kind (a mismatch is a bug, not a user error) and applies the
 * declared default; a bad value is a RecshipError naming the flag or input.
 */
export class OptionReader {
  private readonly specs: Map<string, OptionSpec>;

  constructor(
    specs: readonly OptionSpec[],
    private readonly source: OptionSource,
  ) {
    const offered = source.frontEnd ? specs.filter((s) => offeredBy(s, source.frontEnd!)) : specs;
    this.specs = new Map(offered.map((s) => [s.name, s]));
    if (source.frontEnd && this.specs.size !== offered.length) throw new Error(`an option is declared twice for the ${source.frontEnd}`);
    this.elsewhere = new Map(specs.filter((s) => !this.specs.has(s.name)).map((s) => [s.name, s]));
  }

  /** Options only another front end offers: a shared reader may ask for them, they read as not given. */
  private readonly elsewhere: Map<string, OptionSpec>;

  private raw(name: string, kinds: readonly OptionKind[]): { spec: OptionSpec; value: string | undefined } {
    const spec = this.specs.get(name) ?? this.elsewhere.get(name);
    if (!spec) throw new Error(`option ${name} is not declared`);
    if (!kinds.includes(spec.kind)) throw new Error(`option ${name} is declared as ${spec.kind}, read as ${kinds.join("/")}`);
    if (!this.specs.has(name)) return { spec, value: undefined };
    const given = this.source.get(name);
    if (spec.recorded) return { spec, value: given === "" || given === spec.default ? undefined : given };
    const value = given === undefined || given === "" ? spec.default : given;
    if (spec.required && (value === undefined || value === "")) {
      throw new RecshipError(`${this.source.where(name)} is required`, { fix: spec.description });
    }
    return { spec, value };
  }

  /** How the front end names the option in a message ("--epochs", "input epochs"). */
  where(name: string): string {
    return this.source.where(name);
  }

  text(name: string): string | undefined {
    return this.raw(name, ["text"]).value;
  }

  /** A required text option (declared `required` or with a default). */
  requiredText(name: string): string {
    const v = this.text(name);
    if (v === undefined) throw new Error(`option ${name} has neither a default nor required: true`);
    return v;
  }

  int(name: string): number | undefined {
    return int(this.raw(name, ["int"]).value, this.source.where(name));
  }

  positive(name: string): number | undefined {
    return number(this.raw(name, ["positive"]).value, this.source.where(name));
  }

  nonnegative(name: string): number | undefined {
    return nonNegative(this.raw(name, ["nonnegative"]).value, this.source.where(name));
  }

  boolean(name: string): boolean {
    const { value } = this.raw(name, ["boolean"]);
    const v = (value ?? "").trim().toLowerCase();
    if (v === "" || v === "false" || v === "no" || v === "0") return false;
    if (v === "true" || v === "yes" || v === "1") return true;
    throw new RecshipError(`${this.source.where(name)} must be true or false, got "${value}"`);
  }

  /** A boolean that may be left unset (no default): undefined, so a lower layer's setting stands. */
  optionalBoolean(name: string): boolean | undefined {
    const { spec, value } = this.raw(name, ["boolean"]);
    if (spec.default !== undefined) throw new Error(`option ${name} has a default: read it with boolean()`);
    return value === undefined || value === "" ? undefined : this.boolean(name);
  }

  /** One value a line (blank lines dropped); the CLI joins a repeated flag's values with newlines. */
  lines(name: string): string[] {
    const { value } = this.raw(name, ["lines"]);
    return (value ?? "")
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean);
  }

  list(name: string): string[] | undefined {
    return list(this.raw(name, ["list"]).value);
  }

  choice<T extends string>(name: string): T | undefined {
    const { spec, value } = this.raw(name, ["choice"]);
    return value === undefined ? undefined : oneOf(value, spec.choices as readonly T[], this.source.where(name));
  }
}
