/**
 * llama.cpp's own tokenizer test suite (test-tokenizer-0): every text of the
 * .inp files must give exactly the ids of the .out files, tokenized without
 * BOS and without parsing special tokens.
 */
import { loadTokenizer } from '../lib';
import { fixture, ggufTokenizer, llamaCppCases } from './tokenizer-helpers';

const VOCABS = ['llama-spm', 'phi-3', 'gpt-2', 'llama-bpe', 'qwen2'] as const;

describe.each(VOCABS)('llama.cpp vocab test: %s', (vocab) => {
  const cases = llamaCppCases(vocab);

  it('has the whole suite', () => {
    expect(cases.length).toBe(46);
  });

  it('tokenizes every case exactly like llama.cpp', () => {
    const tok = ggufTokenizer(`vocab/ggml-vocab-${vocab}.gguf`);
    const failures: string[] = [];
    for (const c of cases) {
      const got = tok.tokenize(c.text, { addSpecial: false, parseSpecial: false });
      if (got.join(' ') !== c.ids.join(' '))
        failures.push(`${JSON.stringify(c.text)}\n  want ${c.ids.join(' ')}\n  got  ${got.join(' ')}`);
    }
    expect(failures).toEqual([]);
  });

  it('round-trips every case through detokenize', () => {
    const tok = ggufTokenizer(`vocab/ggml-vocab-${vocab}.gguf`);
    for (const c of cases) {
      // SentencePiece inserts one leading space, which detokenize removes again.
      expect(tok.detokenize(c.ids)).toBe(c.text);
    }
  });
});

describe('loadTokenizer on vocab-only GGUF files', () => {
  it('loads and agrees with fromGGUFMetadata', async () => {
    const tok = await loadTokenizer(fixture('vocab', 'ggml-vocab-gpt-2.gguf'));
    expect(tok.type).toBe('bpe');
    expect(tok.vocabSize).toBe(50257);
    expect(tok.tokenize('Hello world', { addSpecial: false })).toEqual([15496, 995]);
    const spm = await loadTokenizer(fixture('vocab', 'ggml-vocab-llama-spm.gguf'));
    expect(spm.type).toBe('spm');
    expect(spm.addBos).toBe(true);
    expect(spm.tokenize('Hello world')).toEqual([1, 15043, 3186]);
  });
});
