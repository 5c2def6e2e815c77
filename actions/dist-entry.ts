// The one ncc bundle in dist/recship/: every action, the umbrella action and the CLI share it, so
// tfjs, the Kubernetes client and the rest ship once (dist/ was 45 MB as seven separate bundles).
// dist/<action>/index.js, dist/umbrella/index.js and dist/cli/index.js are two-line stubs written
// by scripts/build-dist.mjs: each sets `globalThis.RECSHIP_ENTRY` and imports this file. Each
// entry is a dynamic import, so an action loads only the code it runs.
import { appendFileSync } from "node:fs";
import { isMainThread, workerData } from "node:worker_threads";
import { UMBRELLA_STEPS } from "./umbrella-steps.js";

declare global {
  var RECSHIP_ENTRY: string | undefined;
}

const ACTIONS: Record<string, () => Promise<unknown>> = {
  "train-model": () => import("./train-model/index.js"),
  "convert-onnx": () => import("./convert-onnx/index.js"),
  "compress-model": () => import("./compress-model/index.js"),
  "benchmark-gate": () => import("./benchmark-gate/index.js"),
  "deploy-k8s": () => import("./deploy-k8s/index.js"),
  "monitor-canary": () => import("./monitor-canary/index.js"),
  "validate-data": () => import("./validate-data/index.js"),
  "tune-model": () => import("./tune-model/index.js"),
};

async function runUmbrella(): Promise<void> {
  const step = (process.env.INPUT_STEP ?? "").trim();
  const action = UMBRELLA_STEPS[step];
  if (action) {
    await ACTIONS[action]();
    return;
  }
  const message = `recship: unknown step "${step}" (input step). Fix: use one of ${Object.keys(UMBRELLA_STEPS).join(", ")}`;
  process.stdout.write(`::error title=recship::${message}\n`);
  if (process.env.GITHUB_STEP_SUMMARY) appendFileSync(process.env.GITHUB_STEP_SUMMARY, `recship: ${message}\n`);
  process.exitCode = 1;
}

async function runCli(): Promise<void> {
  const { main } = await import("../shared/cli/main.js");
  process.exit(await main(process.argv.slice(2)));
}

async function dispatch(entry: string | undefined): Promise<void> {
  if (entry === "cli") return runCli();
  if (entry === "umbrella") return runUmbrella();
  if (entry === "model-worker") return runModelWorker();
  if (entry === "train-worker") return runTrainWorker();
  const action = entry ? ACTIONS[entry] : undefined;
  if (!action) throw new Error(`dist/recship: unknown entry ${JSON.stringify(entry)} (a stub in dist/ is broken: run npm run build)`);
  await action();
}

async function runModelWorker(): Promise<void> {
  const { runModelWorker } = await import("../shared/serve/model-worker.js");
  await runModelWorker();
}

async function runTrainWorker(): Promise<void> {
  const { runTrainWorker } = await import("../shared/model/parallel/train-worker.js");
  await runTrainWorker();
}

// a worker thread (the server's model workers, shared/serve/worker-runner.ts; training workers,
// shared/model/parallel/worker-engine.ts) names its entry in workerData
const workerEntry = isMainThread ? undefined : (workerData as { recshipEntry?: string } | null)?.recshipEntry;
dispatch(globalThis.RECSHIP_ENTRY ?? workerEntry).catch((error: unknown) => {
  process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(2);
});
