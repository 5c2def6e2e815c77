import { readOptionSpecs, readOptionsFrom } from "../../shared/data/read-options.js";
import type { ReadOptions } from "../../shared/data/readers.js";
import { OptionReader } from "../../shared/util/option-spec.js";
import { inputSource } from "./runtime.js";

/**
 * How to read an interaction log, from the log-reading inputs (declared once in
 * shared/data/read-options.ts), for an action whose step has no option spec yet (benchmark-gate):
 * no column defaults, so the step falls back to how the candidate's log was read.
 */
export function readOptionsFromInputs(): ReadOptions {
  return readOptionsFrom(new OptionReader(readOptionSpecs("", { columnDefaults: false }), inputSource));
}
