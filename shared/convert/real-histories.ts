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
 * 3+ known items only), the realistic inputs for the parity check.
 */
export async function realHistories(
  path: string,
  readOptions: ReadOptions,
  bundle: { itemIds: string[]; dataSha256: string },
  log: Logger,
): Promise<RealHistories> {
  const read = await readInteractions(path, readOptions);
  const sameData = read.sha256 === bundle.dataSha256;
  if (!sameData) {
    log.warn(`${path} is not the file the bundle was trained on (sha256 differs); its sequences are still used as parity inputs`);
  }
  const dense = new Map<string, number>();
  bundle.itemIds.forEach((id, i) => {
    if (i > 0) dense.set(id, i);
  });
  const fileToBundle = read.log.itemIds.map((id, i) => (i === 0 ? 0 : (dense.get(id) ?? 0)));
  let unknownItems = 0;
  const histories: Int32Array[] = [];
  for (const sequence of read.log.sequences) {
    const known: number[] = [];
    for (const item of sequence) {
      const d = fileToBundle[item];
      if (d === 0) unknownItems++;
      else known.push(d);
    }
    if (known.length >= 3) histories.push(Int32Array.from(known.slice(0, known.length - 2)));
  }
  log.info(
    `${histories.length} validation histories from ${path}${unknownItems ? ` (${unknownItems} interactions with items outside the vocabulary skipped)` : ""}`,
  );
  return { histories, sameData, unknownItems };
}
