// Entry file of a model worker thread when recship runs from source (tsx); the dist bundle
// starts its workers through actions/dist-entry.ts instead.
import { runModelWorker } from "./model-worker.js";

await runModelWorker();
