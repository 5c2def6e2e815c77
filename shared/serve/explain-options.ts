import { SKIP_CHECKSUMS_OPTION } from "../bundle/bundle-files.js";
import { RecshipError } from "../errors.js";
import type { OptionReader, OptionSpec } from "../util/option-spec.js";
import { DEFAULT_EXPLAIN_LIMIT, MAX_EXPLAIN_LIMIT } from "./recommend.js";

/** `recship explain`'s options (a CLI command only: no action offers it). */
export const EXPLAIN_OPTIONS: readonly OptionSpec[] = [
  { name: "bundle", kind: "text", required: true, placeholder: "dir", description: "Bundle folder with an ONNX model (run convert first)" },
  SKIP_CHECKSUMS_OPTION,
  {
    name: "items",
    kind: "list",
    required: true,
    placeholder: "ids",
    description: "The shopper's history: the shop's item ids, oldest first, comma-separated",
  },
  { name: "k", kind: "int", default: "10", description: "Items to recommend and explain" },
  {
    name: "limit",
    kind: "int",
    default: String(DEFAULT_EXPLAIN_LIMIT),
    description: `History items listed per recommended item, 1 to ${MAX_EXPLAIN_LIMIT}`,
  },
  { name: "keep-seen", kind: "boolean", description: "Also recommend items of the history (the server's exclude_seen: false)" },
  { name: "json", kind: "boolean", description: "Print the explanations as JSON instead of text" },
];

export interface ExplainCliOptions {
  bundle: string;
  items: string[];
  k: number;
  limit: number;
  excludeSeen: boolean;
  verifyChecksums: boolean;
}

export function explainOptionsFrom(o: OptionReader): ExplainCliOptions {
  const items = o.list("items") ?? [];
  if (items.length === 0)
    throw new RecshipError(`${o.where("items")} names no item`, { fix: "give the history's item ids, e.g. --items 12,7,31" });
  const k = o.int("k") ?? 10;
  if (k < 1) throw new RecshipError(`${o.where("k")} must be at least 1, got ${k}`);
  const limit = o.int("limit") ?? DEFAULT_EXPLAIN_LIMIT;
  if (limit < 1 || limit > MAX_EXPLAIN_LIMIT)
    throw new RecshipError(`${o.where("limit")} must be from 1 to ${MAX_EXPLAIN_LIMIT}, got ${limit}`);
  return {
    bundle: o.requiredText("bundle"),
    items,
    k,
    limit,
    excludeSeen: !o.boolean("keep-seen"),
    verifyChecksums: !o.boolean("skip-bundle-checksums"),
  };
}
