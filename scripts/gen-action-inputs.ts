// Writes the `inputs:` block of each action.yml whose step declares its options in a spec
// (shared/<step>/options.ts), so an input is defined once: `npx tsx scripts/gen-action-inputs.ts`
// after changing a spec; `--check` (CI) fails when an action.yml differs from its spec.
// Then scripts/gen-umbrella.mjs and scripts/gen-readme-reference.mjs carry the change on.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { COMPRESS_OPTIONS } from "../shared/compress/options.js";
import { CONVERT_OPTIONS } from "../shared/convert/options.js";
import { GATE_OPTIONS } from "../shared/gate/options.js";
import { DEPLOY_OPTIONS } from "../shared/deploy/options.js";
import { MONITOR_OPTIONS } from "../shared/canary/options.js";
import { TRAIN_OPTIONS } from "../shared/train/options.js";
import { VALIDATE_OPTIONS } from "../shared/validate/options.js";
import { TUNE_OPTIONS } from "../shared/tune/options.js";
import { actionInputsYaml, type OptionSpec } from "../shared/util/option-spec.js";

const SPECS: Record<string, readonly OptionSpec[]> = {
  "train-model": TRAIN_OPTIONS,
  "convert-onnx": CONVERT_OPTIONS,
  "compress-model": COMPRESS_OPTIONS,
  "benchmark-gate": GATE_OPTIONS,
  "deploy-k8s": DEPLOY_OPTIONS,
  "monitor-canary": MONITOR_OPTIONS,
  "validate-data": VALIDATE_OPTIONS,
  "tune-model": TUNE_OPTIONS,
};

const root = new URL("..", import.meta.url).pathname;
const check = process.argv.includes("--check");
const stale: string[] = [];
for (const [action, specs] of Object.entries(SPECS)) {
  const file = join(root, "actions", action, "action.yml");
  const text = readFileSync(file, "utf8");
  const start = text.indexOf("\ninputs:\n");
  const end = text.indexOf("\noutputs:\n");
  if (start < 0 || end < start) throw new Error(`${file}: no inputs: block followed by outputs:`);
  const next = `${text.slice(0, start + 1)}${actionInputsYaml(specs)}${text.slice(end + 1)}`;
  if (next === text) continue;
  if (check) stale.push(file);
  else writeFileSync(file, next);
}
if (stale.length > 0) {
  console.error(`action.yml differs from its step's option spec: ${stale.join(", ")}. Run \`npx tsx scripts/gen-action-inputs.ts\`.`);
  process.exit(1);
}
console.log(check ? "every spec'd action.yml matches its spec" : "action.yml inputs written from the specs");
