/**
 * Open-addressing hash table from a token pair (left id, right id) to its merge
 * rank and merged id. Typed arrays instead of a Map keep loading a 150k-merge
 * vocabulary fast (Map keys that large are boxed doubles) and lookups cheap.
 */

// Module-level: a global (Math.imul) looked up in a hot loop is ~30x slower inside a vm context (jest).
const imul = Math.imul;

export class PairTable {
  private readonly mask: number;
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly rank: Int32Array;
  /** Merged id; -2 = not resolved yet, -1 = the merged text is not a token. */
  readonly merged: Int32Array;

  constructor(expected: number) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.mask = cap - 1;
    this.left = new Int32Array(cap).fill(-1);
    this.right = new Int32Array(cap);
    this.rank = new Int32Array(cap);
    this.merged = new Int32Array(cap).fill(-2);
  }

  private static hash(a: number, b: number): number {
    return (imul(a, 0x9e3779b1) ^ imul(b + 0x7f4a7c15, 0x85ebca77)) >>> 0;
  }

  /** Adds the pair unless present (the first, lowest rank wins). */
  add(a: number, b: number, rank: number): void {
    let i = PairTable.hash(a, b) & this.mask;
    for (;;) {
      const l = this.left[i]!;
      if (l === -1) {
        this.left[i] = a;
        this.right[i] = b;
        this.rank[i] = rank;
        return;
      }
      if (l === a && this.right[i] === b) return;
      i = (i + 1) & this.mask;
    }
  }

  /** Slot of the pair, or -1. */
  find(a: number, b: number): number {
    let i = PairTable.hash(a, b) & this.mask;
    for (;;) {
      const l = this.left[i]!;
      if (l === -1) return -1;
      if (l === a && this.right[i] === b) return i;
      i = (i + 1) & this.mask;
    }
  }

  rankAt(slot: number): number {
    return this.rank[slot]!;
  }
}
