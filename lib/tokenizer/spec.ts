/** What a loader (GGUF metadata or tokenizer.json) hands to the Tokenizer class. */
import type { CutPlan } from './cuts';
import type { PieceMode } from './decoder';
import type { Defer } from './merge-job';
import type { TokenLookup } from './token-index';

/**
 * A tokenizer.json as the builder takes it (tokenizer-json.ts): the parsed file, with its two big tables
 * (the vocabulary and the merges) optionally given apart, as arrays (a worker thread parses large files:
 * json-parts.ts).
 */
export interface TokenizerJsonParts {
  /** The file's object; `model.vocab` / `model.merges` are not looked at when given below. */
  json: unknown;
  /** model.vocab's keys and their values, in Object.keys order. */
  vocab?: { keys: string[]; ids: unknown[] };
  merges?: unknown[];
  /**
   * Instead of `merges`: each merge as the ids of its two sides, `[2 * rank]` left and `[2 * rank + 1]`
   * right, -1 where a side is not a token (the merge is then never applied): what the worker thread that
   * parses a large file sends (json-parts.ts), resolved against the vocabulary with the added tokens over
   * it, as the builder resolves them. 151k merges as strings would be ~450k objects on the main thread.
   */
  mergeIds?: Int32Array; // [n_merges * 2]
}

/** What a tokenizer was built from, for a worker thread to build the same one (offload.ts). */
export type TokenizerSource =
  | { kind: 'gguf'; metadata: Readonly<Record<string, unknown>> }
  | { kind: 'json'; parts: TokenizerJsonParts; config: unknown };

export interface EncodeContext {
  /** The fragment follows a special token, or starts the text (SentencePiece inserts a space then). */
  afterSpecial: boolean;
  /** The fragment starts at offset 0 of the input. */
  atStart: boolean;
  /** The text continues a fragment cut before it (tokenized in slices): no leading Strip / Prepend. */
  continued?: boolean;
  /** The fragment goes on after this text (tokenized in slices): no trailing Strip. */
  more?: boolean;
  /** tokenizeAsync: long pieces are merged later, a slice at a time (merge-job.ts). */
  defer?: Defer | undefined;
}

export interface TokenizerSpec {
  /** 'spm': SentencePiece-style BPE with byte fallback; 'bpe': rank-based BPE (byte-level or char-level). */
  type: 'spm' | 'bpe';
  tokens: string[];
  attrs: Uint16Array;
  tokenToId: TokenLookup;
  /** Encodes one text fragment (no special tokens inside), appending ids. */
  encodeText(text: string, ctx: EncodeContext, out: number[]): void;
  pieceMode: PieceMode;
  /** Drop the space that SentencePiece put in front of the first piece. */
  stripLeadingSpace: boolean;
  bos?: number;
  eos?: number;
  eot?: number;
  eog: number[];
  /** Ids below tokens.length that the file gives no token (tokenizer.json gaps); never sampled. */
  holes?: number[];
  addBos: boolean;
  addEos: boolean;
  chatTemplate?: string;
  /** Builds what the first encode would build at once (the merge table), a slice at a time (tokenizeAsync). */
  prepare?: () => Promise<void>;
  /** What it was built from (tokenizeAsync hands what it cannot slice to a worker built from it). */
  source?: TokenizerSource;
  /** Where texts may be cut to be tokenized in slices (cuts.ts); none when absent. */
  cuts?: CutPlan;
}
