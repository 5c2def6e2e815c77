/**
 * The k highest scores of one row, best first, skipping excluded columns: a bounded min-heap,
 * O(n log k), no sort of the whole row. Ties go to the lower column, like ONNX TopK.
 * Returns column indices (callers add 1 for dense item ids).
 */
export function topK(
  scores: Float32Array,
  offset: number,
  length: number,
  k: number,
  exclude?: ReadonlySet<number>,
): { columns: Int32Array; scores: Float32Array } {
  const heapCol = new Int32Array(k);
  const heapVal = new Float32Array(k);
  let size = 0;
  // heap root = the worst kept entry: lowest score, and among equal scores the highest column
  const worse = (va: number, ca: number, vb: number, cb: number) => va < vb || (va === vb && ca > cb);
  const siftDown = (i: number) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && worse(heapVal[l], heapCol[l], heapVal[m], heapCol[m])) m = l;
      if (r < size && worse(heapVal[r], heapCol[r], heapVal[m], heapCol[m])) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  const swap = (a: number, b: number) => {
    const c = heapCol[a];
    heapCol[a] = heapCol[b];
    heapCol[b] = c;
    const v = heapVal[a];
    heapVal[a] = heapVal[b];
    heapVal[b] = v;
  };
  for (let j = 0; j < length; j++) {
    const v = scores[offset + j];
    if (Number.isNaN(v)) continue;
    // the exclusion set is looked up only for a candidate that would enter the heap
    if (size === k && !(v > heapVal[0])) continue;
    if (exclude?.has(j)) continue;
    if (size < k) {
      heapCol[size] = j;
      heapVal[size] = v;
      let i = size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!worse(heapVal[i], heapCol[i], heapVal[p], heapCol[p])) break;
        swap(i, p);
        i = p;
      }
    } else if (v > heapVal[0]) {
      heapCol[0] = j;
      heapVal[0] = v;
      siftDown(0);
    }
  }
  // pop worst-first into the back of the result
  const columns = new Int32Array(size);
  const values = new Float32Array(size);
  for (let out = size - 1; out >= 0; out--) {
    columns[out] = heapCol[0];
    values[out] = heapVal[0];
    size--;
    if (size > 0) {
      heapCol[0] = heapCol[size];
      heapVal[0] = heapVal[size];
      siftDown(0);
    }
  }
  return { columns, scores: values };
}
