/**
 * Detokenization and the streaming decoder: UTF-8 safety, byte-fallback
 * pieces, SentencePiece's leading space, and stream == whole-sequence output.
 */
import type { Tokenizer } from '../lib';
import { EXTRA_TEXTS, ggufTokenizer, hfTokenizer, readJson } from './tokenizer-helpers';

function stream(tok: Tokenizer, ids: readonly number[], skipSpecial = false): string[] {
  const d = tok.createDecoder({ skipSpecial });
  const parts = ids.map((id) => d.push(id));
  parts.push(d.flush());
  return parts;
}

/** Deterministic pseudo-random numbers (tests must not flake). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const TOKENIZERS: Array<[string, () => Tokenizer]> = [
  ['llama-spm', () => ggufTokenizer('vocab/ggml-vocab-llama-spm.gguf')],
  ['gpt-2', () => ggufTokenizer('vocab/ggml-vocab-gpt-2.gguf')],
  ['qwen2', () => ggufTokenizer('vocab/ggml-vocab-qwen2.gguf')],
  ['stories260K', () => ggufTokenizer('models/stories260K-vocab.gguf')],
  ['hf llama2', () => hfTokenizer('llama2')],
];

describe.each(TOKENIZERS)('streaming decoder: %s', (_name, get) => {
  it('concatenates to detokenize() for real texts, one token at a time', () => {
    const tok = get();
    for (const text of EXTRA_TEXTS) {
      const ids = tok.tokenize(text, { parseSpecial: true });
      for (const skipSpecial of [false, true]) {
        const parts = stream(tok, ids, skipSpecial);
        expect(parts.join('')).toBe(tok.detokenize(ids, { skipSpecial }));
        // Never half a character: no part ends in a lone high surrogate or holds U+FFFD the whole text lacks.
        for (const p of parts) expect(/[\uD800-\uDBFF]$/.test(p)).toBe(false);
      }
    }
  });

  it('concatenates to detokenize() for random token sequences (invalid UTF-8 included)', () => {
    const tok = get();
    const r = rng(42);
    for (let trial = 0; trial < 200; trial++) {
      const ids = Array.from({ length: 1 + Math.floor(r() * 20) }, () => Math.floor(r() * tok.vocabSize));
      for (const skipSpecial of [false, true])
        expect(stream(tok, ids, skipSpecial).join('')).toBe(tok.detokenize(ids, { skipSpecial }));
    }
  });
});

describe('byte-fallback and multi-byte characters', () => {
  it('emits a character split over <0xXX> pieces only once complete', () => {
    const tok = ggufTokenizer('models/stories260K-vocab.gguf');
    const ids = tok.tokenize('🦙', { addSpecial: false }); // ▁ then four byte tokens: F0 9F A6 99
    expect(ids.map((i) => tok.tokenText(i))).toEqual(['▁', '<0xF0>', '<0x9F>', '<0xA6>', '<0x99>']);
    const d = tok.createDecoder();
    expect(ids.map((id) => d.push(id))).toEqual(['', '', '', '', '🦙']); // the first ▁ is the stripped leading space
    expect(d.flush()).toBe('');
  });

  it('byte-level: an emoji split over several tokens', () => {
    const tok = ggufTokenizer('vocab/ggml-vocab-gpt-2.gguf');
    const ids = tok.tokenize('x🦙', { addSpecial: false });
    const parts = stream(tok, ids);
    expect(parts.join('')).toBe('x🦙');
    expect(parts.filter((p) => p.includes('\uFFFD'))).toEqual([]);
  });

  it('an unfinished character at the end becomes U+FFFD on flush', () => {
    const tok = ggufTokenizer('models/stories260K-vocab.gguf');
    const e2 = tok.tokenId('<0xE2>')!;
    const d = tok.createDecoder();
    expect(d.push(e2)).toBe('');
    expect(d.flush()).toBe('\uFFFD');
    expect(tok.detokenize([e2])).toBe('\uFFFD');
  });
});

describe('SentencePiece leading space', () => {
  const tok = () => ggufTokenizer('vocab/ggml-vocab-llama-spm.gguf');

  it('strips the space SentencePiece inserted, once', () => {
    const t = tok();
    const ids = t.tokenize('Hello world', { addSpecial: false });
    expect(ids).toEqual([15043, 3186]);
    expect(t.detokenize(ids)).toBe('Hello world');
    expect(t.detokenize([3186, 3186])).toBe('world world');
    expect(t.detokenize(t.tokenize('  two spaces', { addSpecial: false }))).toBe('  two spaces');
  });

  it('keeps it after a rendered BOS, strips it when BOS is skipped', () => {
    const t = tok();
    const ids = t.tokenize('Hello');
    expect(ids).toEqual([1, 15043]);
    expect(t.detokenize(ids)).toBe('<s> Hello');
    expect(t.detokenize(ids, { skipSpecial: true })).toBe('Hello');
    expect(stream(t, ids, true)).toEqual(['', 'Hello', '']);
  });

  it('byte-level vocabularies never strip', () => {
    const t = ggufTokenizer('vocab/ggml-vocab-llama-bpe.gguf');
    expect(t.detokenize(t.tokenize(' Hello', { addSpecial: false }))).toBe(' Hello');
  });

  it('reproduces the llama2.c reference text for stories260K', () => {
    const t = ggufTokenizer('models/stories260K-vocab.gguf');
    const { expected_text: text } = readJson<{ expected_text: string }>('reference', 'stories260K-greedy-200.json');
    const ids = t.tokenize(text);
    expect(ids[0]).toBe(1);
    expect(t.detokenize(ids, { skipSpecial: true })).toBe(text);
    expect(stream(t, ids, true).join('')).toBe(text);
  });
});

describe('special tokens in output', () => {
  it('renders control tokens unless skipSpecial', () => {
    const t = ggufTokenizer('vocab/ggml-vocab-qwen2.gguf');
    const ids = t.tokenize('<|im_start|>user\nhi<|im_end|>', { parseSpecial: true });
    expect(ids).toEqual([151644, 872, 198, 6023, 151645]);
    expect(t.detokenize(ids)).toBe('<|im_start|>user\nhi<|im_end|>');
    expect(t.detokenize(ids, { skipSpecial: true })).toBe('user\nhi');
    expect(t.isSpecial(151644)).toBe(true);
    expect(t.isSpecial(872)).toBe(false);
    expect(t.isEog(151645)).toBe(true);
  });

  it('rejects ids out of range', () => {
    const t = ggufTokenizer('models/stories260K-vocab.gguf');
    expect(() => t.detokenize([512])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => t.detokenize([-1])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => t.detokenize([1.5])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => t.createDecoder().push(9999)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => t.tokenText(512)).toThrow(expect.objectContaining({ name: 'InvalidArgumentError' }));
  });
});
