import { syntheticShop } from "../../shared/data/synthetic.js";

/**
 * What simulated shoppers browse for the drift watch's tests and benchmark: purchase sequences of
 * the synthetic shop's users after the first `trained` (the model never saw them), and two drifts
 * of them: interests moved to the least popular categories, and a catalogue change the model
 * does not know (new item ids, which the server skips, so the histories it scores shrink).
 */
export function freshHistories(seed: number, trained: number, users: number): string[][] {
  const byUser = new Map<string, string[]>();
  for (const row of syntheticShop({ users: trained + users, seed })) {
    if (Number(row.user.slice(1)) < trained || row.event !== "purchase") continue;
    let list = byUser.get(row.user);
    if (!list) byUser.set(row.user, (list = []));
    list.push(row.item);
  }
  return [...byUser.values()];
}

/** The category of a synthetic shop item id (sku-CC-KKK). */
const category = (item: string) => Number(item.slice(4, 6));

/** Interests moved: each history keeps only its items of categories from `from` on (the shop's 24 categories get less popular by number). */
export function interestShift(histories: readonly string[][], from = 18): string[][] {
  return histories.map((h) => h.filter((item) => category(item) >= from)).filter((h) => h.length >= 2);
}

/** A catalogue change: each item replaced by a new id the model has never seen, with chance `share` (seeded). */
export function catalogueShift(histories: readonly string[][], share: number, seed = 1): string[][] {
  let a = seed >>> 0;
  const rand = () => {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    return a / 4294967296;
  };
  return histories.map((h) => h.map((item) => (rand() < share ? `new-${item}` : item)));
}
