/**
 * A prefix trie over the bytes of every token that may appear in constrained
 * text, stored flat in depth-first order: node i's subtree is [i, end[i]),
 * its first child is i + 1, its next sibling end[i]. Walking it visits each
 * shared prefix once, and a rejected prefix skips its whole subtree.
 *
 * Left out: special tokens (control, unknown, unused: they never appear in
 * constrained text), end-of-generation tokens (allowed separately, only where
 * the grammar is complete) and tokens that decode to nothing.
 * Built once per tokenizer and shared.
 */
import type { Tokenizer } from '../tokenizer/tokenizer';

export class TokenTrie {
  /** Token ids are < vocabSize. */
  readonly vocabSize: number;
  /** Words of a token bitset: ceil(vocabSize / 32). */
  readonly words: number;
  readonly nodeCount: number;
  /** [nodes] the byte leading into the node */
  readonly byte: Uint8Array;
  /** [nodes] one past the node's subtree */
  readonly end: Int32Array;
  /** [nodes] depth of the node: 0 for a first byte */
  readonly depth: Uint16Array;
  /** [nodes] a token whose bytes end at this node, or -1 */
  readonly token: Int32Array;
  /** [vocab] the next token with the same bytes, or -1 */
  readonly sameBytes: Int32Array;
  /** Longest token in bytes. */
  readonly maxDepth: number;
  readonly eog: readonly number[];
  /** The root's child for byte 0x20, or -1 (see stripsLeadingSpace). */
  readonly spaceNode: number;
  readonly stripsLeadingSpace: boolean;
  readonly #bytes: Array<Uint8Array | undefined>;

  /** @internal Use tokenTrie(). */
  constructor(tokenizer: Tokenizer, layout: TrieLayout, bytes: Array<Uint8Array | undefined>) {
    const V = tokenizer.vocabSize;
    this.vocabSize = V;
    this.words = (V + 31) >>> 5;
    this.eog = tokenizer.eogIds;
    this.stripsLeadingSpace = tokenizer.stripsLeadingSpace;
    this.#bytes = bytes;
    this.nodeCount = layout.byte.length;
    this.byte = layout.byte;
    this.end = layout.end;
    this.depth = layout.depth;
    this.token = layout.token;
    this.sameBytes = layout.sameBytes;
    this.maxDepth = layout.maxDepth;
    let space = -1;
    for (let i = 0; i < this.nodeCount; i = this.end[i]!) if (this.byte[i] === 0x20) space = i;
    this.spaceNode = space;
  }

  /** The token's bytes, or undefined when it is not in the trie (special, end-of-generation, empty). */
  bytes(id: number): Uint8Array | undefined {
    return this.#bytes[id];
  }

  /** Sets the bits of the token at node `i` and of every token with the same bytes. */
  markNode(i: number, bits: Uint32Array): void {
    for (let t = this.token[i]!; t >= 0; t = this.sameBytes[t]!) {
      const w = t >>> 5;
      bits[w] = bits[w]! | (1 << (t & 31));
    }
  }
}

interface TrieLayout {
  byte: Uint8Array;
  end: Int32Array;
  depth: Uint16Array;
  token: Int32Array;
  sameBytes: Int32Array;
  maxDepth: number;
}

/** Work between yields to the event loop while building (tokens). */
const CHUNK = 8192;
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Builds the trie in slices so the event loop is never held for long: first
 * a linked trie (first child / next sibling, children in insertion order —
 * the walk needs subtrees contiguous, not sorted), then its depth-first layout.
 */
async function build(tokenizer: Tokenizer): Promise<TokenTrie> {
  const V = tokenizer.vocabSize;
  const bytes = new Array<Uint8Array | undefined>(V);
  let cap = 1 << 16;
  let nByte: Uint8Array = new Uint8Array(cap),
    nChild: Int32Array = new Int32Array(cap),
    nNext: Int32Array = new Int32Array(cap),
    nTok: Int32Array = new Int32Array(cap);
  let count = 1; // node 0: the root
  nChild[0] = -1;
  const sameBytes = new Int32Array(V).fill(-1);
  const newNode = (b: number): number => {
    if (count === cap) {
      cap *= 2;
      const grow8 = (a: Uint8Array): Uint8Array => {
        const x = new Uint8Array(cap);
        x.set(a);
        return x;
      };
      const grow32 = (a: Int32Array): Int32Array => {
        const x = new Int32Array(cap);
        x.set(a);
        return x;
      };
      nByte = grow8(nByte);
      nChild = grow32(nChild);
      nNext = grow32(nNext);
      nTok = grow32(nTok);
    }
    nByte[count] = b;
    nChild[count] = -1;
    nNext[count] = -1;
    nTok[count] = -1;
    return count++;
  };
  const rootChild = new Int32Array(256).fill(-1);
  let maxDepth = 0;
  for (let id = 0; id < V; id++) {
    if (id % CHUNK === CHUNK - 1) await yieldToLoop();
    if (tokenizer.isSpecial(id) || tokenizer.isEog(id)) continue;
    const b = tokenizer.tokenBytes(id);
    if (b.length === 0) continue;
    bytes[id] = b;
    maxDepth = Math.max(maxDepth, b.length);
    let node = rootChild[b[0]!]!;
    if (node < 0) {
      node = newNode(b[0]!);
      rootChild[b[0]!] = node;
    }
    for (let i = 1; i < b.length; i++) {
      const x = b[i]!;
      let c = nChild[node]!;
      while (c >= 0 && nByte[c] !== x) c = nNext[c]!;
      if (c < 0) {
        c = newNode(x);
        nNext[c] = nChild[node]!;
        nChild[node] = c;
      }
      node = c;
    }
    if (nTok[node]! < 0) nTok[node] = id;
    else {
      // Same bytes as an earlier token (a byte token and a one-byte text token): chain it.
      let t = nTok[node]!;
      while (sameBytes[t]! >= 0) t = sameBytes[t]!;
      sameBytes[t] = id;
    }
  }
  // Depth-first layout.
  const n = count - 1;
  const layout: TrieLayout = {
    byte: new Uint8Array(n),
    end: new Int32Array(n),
    depth: new Uint16Array(n),
    token: new Int32Array(n),
    sameBytes,
    maxDepth,
  };
  const stack: number[] = []; // pairs: linked node, depth; a negative node closes the subtree of -node-1
  const openAt = new Int32Array(count);
  for (let b = 255; b >= 0; b--) if (rootChild[b]! >= 0) stack.push(rootChild[b]!, 0);
  let out = 0;
  while (stack.length > 0) {
    const d = stack.pop()!;
    const node = stack.pop()!;
    if (node < 0) {
      layout.end[openAt[-node - 1]!] = out;
      continue;
    }
    if (out % (CHUNK * 8) === 0) await yieldToLoop();
    openAt[node] = out;
    layout.byte[out] = nByte[node]!;
    layout.depth[out] = d;
    layout.token[out] = nTok[node]!;
    out++;
    stack.push(-node - 1, d);
    for (let c = nChild[node]!; c >= 0; c = nNext[c]!) stack.push(c, d + 1);
  }
  return new TokenTrie(tokenizer, layout, bytes);
}

const tries = new WeakMap<Tokenizer, Promise<TokenTrie>>();

/** The tokenizer's trie, built on first use (in slices, without holding the event loop). */
export function tokenTrie(tokenizer: Tokenizer): Promise<TokenTrie> {
  let t = tries.get(tokenizer);
  if (!t) {
    t = build(tokenizer);
    tries.set(tokenizer, t);
    t.catch(() => tries.delete(tokenizer));
  }
  return t;
}
