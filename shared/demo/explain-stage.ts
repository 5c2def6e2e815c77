import type { Logger } from "../log.js";
import { explainHistories, type ExplanationJson } from "../serve/explain.js";

/** The demo report's explanations: a few shoppers, their recent purchases and why the served model recommends what it does. */
export interface ExplanationsSection {
  method: "leave-one-out occlusion";
  modelVersion: string;
  shoppers: { shopper: number; history: string[]; explanations: ExplanationJson[] }[];
}

/** Shoppers explained, recommendations per shopper, history items per recommendation. */
const SHOPPERS = 3;
const K = 3;
const LIMIT = 3;
/** A shopper explained has at least this many purchases: one item alone explains nothing. */
const MIN_HISTORY = 4;

/**
 * Explains the recommendations of the first few shoppers with a few purchases, with the model
 * the bundle serves (the compressed variant compress-model chose, else the ONNX export): what
 * `"explain": true` answers from /v1/recommend.
 */
export async function explainShoppers(bundle: string, histories: readonly string[][], log: Logger): Promise<ExplanationsSection> {
  const picked = histories
    .map((history, shopper) => ({ shopper, history }))
    .filter((s) => s.history.length >= MIN_HISTORY)
    .slice(0, SHOPPERS);
  const reports = await explainHistories({
    bundle,
    histories: picked.map((s) => s.history),
    k: K,
    limit: LIMIT,
    excludeSeen: true,
    log: { ...log, info: () => undefined },
  });
  return {
    method: "leave-one-out occlusion",
    modelVersion: reports[0]?.modelVersion ?? "",
    shoppers: picked.map((s, i) => ({ ...s, explanations: reports[i].explanations })),
  };
}
