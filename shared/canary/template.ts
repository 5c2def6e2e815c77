import { RecshipError } from "../errors.js";
import type { TemplateVars } from "./types.js";

const PATTERN = /\$\{(variant|version|namespace|interval)\}|\$(variant|version|namespace|interval)\b/g;

/** A PromQL string literal's inside: backslashes and double quotes escaped. */
function quoteInside(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
}

/**
 * Fills `$variant`, `$version`, `$namespace` and `$interval` (or `${name}`) into a PromQL
 * template. Values go inside double-quoted label matchers, so quotes and backslashes are
 * escaped; `$namespace` is a regular expression (default `.*`: any or none).
 */
export function renderTemplate(template: string, vars: TemplateVars): string {
  return template.replace(PATTERN, (_m, a: string | undefined, b: string | undefined) => {
    const name = (a ?? b) as keyof TemplateVars;
    return name === "interval" ? vars.interval : quoteInside(vars[name]);
  });
}

/** Which template variables a query uses. */
function templateVariables(template: string): Set<string> {
  const used = new Set<string>();
  for (const m of template.matchAll(PATTERN)) used.add(m[1] ?? m[2]);
  return used;
}

/** A user's query must tell the variants apart, or canary and stable would measure the same series. */
export function checkTemplate(template: string, where: string): void {
  if (!template.trim()) throw new RecshipError("the query is empty", { where });
  if (!templateVariables(template).has("variant")) {
    throw new RecshipError("the query does not use $variant, so canary and stable would measure the same series", {
      where,
      fix: 'select by variant, e.g. recship_http_requests_total{variant="$variant"}',
    });
  }
}

/** A Prometheus duration for a window of `ms` milliseconds (whole seconds, at least 1s). */
export function promDuration(ms: number): string {
  return `${Math.max(1, Math.round(ms / 1000))}s`;
}
