import { DATA_FORMATS, type DataFormat, type ReadOptions } from "../../shared/data/readers.js";
import { list, oneOf } from "../../shared/util/parse.js";
import { input } from "./runtime.js";

/** How to read an interaction log, from the inputs every data-reading action shares. */
export function readOptionsFromInputs(): ReadOptions {
  return {
    format: oneOf(input("format") ?? "auto", DATA_FORMATS, "input format") as DataFormat,
    userColumn: input("user-column"),
    itemColumn: input("item-column"),
    timeColumn: input("time-column"),
    eventColumn: input("event-column"),
    eventFilter: list(input("event-filter")),
  };
}
