import { loadChecks } from "../canary/checks-file.js";
import { defaultSettings } from "../canary/settings.js";
import { OBJECTIVES } from "../compress/report.js";
import { parseVariants } from "../compress/variants.js";
import { RecshipError } from "../errors.js";
import type { DemoSettings } from "./demo-report.js";

/**
 * The demo's canary checks: the built-ins, with latency judged and reported but not critical.
 * One small machine runs both servers, the router, the shoppers and the analysis (and often
 * more): which of two processes the scheduler delays says little about the model. Error rate
 * and click-through stay critical.
 */
const DEMO_CHECKS = "builtins:\n  latency-p99:\n    critical: false\n";

/** A default run: under 5 minutes on two cores (about 45 s of it training). */
export const DEMO_DEFAULTS: DemoSettings = {
  users: 3000,
  epochs: 25,
  maxMinutes: 3,
  methods: ["emb-int8+int8-dynamic", "int8-dynamic", "fp16"],
  maxNdcgDrop: 0.02,
  objective: "size",
  steps: [25, 50, 100],
  intervalSeconds: 10,
  warmupSeconds: 30,
  checks: DEMO_CHECKS,
  rate: 100,
  warmupRequests: 1000,
  seed: 1,
};

function whole(value: number, what: string, min: number, fix: string): void {
  if (!Number.isInteger(value) || value < min)
    throw new RecshipError(`${what} must be a whole number of at least ${min}, got ${value}`, { fix });
}

/** The defaults with the settings in `given` on top (other keys ignored), checked: bad values are a RecshipError naming the option. */
export function demoSettings(given: Partial<DemoSettings> = {}): DemoSettings {
  const known = new Set<string>([...Object.keys(DEMO_DEFAULTS), "maxIntervals"]);
  const defined = Object.fromEntries(Object.entries(given).filter(([k, v]) => known.has(k) && v !== undefined)) as Partial<DemoSettings>;
  const s: DemoSettings = { ...DEMO_DEFAULTS, ...defined };
  whole(s.users, "--users", 50, "the shop needs some shoppers to learn from, e.g. 3000");
  whole(s.epochs, "--epochs", 1, "e.g. 25");
  whole(s.warmupRequests, "--warmup-requests", 0, "e.g. 1000");
  whole(s.seed, "--seed", 0, "e.g. 1");
  if (!(s.maxMinutes > 0)) throw new RecshipError(`the training time budget must be positive, got ${s.maxMinutes}`);
  if (!(Number.isFinite(s.rate) && s.rate > 0 && s.rate <= 2000)) {
    throw new RecshipError(`--rate must be from above 0 to 2000 recommendations per second, got ${s.rate}`, { fix: "e.g. 100" });
  }
  if (!(s.maxNdcgDrop >= 0 && s.maxNdcgDrop < 1)) {
    throw new RecshipError(`--max-ndcg-drop must be a relative loss in [0, 1), got ${s.maxNdcgDrop}`, { fix: "e.g. 0.02 (2 %)" });
  }
  if (!OBJECTIVES.includes(s.objective))
    throw new RecshipError(`--objective must be one of ${OBJECTIVES.join(", ")}, got "${s.objective}"`);
  if (!s.methods.length)
    throw new RecshipError("--methods names no compression variant", { fix: `e.g. ${DEMO_DEFAULTS.methods.join(",")}` });
  parseVariants(s.methods);
  loadChecks(s.checks);
  // the monitor's own checks (steps rise, interval ≥ 1 s, max intervals ≥ steps below 100)
  defaultSettings({
    steps: s.steps,
    intervalSeconds: s.intervalSeconds,
    warmupSeconds: s.warmupSeconds,
    ...(s.maxIntervals !== undefined ? { maxIntervals: s.maxIntervals } : {}),
  });
  return s;
}
