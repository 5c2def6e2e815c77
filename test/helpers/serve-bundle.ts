import { readFileSync } from "node:fs";
import { join } from "node:path";
import { convertBundle } from "../../shared/convert/convert-bundle.js";
import { writeSyntheticShopCsv } from "../../shared/data/synthetic.js";
import { silentLogger } from "../../shared/log.js";
import { trainModel } from "../../shared/train/train-model.js";

export interface ServeBundle {
  dir: string;
  /** The shop's item ids, line i-1 of items.txt = dense item i. */
  items: string[];
}

/** A tiny trained-and-converted bundle (hidden 16, maxlen 10, one epoch on 300 synthetic users). */
export async function buildServeBundle(root: string, seed = 7, topK?: number): Promise<ServeBundle> {
  const data = join(root, `shop-${seed}.csv`);
  await writeSyntheticShopCsv(data, { users: 300, seed });
  const out = join(root, `bundle-${seed}`);
  await trainModel({
    data,
    userColumn: "user_id",
    itemColumn: "item_id",
    timeColumn: "timestamp",
    out,
    config: "model:\n  hidden: 16\n  maxlen: 10\ntrain:\n  batchTokens: 512",
    overrides: { train: { epochs: 1, seed } },
    log: silentLogger,
  });
  await convertBundle({ bundle: out, log: silentLogger, ...(topK ? { topK } : {}) });
  const items = readFileSync(join(out, "items.txt"), "utf8").split("\n").filter(Boolean);
  return { dir: out, items };
}
