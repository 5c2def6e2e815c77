import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { Rng, WeightedSampler, zipfWeights } from "../util/random.js";

/**
 * A synthetic shop with the structure that makes sequential recommenders worth having:
 * categories with long-tail (Zipf) popularity, users loyal to a few categories, and
 * sequential patterns: after buying a main product users often buy one of its accessories
 * (a fixed, item-specific set in a companion category), and products in a series are bought in order.
 */
export interface SyntheticShopOptions {
  users?: number;
  categories?: number;
  itemsPerCategory?: number;
  meanLength?: number;
  seed?: number;
  /** Fraction of extra "view" rows mixed in (for event-filter testing). */
  viewNoise?: number;
}

export interface SyntheticRow {
  user: string;
  item: string;
  timestamp: number;
  event: "purchase" | "view";
}

export function* syntheticShop(options: SyntheticShopOptions = {}): Generator<SyntheticRow> {
  const users = options.users ?? 3000;
  const categories = options.categories ?? 24;
  const perCategory = options.itemsPerCategory ?? 60;
  const meanLength = options.meanLength ?? 9;
  const viewNoise = options.viewNoise ?? 0;
  const rng = new Rng(options.seed ?? 7);
  const itemName = (c: number, k: number) => `sku-${String(c).padStart(2, "0")}-${String(k).padStart(3, "0")}`;
  const inCategory = new WeightedSampler(zipfWeights(perCategory, 1.1));
  const categoryPopularity = new WeightedSampler(zipfWeights(categories, 0.6));
  // every product has 3 accessories in its companion category, chosen once per shop
  const accessories: number[][][] = [];
  for (let c = 0; c < categories; c++) {
    accessories.push([]);
    for (let k = 0; k < perCategory; k++) accessories[c].push([rng.int(perCategory), rng.int(perCategory), rng.int(perCategory)]);
  }
  const companion = (c: number) => (c + 1 + (c % 3)) % categories;
  let clock = 1_700_000_000;
  for (let u = 0; u < users; u++) {
    const user = `u${String(u).padStart(6, "0")}`;
    const favourites = [categoryPopularity.sample(rng), categoryPopularity.sample(rng)];
    const length = 3 + Math.floor(-Math.log(1 - rng.next()) * (meanLength - 3));
    let c = favourites[0];
    let k = inCategory.sample(rng);
    for (let step = 0; step < length; step++) {
      clock += 1 + rng.int(5000);
      yield { user, item: itemName(c, k), timestamp: clock, event: "purchase" };
      if (viewNoise > 0 && rng.next() < viewNoise) {
        yield { user, item: itemName(rng.int(categories), rng.int(perCategory)), timestamp: clock + 1, event: "view" };
      }
      const r = rng.next();
      if (r < 0.5) {
        // an accessory of what was just bought
        const acc = accessories[c][k][rng.int(3)];
        c = companion(c);
        k = acc;
      } else if (r < 0.7) {
        // the next product of the same series
        k = (k + 1) % perCategory;
      } else if (r < 0.9) {
        c = favourites[rng.int(favourites.length)];
        k = inCategory.sample(rng);
      } else {
        c = categoryPopularity.sample(rng);
        k = inCategory.sample(rng);
      }
    }
  }
}

/** Writes the synthetic shop as CSV with header `user_id,item_id,timestamp,event`. */
export async function writeSyntheticShopCsv(path: string, options: SyntheticShopOptions = {}): Promise<number> {
  const out = createWriteStream(path);
  out.write("user_id,item_id,timestamp,event\n");
  let rows = 0;
  let buffer = "";
  for (const row of syntheticShop(options)) {
    buffer += `${row.user},${row.item},${row.timestamp},${row.event}\n`;
    rows++;
    if (buffer.length > 1 << 16) {
      if (!out.write(buffer)) await once(out, "drain");
      buffer = "";
    }
  }
  out.end(buffer);
  await once(out, "finish");
  return rows;
}

/**
 * A large random log for load benchmarks: `rows` rows of `user,item,ts` over 1 M users and 200 k
 * items (popularity skewed by squaring a uniform draw), timestamps in file order. The same
 * generator (LCG, seed 12345) as the training benchmark's 10 M-row figure.
 */
export async function writeRandomLogCsv(path: string, rows: number): Promise<void> {
  const out = createWriteStream(path);
  out.write("user,item,ts\n");
  let buf = "";
  let seed = 12345;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let i = 0; i < rows; i++) {
    buf += `u${Math.floor(rand() * 1_000_000)},i${Math.floor(Math.pow(rand(), 2) * 200_000)},${1_600_000_000 + i}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, "drain");
      buf = "";
    }
  }
  out.end(buf);
  await once(out, "finish");
}
