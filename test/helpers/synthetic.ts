import { join } from "node:path";
import type { InteractionLog } from "../../shared/data/interaction-log.js";
import type { leaveOneOut } from "../../shared/data/split.js";
import { writeSyntheticShopCsv } from "../../shared/data/synthetic.js";
import type { EvalCase } from "../../shared/eval/evaluator.js";

/** Writes the built-in synthetic shop as CSV and returns the read options that match it. */
export async function syntheticCsv(dir: string, users = 1200, seed = 11) {
  const path = join(dir, `shop-${users}-${seed}.csv`);
  await writeSyntheticShopCsv(path, { users, seed });
  return { data: path, userColumn: "user_id", itemColumn: "item_id", timeColumn: "timestamp" };
}

/** A small, fast model config for tests. */
export const TINY_CONFIG = `
model:
  hidden: 32
  maxlen: 20
  dropout: 0.2
train:
  batchTokens: 512
  negatives: 256
  learningRate: 0.005
  patience: 50
`;

/** The first `n` validation cases of a leave-one-out split (history = training part, target = the validation item). */
export function validationCases(split: ReturnType<typeof leaveOneOut>, log: InteractionLog, n: number): EvalCase[] {
  return Array.from(split.evalUsers.slice(0, n), (u) => ({
    user: u,
    history: split.train[u],
    target: split.validTarget[u],
    interacted: log.sequences[u],
  }));
}

/** The CLI flags that read a synthetic CSV written by syntheticCsv. */
export function csvFlags(csv: Awaited<ReturnType<typeof syntheticCsv>>): string[] {
  return ["--data", csv.data, "--user-col", csv.userColumn, "--item-col", csv.itemColumn, "--time-col", csv.timeColumn];
}
