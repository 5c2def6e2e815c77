import type { OptionReader, OptionSpec } from "../util/option-spec.js";
import { DATA_FORMATS, type DataFormat, type ReadOptions } from "./readers.js";

/** How to read an interaction log: the options every step that reads one offers (CLI flags keep their short names). */
export const READ_OPTIONS: readonly OptionSpec[] = [
  { name: "format", kind: "choice", choices: DATA_FORMATS, default: "auto", description: "auto, csv, tsv, jsonl, pairs or seq" },
  { name: "user-column", flag: "user-col", kind: "text", default: "user", description: "User column (CSV/TSV) or field (JSON Lines)" },
  { name: "item-column", flag: "item-col", kind: "text", default: "item", description: "Item column or field" },
  {
    name: "time-column",
    flag: "time-col",
    kind: "text",
    description: "Timestamp column or field (numbers or ISO-8601); empty = file order is time order",
  },
  { name: "event-column", flag: "event-col", kind: "text", description: "Event-type column or field" },
  { name: "event-filter", kind: "list", description: "Comma-separated event types to keep (e.g. purchase,add_to_cart)" },
];

export function readOptionsFrom(o: OptionReader): ReadOptions {
  return {
    format: o.choice<DataFormat>("format"),
    userColumn: o.text("user-column"),
    itemColumn: o.text("item-column"),
    timeColumn: o.text("time-column"),
    eventColumn: o.text("event-column"),
    eventFilter: o.list("event-filter"),
  };
}
