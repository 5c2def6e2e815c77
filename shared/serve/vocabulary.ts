/** The shop's item ids ↔ the model's dense ids (1-based; 0 is padding), from items.txt. */
export class ItemVocabulary {
  private readonly index = new Map<string, number>();

  /** `itemIds[i]` = the shop's id of dense item i; `itemIds[0]` is the padding slot. */
  constructor(readonly itemIds: readonly string[]) {
    for (let i = 1; i < itemIds.length; i++) this.index.set(itemIds[i], i);
  }

  get size(): number {
    return this.itemIds.length - 1;
  }

  dense(id: string): number | undefined {
    return this.index.get(id);
  }

  id(dense: number): string {
    return this.itemIds[dense];
  }

  /** Maps a history (oldest first), skipping ids the model does not know. */
  mapHistory(ids: readonly string[]): { dense: Int32Array; unknown: number } {
    const out = new Int32Array(ids.length);
    let n = 0;
    for (const id of ids) {
      const d = this.index.get(id);
      if (d !== undefined) out[n++] = d;
    }
    return { dense: out.subarray(0, n), unknown: ids.length - n };
  }
}
