import { existsSync, readFileSync } from "node:fs";
import type { ValidateFunction } from "ajv";
import { parse as parseYaml } from "yaml";
import { RecshipError } from "../errors.js";

/** How a kind of YAML document (config, gate rules, canary checks) is named in messages. */
export interface YamlDocumentKind {
  /** "config", "gate rules", "checks": what "the … is / are not valid YAML" and "invalid …:" say. */
  noun: string;
  /** "is" or "are", to agree with the noun. */
  verb: "is" | "are";
  /** "config file", "rules file", "checks file". */
  fileNoun: string;
  /** Names the inline text as the error's place: "inline rules". */
  inlineWhere: string;
  /** The error when the document is not a mapping, with its fix. */
  notMapping: { message: string; fix: string };
  /** The fix for a schema error. */
  fix: string;
  validate: ValidateFunction;
}

/**
 * A YAML/JSON document given inline or as a file path (a single line without `:` or `{`),
 * parsed and checked against its JSON schema (Ajv). Every failure is a RecshipError naming the
 * file (or "inline …") and the first bad key: a missing file, a YAML syntax error, a document
 * that is not a mapping, an unknown key, a bad value.
 */
export function readYamlDocument(source: string, kind: YamlDocumentKind): { raw: Record<string, unknown>; where: string } {
  const isFile = !source.includes("\n") && !source.includes(":") && !source.includes("{");
  if (isFile && !existsSync(source)) {
    throw new RecshipError(`the ${kind.fileNoun} "${source}" does not exist`, {
      fix: "pass a YAML file path, or the document inline as YAML",
    });
  }
  const where = isFile ? source : kind.inlineWhere;
  let raw: unknown;
  try {
    raw = parseYaml(isFile ? readFileSync(source, "utf8") : source) ?? {};
  } catch (cause) {
    throw new RecshipError(`the ${kind.noun} ${kind.verb} not valid YAML: ${(cause as Error).message.split("\n")[0]}`, { where, cause });
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new RecshipError(kind.notMapping.message, { where, fix: kind.notMapping.fix });
  }
  if (!kind.validate(raw)) throw new RecshipError(`invalid ${kind.noun}: ${firstSchemaError(kind.validate)}`, { where, fix: kind.fix });
  return { raw: raw as Record<string, unknown>, where };
}

/** Ajv's first error as a person reads it: `unknown key "x" under a.b`, or `a.b must be ...`. */
function firstSchemaError(validate: ValidateFunction): string {
  const e = validate.errors![0];
  const key = e.instancePath.replace(/^\//, "").replace(/\//g, ".") || "(top level)";
  return e.keyword === "additionalProperties"
    ? `unknown key "${(e.params as { additionalProperty: string }).additionalProperty}" under ${key}`
    : `${key} ${e.message}`;
}
