// The umbrella action (top-level action.yml): runs the per-action bundle named by the `step`
// input. It reuses dist/<action>/index.js instead of bundling every step a second time; the
// steps read the same INPUT_* variables, so the code path is the one the per-action entries use.
// Plain JavaScript with no dependencies: scripts/build-dist.mjs copies it to dist/umbrella/.
import { appendFileSync } from "node:fs";

const STEPS = {
  train: "train-model",
  convert: "convert-onnx",
  compress: "compress-model",
  gate: "benchmark-gate",
  deploy: "deploy-k8s",
  monitor: "monitor-canary",
};

const step = (process.env.INPUT_STEP ?? "").trim();
const action = STEPS[step];
if (!action) {
  const message = `recship: unknown step "${step}" (input step). Fix: use one of ${Object.keys(STEPS).join(", ")}`;
  process.stdout.write(`::error title=recship::${message}\n`);
  if (process.env.GITHUB_STEP_SUMMARY) appendFileSync(process.env.GITHUB_STEP_SUMMARY, `recship: ${message}\n`);
  process.exitCode = 1;
} else {
  await import(new URL(`../${action}/index.js`, import.meta.url).href);
}
