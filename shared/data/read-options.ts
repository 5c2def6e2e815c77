import type { OptionReader, OptionSpec } from "../util/option-spec.js";
import { DATA_FORMATS, type DataFormat, type ReadOptions } from "./readers.js";

/**
 * How to read an interaction log: the options every step that reads one offers (CLI flags keep
 * their short names). `of` names the log in the descriptions when the step's main input is not
 * the log itself (convert-onnx's `data`).
 */
export function readOptionSpecs(of = "", options: { columnDefaults?: boolean } = {}): OptionSpec[] {
  const suffix = of ? ` of ${of}` : "";
  // without column defaults, a step falls back to how the bundle's training log was read
  const col = (value: string) => (options.columnDefaults === false ? {} : { default: value });
  return [
    {
      name: "format",
      kind: "choice",
      choices: DATA_FORMATS,
      default: "auto",
      description: `Format${suffix}: auto, csv, tsv, jsonl, pairs, seq or parquet (a .parquet file, a folder or a glob of them, read through DuckDB)`,
    },
    {
      name: "user-column",
      flag: "user-col",
      kind: "text",
      ...col("user"),
      description: `User column (CSV/TSV) or field (JSON Lines)${suffix}`,
    },
    { name: "item-column", flag: "item-col", kind: "text", ...col("item"), description: `Item column or field${suffix}` },
    {
      name: "time-column",
      flag: "time-col",
      kind: "text",
      description: `Timestamp column or field${suffix} (numbers or ISO-8601); empty = file order is time order`,
    },
    { name: "event-column", flag: "event-col", kind: "text", description: `Event-type column or field${suffix}` },
    {
      name: "event-filter",
      kind: "list",
      description: `Comma-separated event types to keep${of ? ` from ${of}` : ""} (e.g. purchase,add_to_cart)`,
    },
    {
      name: "query",
      kind: "text",
      placeholder: "sql",
      description: `SQL over the log${suffix}, run by DuckDB, which sees it as the view \`log\`: selects, renames and filters rows (the column options then name its columns), e.g. SELECT customer_id AS user, sku AS item, ts AS time FROM log WHERE country = 'DE'`,
    },
  ];
}

export function readOptionsFrom(o: OptionReader): ReadOptions {
  return {
    format: o.choice<DataFormat>("format"),
    userColumn: o.text("user-column"),
    itemColumn: o.text("item-column"),
    timeColumn: o.text("time-column"),
    eventColumn: o.text("event-column"),
    eventFilter: o.list("event-filter"),
    query: o.text("query"),
  };
}
