/**
 * Token ids → text. Every token becomes bytes (SentencePiece pieces with ▁ as
 * space, `<0xXX>` byte tokens, or byte-level characters mapped back to bytes);
 * the bytes go through one streaming UTF-8 decoder, so a character split
 * across tokens is emitted only once complete, and streaming any sequence
 * concatenates to exactly what `detokenize` returns for the whole sequence.
 */
import { InvalidArgumentError } from '../errors';
import { CHAR_TO_BYTE } from './byte-level';
import { utf8Bytes } from './unicode';
import { ATTR_BYTE, ATTR_NORMAL, ATTR_UNDEFINED, SPECIAL_ATTRS, byteTokenValue } from './vocab';

/** How normal tokens spell their text: SentencePiece (▁ = space) or GPT-2 byte-level characters. */
export type PieceMode = 'spm' | 'byte-level';

const EMPTY = new Uint8Array(0);

export class PieceTable {
  private readonly cache: (Uint8Array | undefined)[];

  constructor(
    private readonly tokens: readonly string[],
    private readonly attrs: Uint16Array,
    private readonly mode: PieceMode,
  ) {
    this.cache = new Array<Uint8Array | undefined>(tokens.length);
  }

  isSpecial(id: number): boolean {
    return (this.attrs[id]! & SPECIAL_ATTRS) !== 0;
  }

  /** Bytes of token `id`; special tokens give nothing when `skipSpecial`. */
  bytes(id: number, skipSpecial: boolean): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.tokens.length) {
      throw new InvalidArgumentError(`token id ${String(id)} is out of range [0, ${this.tokens.length})`);
    }
    if (skipSpecial && this.isSpecial(id)) return EMPTY;
    let b = this.cache[id];
    if (b === undefined) {
      b = this.render(id);
      this.cache[id] = b;
    }
    return b;
  }

  private render(id: number): Uint8Array {
    const text = this.tokens[id]!;
    const attr = this.attrs[id]!;
    if (attr & ATTR_BYTE) {
      const v = byteTokenValue(text);
      if (v >= 0) return Uint8Array.of(v);
    }
    if (!(attr & ATTR_NORMAL) && attr !== ATTR_UNDEFINED) return utf8Bytes(text); // control / added tokens: literal text
    if (this.mode === 'spm') return utf8Bytes(text.replaceAll('\u2581', ' '));
    const out: number[] = [];
    for (const ch of text) {
      const b = CHAR_TO_BYTE.get(ch.codePointAt(0)!);
      if (b !== undefined) out.push(b);
      else for (const x of utf8Bytes(ch)) out.push(x);
    }
    return Uint8Array.from(out);
  }
}

export interface DecodeOptions {
  /** Leave out special (control / unknown / unused) tokens. Default false. */
  skipSpecial?: boolean;
}

/** Incremental detokenizer for streaming generation; see Tokenizer.createDecoder. */
export class StreamingDecoder {
  private td = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
  private atStart = true;

  /** @internal */
  constructor(
    private readonly pieces: PieceTable,
    private readonly skipSpecial: boolean,
    private readonly stripLeadingSpace: boolean,
  ) {}

  /** Adds one token; returns the text that is now complete (possibly ''). */
  push(id: number): string {
    let b = this.pieces.bytes(id, this.skipSpecial);
    if (b.length === 0) return '';
    if (this.atStart) {
      this.atStart = false;
      // SentencePiece's leading space belongs to the first piece of the output only.
      if (this.stripLeadingSpace && b[0] === 0x20) b = b.subarray(1);
    }
    return this.td.decode(b, { stream: true });
  }

  /** Ends the stream: returns any held bytes (an incomplete character becomes U+FFFD). */
  flush(): string {
    return this.td.decode();
  }
}

/** Whole-sequence detokenization, identical to streaming `ids` through a StreamingDecoder. */
export function decodeAll(
  pieces: PieceTable,
  ids: ArrayLike<number>,
  skipSpecial: boolean,
  stripLeadingSpace: boolean,
): string {
  const parts: Uint8Array[] = [];
  let total = 0;
  let atStart = true;
  for (let i = 0; i < ids.length; i++) {
    let b = pieces.bytes(ids[i]!, skipSpecial);
    if (b.length === 0) continue;
    if (atStart) {
      atStart = false;
      if (stripLeadingSpace && b[0] === 0x20) b = b.subarray(1);
    }
    parts.push(b);
    total += b.length;
  }
  const all = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  return new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(all);
}
