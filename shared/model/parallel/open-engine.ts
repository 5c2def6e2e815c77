import { RecshipError } from "../../errors.js";
import { defaultTrainWorkers } from "../../util/cpu-budget.js";
import type { BackendPreference } from "../backend.js";
import { LocalEngine, type EngineOptions, type TrainingEngine } from "./engine.js";
import { WorkerEngine } from "./worker-engine.js";

/** The worker count asked for, checked, or the default for this backend (its name) and machine. */
export function workerCount(given: number | undefined, backend: string): number {
  if (given === undefined) return defaultTrainWorkers(backend);
  if (!Number.isInteger(given) || given < 0 || given > 256) {
    throw new RecshipError(`workers must be a whole number from 0 to 256, got ${given}`, {
      fix: "leave it out for one worker per usable core, or give 0 to train on the main thread",
    });
  }
  return given;
}

/** What the workers load: the backend this thread resolved to (auto must not pick another in a worker). */
export function workerBackend(active: string, preference: BackendPreference): BackendPreference {
  return active === "wasm" || active === "cpu" ? active : preference;
}

/** Worker threads when `options.workers` > 0, else the calling thread. */
export function openEngine(options: EngineOptions): Promise<TrainingEngine> {
  return options.workers > 0 ? WorkerEngine.open(options) : Promise.resolve(new LocalEngine(options));
}
