/**
 * Binary min-heap for the BPE merge loop (SPM has its own typed-array heap in spm.ts).
 * Merging by priority queue keeps BPE O(n log n) on long words (1 MB of one repeated
 * character is one word).
 */

/** Min-heap of plain numbers (BPE packs rank and position into one key). */
export class NumberHeap {
  private a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(v: number): void {
    const a = this.a;
    let i = a.length;
    a.push(v);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pv = a[p]!;
      if (pv <= v) break;
      a[i] = pv;
      i = p;
    }
    a[i] = v;
  }
  /** Removes and returns the smallest key; undefined when empty. */
  pop(): number | undefined {
    const a = this.a;
    const n = a.length;
    if (n === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (n > 1) siftDown(a, last, n - 1, (x, y) => x < y);
    return top;
  }
}

function siftDown<T>(a: T[], v: T, n: number, less: (x: T, y: T) => boolean): void {
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    const c = r < n && less(a[r]!, a[l]!) ? r : l;
    if (!less(a[c]!, v)) break;
    a[i] = a[c]!;
    i = c;
  }
  a[i] = v;
}
