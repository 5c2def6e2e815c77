import { readSampleWithDuckDb, readsThroughDuckDb } from "../data/duckdb-reader.js";
import { mapSequences, vocabularyMap } from "../data/interaction-log.js";
import { readInteractions, type ReadOptions } from "../data/readers.js";
import type { Logger } from "../log.js";

export interface RealHistories {
  /** Validation histories in the bundle's dense ids (each user's items but the last two). */
  histories: Int32Array[];
  /** Whether the file is byte-identical to the one the bundle was trained on. */
  sameData: boolean;
  /** Interactions dropped because their item is not in the bundle's vocabulary. */
  unknownItems: number;
}

/**
 * Reads an interaction log and turns it into validation histories in the bundle's
 * vocabulary (leave-one-out: every user's sequence without its last two items, users with
 * 3+ known items only), the realistic inputs for the parity check. A log DuckDB reads (Parquet,
 * a query) gives only the `maxReal` users paritySample would keep, evenly spread over the
 * lengths (shortest first, ties by user): the other users' rows never leave DuckDB.
 */
export async function realHistories(
  path: string,
  readOptions: ReadOptions,
  bundle: { itemIds: string[]; dataSha256: string },
  log: Logger,
  maxReal?: number,
): Promise<RealHistories> {
  const sampled = maxReal !== undefined && readsThroughDuckDb(path, readOptions);
  const read = sampled ? await readSpreadSample(path, readOptions, maxReal) : await readEveryUser(path, readOptions);
  const sameData = read.sha256 === bundle.dataSha256;
  if (!sameData) {
    log.warn(`${path} is not the file the bundle was trained on (sha256 differs); its sequences are still used as parity inputs`);
  }
  const { histories, unknownItems } = validationHistories(read.sequences, read.itemIds, bundle.itemIds);
  log.info(
    `${histories.length} validation histories from ${path}${sampled ? ` (a spread of ${read.sequences.length} users read through DuckDB)` : ""}` +
      `${unknownItems ? ` (${unknownItems} interactions with items outside the vocabulary skipped)` : ""}`,
  );
  return { histories, sameData, unknownItems };
}

interface UserSequences {
  sequences: Int32Array[];
  /** The file's item ids by its dense id (0: padding). */
  itemIds: string[];
  sha256: string;
}

async function readEveryUser(path: string, readOptions: ReadOptions): Promise<UserSequences> {
  const read = await readInteractions(path, readOptions);
  return { sequences: read.log.sequences, itemIds: read.log.itemIds, sha256: read.sha256 };
}

/** `count` of `sorted`, evenly spaced from first to last (all of them when there are no more). */
function evenlySpaced(sorted: Int32Array, count: number): Int32Array {
  if (sorted.length <= count) return sorted;
  const step = (sorted.length - 1) / Math.max(1, count - 1);
  return Int32Array.from({ length: count }, (_, i) => sorted[Math.round(i * step)]);
}

async function readSpreadSample(path: string, readOptions: ReadOptions, maxReal: number): Promise<UserSequences> {
  const read = await readSampleWithDuckDb(path, readOptions, (eligible) => evenlySpaced(eligible, maxReal), {
    byLength: true,
    popularity: false,
  });
  return { sequences: read.sequences, itemIds: read.itemIds, sha256: read.sha256 };
}

/** Each sequence in the bundle's ids without its last two items, for users with 3+ known items. */
function validationHistories(
  sequences: Int32Array[],
  fileItemIds: string[],
  bundleItemIds: string[],
): { histories: Int32Array[]; unknownItems: number } {
  const known = mapSequences(sequences, vocabularyMap(fileItemIds, bundleItemIds));
  const histories = known.sequences.filter((s) => s.length >= 3).map((s) => s.slice(0, s.length - 2));
  return { histories, unknownItems: known.dropped };
}
