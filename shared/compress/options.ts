import { type CompressOptions } from "./compress-bundle.js";
import { OBJECTIVES, type Objective } from "./report.js";
import { DATA_FORMATS, type DataFormat } from "../data/readers.js";
import { RecshipError } from "../errors.js";
import { BACKEND_PREFERENCES, type BackendPreference } from "../model/backend.js";
import { int, list, number, oneOf } from "../util/parse.js";

/** A number ≥ 0 (number() in util/parse.ts rejects 0, a valid budget). */
function fraction(value: unknown, flag: string): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new RecshipError(`${flag} must be a number ≥ 0, got "${String(value)}"`);
  return n;
}

/** The options shared by the CLI and the action, from flag/input values by name. */
export function compressOptionsFrom(
  get: (name: string) => string | undefined,
  where: (name: string) => string,
): Omit<CompressOptions, "log" | "bundle"> {
  const data = get("data");
  const keep = get("keep");
  return {
    methods: list(get("methods")),
    maxNdcgDrop: fraction(get("max-ndcg-drop"), where("max-ndcg-drop")),
    objective: get("objective") === undefined ? undefined : oneOf<Objective>(get("objective"), OBJECTIVES, where("objective")),
    calibration: int(get("calibration"), where("calibration")),
    percentile: number(get("percentile"), where("percentile")),
    threads: int(get("threads"), where("threads")),
    latencyRepetitions: int(get("latency-repetitions"), where("latency-repetitions")),
    seed: int(get("seed"), where("seed")),
    int4BlockSize: int(get("int4-block-size"), where("int4-block-size")),
    int4AccuracyLevel: int(get("int4-accuracy-level"), where("int4-accuracy-level")),
    sparsity: number(get("sparsity"), where("sparsity")),
    ...(keep ? { keep: oneOf(keep, ["all", "chosen"] as const, where("keep")) } : {}),
    ...(data
      ? {
          data: {
            path: data,
            format: oneOf(get("format") ?? "auto", DATA_FORMATS, where("format")) as DataFormat,
            userColumn: get("user-column"),
            itemColumn: get("item-column"),
            timeColumn: get("time-column"),
            eventColumn: get("event-column"),
            eventFilter: list(get("event-filter")),
          },
        }
      : {}),
    distill: {
      hidden: int(get("student-hidden"), where("student-hidden")),
      blocks: int(get("student-blocks"), where("student-blocks")),
      subspaces: int(get("student-subspaces"), where("student-subspaces")),
      centroids: int(get("student-centroids"), where("student-centroids")),
      epochs: int(get("distill-epochs"), where("distill-epochs")),
      maxMinutes: number(get("distill-minutes"), where("distill-minutes")),
      alpha: number(get("distill-alpha"), where("distill-alpha")),
      learningRate: number(get("distill-learning-rate"), where("distill-learning-rate")),
    },
    backend: get("backend") === undefined ? undefined : (oneOf(get("backend"), BACKEND_PREFERENCES, where("backend")) as BackendPreference),
    workers: int(get("workers"), where("workers")),
  };
}
