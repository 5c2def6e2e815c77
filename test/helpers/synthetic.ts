import { join } from "node:path";
import { writeSyntheticShopCsv } from "../../shared/data/synthetic.js";

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
