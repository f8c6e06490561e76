/**
 * Tokenizer: text ↔ token ids for a model's vocabulary, exactly as llama.cpp
 * (GGUF) or Hugging Face tokenizers (tokenizer.json) would produce them.
 */
import { InvalidArgumentError } from '../errors';
import { decodeAll, PieceTable, StreamingDecoder } from './decoder';
import { specFromGGUF } from './gguf-vocab';
import { SpecialMatcher } from './special';
import type { TokenizerSpec } from './spec';
import { specFromTokenizerJson } from './tokenizer-json';
import { wellFormed } from './unicode';
import { SPECIAL_ATTRS } from './vocab';

export interface TokenizeOptions {
  /** Add BOS / EOS when the model asks for them (`addBos` / `addEos`). Default true. */
  addSpecial?: boolean;
  /** Recognise control tokens such as `<|im_start|>` written in the text. Default false: they are plain text. */
  parseSpecial?: boolean;
}

export interface DetokenizeOptions {
  /** Leave out special tokens (BOS, EOS, control tokens). Default false. */
  skipSpecial?: boolean;
}

export type { StreamingDecoder } from './decoder';

export class Tokenizer {
  /** 'spm': SentencePiece-style BPE with byte fallback; 'bpe': rank-based (byte-level) BPE. */
  readonly type: 'spm' | 'bpe';
  readonly vocabSize: number;
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  /** End-of-turn token (e.g. `<|eot_id|>`, `<|im_end|>`), if the vocabulary has one. */
  readonly eot: number | undefined;
  /** Whether tokenize() puts BOS first (with `addSpecial`). */
  readonly addBos: boolean;
  /** Whether tokenize() puts EOS last (with `addSpecial`). */
  readonly addEos: boolean;
  readonly chatTemplate: string | undefined;

  private readonly spec: TokenizerSpec;
  private readonly pieces: PieceTable;
  private readonly special: SpecialMatcher;
  private readonly eogSet: ReadonlySet<number>;

  /** @internal Use loadTokenizer, Tokenizer.fromGGUFMetadata or Tokenizer.fromTokenizerJson. */
  constructor(spec: TokenizerSpec) {
    this.spec = spec;
    this.type = spec.type;
    this.vocabSize = spec.tokens.length;
    this.bos = spec.bos;
    this.eos = spec.eos;
    this.eot = spec.eot;
    this.addBos = spec.addBos;
    this.addEos = spec.addEos;
    this.chatTemplate = spec.chatTemplate;
    this.pieces = new PieceTable(spec.tokens, spec.attrs, spec.pieceMode);
    this.special = new SpecialMatcher(spec.tokens, spec.attrs);
    this.eogSet = new Set(spec.eog);
  }

  /** From GGUF metadata (`readGGUF(path).metadata`). */
  static fromGGUFMetadata(metadata: Readonly<Record<string, unknown>>): Tokenizer {
    return new Tokenizer(specFromGGUF(metadata));
  }

  /** From a parsed HF tokenizer.json and, optionally, tokenizer_config.json (BOS/EOS, chat template). */
  static fromTokenizerJson(json: unknown, config?: unknown): Tokenizer {
    return new Tokenizer(specFromTokenizerJson(json, config));
  }

  get bosToken(): string | undefined {
    return this.bos === undefined ? undefined : this.spec.tokens[this.bos];
  }

  get eosToken(): string | undefined {
    return this.eos === undefined ? undefined : this.spec.tokens[this.eos];
  }

  tokenize(text: string, options: TokenizeOptions = {}): number[] {
    if (typeof text !== 'string') throw new InvalidArgumentError('tokenize: text must be a string');
    const addSpecial = options.addSpecial ?? true;
    const parseSpecial = options.parseSpecial ?? false;
    const s = wellFormed(text);
    const out: number[] = [];
    const spec = this.spec;
    if (addSpecial && spec.addBos && spec.bos !== undefined) out.push(spec.bos);
    if (s.length > 0) {
      if (!this.special.hasCandidates(parseSpecial)) {
        spec.encodeText(s, { afterSpecial: true, atStart: true }, out);
      } else {
        let afterSpecial = true;
        for (const f of this.special.partition(s, parseSpecial)) {
          if ('token' in f) {
            out.push(f.token);
            afterSpecial = true;
          } else {
            spec.encodeText(s.slice(f.start, f.end), { afterSpecial, atStart: f.start === 0 }, out);
            afterSpecial = false;
          }
        }
      }
    }
    if (addSpecial && spec.addEos && spec.eos !== undefined) out.push(spec.eos);
    return out;
  }

  detokenize(ids: ArrayLike<number>, options: DetokenizeOptions = {}): string {
    if (ids === null || typeof ids !== 'object' || typeof ids.length !== 'number') {
      throw new InvalidArgumentError('detokenize: ids must be an array of token ids');
    }
    return decodeAll(this.pieces, ids, options.skipSpecial ?? false, this.spec.stripLeadingSpace);
  }

  /**
   * An incremental decoder for streaming: push() each generated token and
   * print what it returns. It never returns half a UTF-8 character, and the
   * concatenated output (plus flush()) equals detokenize() of all tokens.
   */
  createDecoder(options: DetokenizeOptions = {}): StreamingDecoder {
    return new StreamingDecoder(this.pieces, options.skipSpecial ?? false, this.spec.stripLeadingSpace);
  }

  /** Special tokens: control tokens (BOS, EOS, chat markers), unknown and unused tokens. */
  isSpecial(id: number): boolean {
    this.checkId(id);
    return (this.spec.attrs[id]! & SPECIAL_ATTRS) !== 0;
  }

  /** Whether generation should stop at this token (EOS, EOT and similar). */
  isEog(id: number): boolean {
    return this.eogSet.has(id);
  }

  /** Every token id that ends generation. */
  get eogIds(): readonly number[] {
    return [...this.eogSet];
  }

  /** The bytes token `id` decodes to (special tokens: their literal text). Do not modify. */
  tokenBytes(id: number): Uint8Array {
    this.checkId(id);
    return this.pieces.bytes(id, false);
  }

  /** Whether decoding drops the space SentencePiece put in front of the first generated piece. */
  get stripsLeadingSpace(): boolean {
    return this.spec.stripLeadingSpace;
  }

  /** The token's text as stored in the vocabulary (e.g. `▁Hello`, `Ġworld`, `<0x0A>`). */
  tokenText(id: number): string {
    this.checkId(id);
    return this.spec.tokens[id]!;
  }

  /** The id of the token whose vocabulary text is exactly `text`. */
  tokenId(text: string): number | undefined {
    return this.spec.tokenToId.get(text);
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new InvalidArgumentError(`token id ${String(id)} is out of range [0, ${this.vocabSize})`);
    }
  }
}
