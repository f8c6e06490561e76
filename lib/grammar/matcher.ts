/**
 * One constrained generation's position in a grammar: which configuration
 * the text so far leads to, the mask of tokens that may come next, and
 * whether the grammar is complete (end of generation allowed).
 */
import type { Mask, MaskEngine } from './masks';

export class GrammarMatcher {
  readonly #engine: MaskEngine;
  #cfg: number;
  #first = true;

  /** `atStart`: the grammar starts the output (false: it takes over mid-text, no leading-space rule). */
  constructor(engine: MaskEngine, atStart = true) {
    this.#engine = engine;
    this.#cfg = engine.startConfig;
    this.#first = atStart;
  }

  /** Tokens allowed next (end-of-generation tokens only where the grammar is complete). */
  mask(): Mask {
    return this.#first ? this.#engine.firstMask(this.#cfg) : this.#engine.mask(this.#cfg);
  }

  /** Advances by one generated token; false (state unchanged) if the grammar does not allow it. */
  accept(token: number): boolean {
    const trie = this.#engine.trie;
    const bytes = trie.bytes(token);
    if (bytes === undefined) return false;
    // The decoder drops the first piece's leading space (SentencePiece), so the grammar never sees it.
    const from = this.#first && trie.stripsLeadingSpace && bytes[0] === 0x20 ? 1 : 0;
    const cfg = this.#stepAll(bytes, from);
    if (cfg < 0) return false;
    this.#cfg = cfg;
    this.#first = false;
    return true;
  }

  /** Advances by raw text bytes (not token-aligned); false (state unchanged) if not allowed. */
  acceptBytes(bytes: Uint8Array): boolean {
    const cfg = this.#stepAll(bytes, 0);
    if (cfg < 0) return false;
    this.#cfg = cfg;
    if (bytes.length > 0) this.#first = false;
    return true;
  }

  #stepAll(bytes: Uint8Array, from: number): number {
    let cfg = this.#cfg;
    for (let i = from; i < bytes.length && cfg >= 0; i++) cfg = this.#engine.step(cfg, bytes[i]!);
    return cfg;
  }

  /** The text so far is a complete sentence of the grammar. */
  get complete(): boolean {
    return this.#engine.isComplete(this.#cfg);
  }

  /** Complete, and nothing more can follow: only end of generation remains. */
  get finished(): boolean {
    return this.complete && !this.#engine.canContinue(this.#cfg);
  }
}
