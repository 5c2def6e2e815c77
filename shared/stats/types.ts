/** Which way is better for a compared value. */
export type Direction = "lower" | "higher";

/** absolute: candidate − reference in the value's own unit; relative: a share of the reference's value. */
export type MarginKind = "absolute" | "relative";

/** A cumulative histogram bucket as Prometheus has it: `count` observations ≤ `le`. */
export interface Bucket {
  le: number;
  count: number;
}
