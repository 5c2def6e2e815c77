import { RecshipError } from "../errors.js";

/**
 * `recship serve` tuning flags a deployment may pass to its servers, with the range each value
 * must lie in. The rest (port, host, bundle, variant, device, request ids) is the deployment's
 * own business, and test-only switches (fault injection) never reach a deployed server.
 */
export const SERVER_TUNING_FLAGS: Readonly<Record<string, { min: number; max: number; integer: boolean }>> = {
  "--workers": { min: 0, max: 64, integer: true },
  "--threads": { min: 1, max: 256, integer: true },
  "--cores": { min: 1, max: 1024, integer: true },
  "--max-batch": { min: 1, max: 4096, integer: true },
  "--max-delay-ms": { min: 0, max: 1000, integer: false },
  "--max-body-bytes": { min: 1024, max: 2 ** 30, integer: true },
  "--drain-timeout": { min: 0, max: 3600, integer: false },
  // limits on what one client can make a server do (shared/serve/limits.ts)
  "--max-infer-rows": { min: 1, max: 65536, integer: true },
  "--max-response-bytes": { min: 65536, max: 2 ** 30, integer: true },
  "--max-heavy-requests": { min: 1, max: 64, integer: true },
  "--request-timeout": { min: 1, max: 3600, integer: false },
  "--headers-timeout": { min: 1, max: 600, integer: false },
  "--keep-alive-timeout": { min: 1, max: 600, integer: false },
  "--max-connections": { min: 16, max: 65536, integer: true },
};

/**
 * `recship serve`'s default --drain-timeout, in seconds (shared/cli/serve-command.ts; a test keeps
 * the two equal): how long a stopping server waits for in-flight requests when server-args does not say.
 */
export const SERVER_DEFAULT_DRAIN_SECONDS = 30;

/** The longest drain the servers started with `serverArgs` (canonical, from parseServerArgs) may take, in seconds. */
export function drainTimeoutSeconds(serverArgs: readonly string[]): number {
  const at = serverArgs.indexOf("--drain-timeout");
  return at >= 0 ? Number(serverArgs[at + 1]) : SERVER_DEFAULT_DRAIN_SECONDS;
}

/**
 * Parses and checks extra server flags ("--workers 2 --threads 1", also "--workers=2"),
 * returning them as argv entries in a canonical "--flag value" form.
 */
export function parseServerArgs(text: string | undefined, where = "input server-args"): string[] {
  const tokens = (text ?? "").split(/\s+/).filter(Boolean);
  const out: string[] = [];
  const seen = new Set<string>();
  const allowed = Object.keys(SERVER_TUNING_FLAGS).join(", ");
  for (let i = 0; i < tokens.length; i++) {
    const [flag, inline] = tokens[i].split("=", 2) as [string, string | undefined];
    const rule = SERVER_TUNING_FLAGS[flag];
    if (!rule) {
      throw new RecshipError(`"${tokens[i]}" is not a server tuning flag`, {
        where,
        fix: `use ${allowed}, each with a value (ports, bundle, device and variant are set by the deployment)`,
      });
    }
    if (seen.has(flag)) throw new RecshipError(`${flag} is given twice`, { where, fix: "give each flag once" });
    seen.add(flag);
    const raw = inline ?? tokens[++i];
    const value = Number(raw);
    if (
      raw === undefined ||
      raw === "" ||
      !Number.isFinite(value) ||
      (rule.integer && !Number.isInteger(value)) ||
      value < rule.min ||
      value > rule.max
    ) {
      throw new RecshipError(
        `${flag} needs ${rule.integer ? "a whole number" : "a number"} from ${rule.min} to ${rule.max}, got ${raw === undefined ? "nothing" : `"${raw}"`}`,
        {
          where,
          fix: `for example "${flag} ${rule.min === 0 ? 1 : rule.min}"`,
        },
      );
    }
    out.push(flag, String(value));
  }
  return out;
}
