import { syntheticShop, writeSyntheticShopCsv, type SyntheticShopOptions } from "../data/synthetic.js";

/** The demo's shop: the built-in synthetic generator, fixed seed, some view rows to filter out. */
function demoShopOptions(users: number): SyntheticShopOptions {
  return { users, seed: 7, viewNoise: 0.1 };
}

/** How train-model reads the demo shop's CSV: purchases only. */
export const DEMO_READ = {
  userColumn: "user_id",
  itemColumn: "item_id",
  timeColumn: "timestamp",
  eventColumn: "event",
  eventFilter: ["purchase"],
};

/** Writes the shop as CSV (the same file for the same number of users: the generator is seeded). */
export async function writeDemoShop(path: string, users: number): Promise<number> {
  return writeSyntheticShopCsv(path, demoShopOptions(users));
}

/** Every user's purchases in time order: what the simulated shoppers browse from. */
export function purchaseHistories(users: number): string[][] {
  const byUser = new Map<string, { item: string; timestamp: number }[]>();
  for (const row of syntheticShop(demoShopOptions(users))) {
    if (row.event !== "purchase") continue;
    let list = byUser.get(row.user);
    if (!list) byUser.set(row.user, (list = []));
    list.push({ item: row.item, timestamp: row.timestamp });
  }
  return [...byUser.values()].map((list) => list.sort((a, b) => a.timestamp - b.timestamp).map((r) => r.item));
}
