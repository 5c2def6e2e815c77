/**
 * Numeric comparison of two scorers' outputs (reference vs candidate), batch by batch.
 *
 * Top-N agreement and ties: for each sequence the reference's top N (highest score first,
 * lower item id first among exact ties) is compared with the candidate's top N position by
 * position. Where they name different items, that position still agrees when the REFERENCE
 * scores of the two items differ by at most `tieTolerance` (2 × the allowed max |Δ|: two
 * scores each off by up to the tolerance can swap places only when they were that close).
 * So a swap of near-tied items, also one across the top-N boundary, is not a disagreement;
 * any other difference is, as is a NaN anywhere.
 */

/** Relative differences are taken against max(|reference|, this), so near-zero scores do not blow them up. */
const RELATIVE_FLOOR = 1e-3;

/** Columns of the `n` highest values of a row, best first; exact ties go to the lower column. */
export function topColumns(row: ArrayLike<number>, n: number): number[] {
  const cols: number[] = [];
  const vals: number[] = [];
  for (let j = 0; j < row.length; j++) {
    const v = Number.isNaN(row[j]) ? -Infinity : row[j];
    if (cols.length === n && !(v > vals[n - 1])) continue;
    let pos: number;
    if (cols.length < n) {
      cols.push(j);
      vals.push(v);
      pos = cols.length - 1;
    } else {
      pos = n - 1;
      cols[pos] = j;
      vals[pos] = v;
    }
    // bubble up past strictly smaller values (equal values keep the earlier, lower column first)
    while (pos > 0 && vals[pos - 1] < v) {
      cols[pos] = cols[pos - 1];
      vals[pos] = vals[pos - 1];
      cols[pos - 1] = j;
      vals[pos - 1] = v;
      pos--;
    }
  }
  return cols;
}

/** The tie rule above, for one sequence: `reference` is the reference's score row. */
export function rankingsAgree(reference: ArrayLike<number>, expected: number[], actual: number[], tieTolerance: number): boolean {
  if (expected.length !== actual.length || new Set(actual).size !== actual.length) return false;
  for (let p = 0; p < expected.length; p++) {
    if (expected[p] === actual[p]) continue;
    const a = reference[expected[p]];
    const b = reference[actual[p]];
    if (b === undefined || !(Math.abs(a - b) <= tieTolerance)) return false;
  }
  return true;
}

export interface Disagreement {
  sequence: number;
  /** Reference top N, dense item ids. */
  expected: number[];
  actual: number[];
}

export interface BatchOutputs {
  /** [rows, width]. */
  scores: Float32Array;
  /** [rows, hidden]. */
  embedding?: Float32Array;
  /** Candidate only: its own top list, [rows, k] dense item ids (1-based), used when k ≥ N. */
  topItems?: Int32Array;
  topK?: number;
}

/** Accumulates max |Δ|, max relative Δ and top-N agreement over batches. */
export class ParityMeter {
  maxAbsDiff = 0;
  maxRelDiff = 0;
  embeddingMaxAbsDiff = 0;
  sequences = 0;
  agreeing = 0;
  readonly disagreements: Disagreement[] = [];

  constructor(
    readonly width: number,
    readonly tieTolerance: number,
    readonly topN = 10,
    private readonly keepExamples = 5,
  ) {}

  get topAgreement(): number {
    return this.sequences === 0 ? 1 : this.agreeing / this.sequences;
  }

  private absRel(reference: Float32Array, candidate: Float32Array): { abs: number; rel: number } {
    if (reference.length !== candidate.length) return { abs: NaN, rel: NaN };
    let abs = 0;
    let rel = 0;
    for (let i = 0; i < reference.length; i++) {
      const d = Math.abs(reference[i] - candidate[i]);
      if (Number.isNaN(d)) return { abs: NaN, rel: NaN }; // a NaN on either side fails the comparison
      if (d > abs) abs = d;
      if (d > rel * RELATIVE_FLOOR) {
        // d / floor bounds the relative difference: only then is it worth a division
        const r = d / Math.max(Math.abs(reference[i]), RELATIVE_FLOOR);
        if (r > rel) rel = r;
      }
    }
    return { abs, rel };
  }

  add(reference: BatchOutputs, candidate: BatchOutputs): void {
    const rows = reference.scores.length / this.width;
    const s = this.absRel(reference.scores, candidate.scores);
    this.maxAbsDiff = worst(this.maxAbsDiff, s.abs);
    this.maxRelDiff = worst(this.maxRelDiff, s.rel);
    if (reference.embedding && candidate.embedding) {
      this.embeddingMaxAbsDiff = worst(this.embeddingMaxAbsDiff, this.absRel(reference.embedding, candidate.embedding).abs);
    }
    const n = Math.min(this.topN, this.width);
    for (let r = 0; r < rows; r++) {
      const refRow = reference.scores.subarray(r * this.width, (r + 1) * this.width);
      const expected = topColumns(refRow, n);
      let actual: number[];
      if (candidate.topItems && candidate.topK !== undefined && candidate.topK >= n) {
        actual = Array.from(candidate.topItems.subarray(r * candidate.topK, r * candidate.topK + n), (item) => item - 1);
      } else {
        actual = topColumns(candidate.scores.subarray(r * this.width, (r + 1) * this.width), n);
      }
      if (rankingsAgree(refRow, expected, actual, this.tieTolerance)) this.agreeing++;
      else if (this.disagreements.length < this.keepExamples) {
        this.disagreements.push({ sequence: this.sequences, expected: expected.map((c) => c + 1), actual: actual.map((c) => c + 1) });
      }
      this.sequences++;
    }
  }
}

function worst(a: number, b: number): number {
  return Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b);
}

/**
 * Checks a candidate's own top-k output against its scores: top_scores must equal the
 * scores of top_items exactly, and top_items must be a correct ranking of those scores
 * (exact ties in any order). Returns the number of inconsistent rows.
 */
export function inconsistentTopRows(
  out: { scores: Float32Array; topItems: Int32Array; topScores: Float32Array },
  width: number,
  k: number,
): number {
  const rows = out.scores.length / width;
  let bad = 0;
  for (let r = 0; r < rows; r++) {
    const row = out.scores.subarray(r * width, (r + 1) * width);
    const items = Array.from(out.topItems.subarray(r * k, (r + 1) * k), (i) => i - 1);
    const valuesMatch = items.every((c, i) => c >= 0 && c < width && row[c] === out.topScores[r * k + i]);
    if (!valuesMatch || !rankingsAgree(row, topColumns(row, k), items, 0)) bad++;
  }
  return bad;
}
