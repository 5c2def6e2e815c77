// Entry file of a training worker thread when recship runs from source (tsx); the dist bundle
// starts its workers through actions/dist-entry.ts instead.
import { runTrainWorker } from "./train-worker.js";

await runTrainWorker();
