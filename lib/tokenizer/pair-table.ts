/**
 * Open-addressing hash table from a token pair (left id, right id) to its merge
 * rank and merged id. Typed arrays instead of a Map keep loading a 150k-merge
 * vocabulary fast (Map keys that large are boxed doubles) and lookups cheap.
 *
 * One slot is 4 int32 side by side (a probe reads one cache line), and an empty
 * table is all zeros: nothing is filled at construction. A fresh page costs
 * ~12 µs to fault in on the VMs this runs on, so filling Qwen2's 8 MB table up
 * front was 13-20 ms in one step; untouched, its pages come in as merges are
 * added, a slice at a time (bpe.ts buildPairs).
 */

// Module-level: a global (Math.imul) looked up in a hot loop is ~30x slower inside a vm context (jest).
const imul = Math.imul;

/** Int32s per slot: left id + 1 (0 = empty slot), right id, rank, merged id + 2 (0 = not resolved yet). */
const LEFT = 0;
const RIGHT = 1;
const RANK = 2;
const MERGED = 3;

export class PairTable {
  private readonly mask: number;
  private readonly slots: Int32Array; // [cap * 4]

  constructor(expected: number) {
    let cap = 16;
    while (cap < expected * 2) cap *= 2;
    this.mask = cap - 1;
    this.slots = new Int32Array(cap * 4);
  }

  private static hash(a: number, b: number): number {
    return (imul(a, 0x9e3779b1) ^ imul(b + 0x7f4a7c15, 0x85ebca77)) >>> 0;
  }

  /** Adds the pair unless present (the first, lowest rank wins). */
  add(a: number, b: number, rank: number): void {
    const s = this.slots;
    let i = PairTable.hash(a, b) & this.mask;
    for (;;) {
      const at = i << 2;
      const l = s[at + LEFT]!;
      if (l === 0) {
        s[at + LEFT] = a + 1;
        s[at + RIGHT] = b;
        s[at + RANK] = rank;
        return;
      }
      if (l === a + 1 && s[at + RIGHT] === b) return;
      i = (i + 1) & this.mask;
    }
  }

  /** Slot of the pair, or -1. */
  find(a: number, b: number): number {
    const s = this.slots;
    let i = PairTable.hash(a, b) & this.mask;
    for (;;) {
      const at = i << 2;
      const l = s[at + LEFT]!;
      if (l === 0) return -1;
      if (l === a + 1 && s[at + RIGHT] === b) return i;
      i = (i + 1) & this.mask;
    }
  }

  rankAt(slot: number): number {
    return this.slots[(slot << 2) + RANK]!;
  }

  /** The merged id of the slot's pair: -1 = the merged text is not a token, -2 = not resolved yet. */
  mergedAt(slot: number): number {
    return this.slots[(slot << 2) + MERGED]! - 2;
  }

  /** Records the merged id (-1: not a token). */
  setMerged(slot: number, id: number): void {
    this.slots[(slot << 2) + MERGED] = id + 2;
  }
}
