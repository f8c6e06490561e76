/** Tokenizers: SentencePiece-style and byte-level BPE, from GGUF metadata or HF tokenizer.json. */
export { loadTokenizer } from './load';
export { MAX_TOKEN_ARRAY, Tokenizer } from './tokenizer';
export type { DetokenizeOptions, StreamingDecoder, TokenizeAsyncOptions, TokenizeOptions } from './tokenizer';
