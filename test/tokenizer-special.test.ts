/**
 * Special tokens (BOS/EOS, control tokens only with parseSpecial, user-defined
 * tokens always), model references, and safety on hostile input.
 */
import { Tokenizer } from '../lib';
import { ggufTokenizer, hfTokenizer, readJson } from './tokenizer-helpers';

describe('special tokens', () => {
  it('control tokens are text unless parseSpecial', () => {
    const t = ggufTokenizer('vocab/ggml-vocab-llama-bpe.gguf');
    const plain = t.tokenize('<|eot_id|>', { addSpecial: false });
    expect(plain).not.toContain(128009);
    expect(t.tokenize('<|eot_id|>', { addSpecial: false, parseSpecial: true })).toEqual([128009]);
    expect(t.eot).toBe(128009);
    expect(t.isEog(128009)).toBe(true);
    expect(t.isEog(t.eos!)).toBe(true);
  });

  it('matches the longest special token first', () => {
    const t = ggufTokenizer('vocab/ggml-vocab-llama-bpe.gguf');
    const id10 = t.tokenId('<|reserved_special_token_10|>')!;
    expect(t.tokenize('a<|reserved_special_token_10|>b', { addSpecial: false, parseSpecial: true })).toEqual([
      64,
      id10,
      65,
    ]);
  });

  it('user-defined tokens are matched even without parseSpecial (as llama.cpp does)', () => {
    const t = ggufTokenizer('vocab/ggml-vocab-qwen2.gguf');
    const think = t.tokenId('<think>')!;
    expect(t.isSpecial(think)).toBe(false);
    expect(t.tokenize('<think>hmm</think>', { addSpecial: false })).toEqual([
      think,
      ...t.tokenize('hmm', { addSpecial: false }),
      t.tokenId('</think>')!,
    ]);
  });

  it('BOS / EOS follow addBos / addEos and addSpecial', () => {
    const spm = ggufTokenizer('vocab/ggml-vocab-llama-spm.gguf');
    expect([spm.addBos, spm.addEos, spm.bosToken, spm.eosToken]).toEqual([true, false, '<s>', '</s>']);
    expect(spm.tokenize('')).toEqual([1]);
    expect(spm.tokenize('', { addSpecial: false })).toEqual([]);
    const qwen = ggufTokenizer('vocab/ggml-vocab-qwen2.gguf');
    expect(qwen.addBos).toBe(false);
    expect(qwen.tokenize('hi')).toEqual([6023]);
    const l3 = ggufTokenizer('vocab/ggml-vocab-llama-bpe.gguf');
    expect(l3.tokenize('hi')).toEqual([128000, 6151]);
  });

  it('SentencePiece inserts the leading space after every special token', () => {
    const t = ggufTokenizer('vocab/ggml-vocab-llama-spm.gguf');
    expect(t.tokenize('<s>Hello</s>Hello', { addSpecial: false, parseSpecial: true })).toEqual([1, 15043, 2, 15043]);
  });

  it('Phi-3 special tokens swallow the whitespace after them (llama.cpp rstrip)', () => {
    const t = ggufTokenizer('vocab/ggml-vocab-phi-3.gguf');
    const a = t.tokenize('<|user|>\nHi<|end|>', { addSpecial: false, parseSpecial: true });
    expect(a[0]).toBe(32010);
    expect(a).toEqual(t.tokenize('<|user|>Hi<|end|>', { addSpecial: false, parseSpecial: true }));
  });

  it('HF added tokens: special ones only with parseSpecial', () => {
    const t = hfTokenizer('llama3');
    expect(t.tokenize('<|start_header_id|>', { addSpecial: false, parseSpecial: true })).toEqual([128006]);
    expect(t.tokenize('<|start_header_id|>', { addSpecial: false })).not.toContain(128006);
  });
});

describe('model references (llama.cpp token ids)', () => {
  it('stories260K', () => {
    const t = ggufTokenizer('models/stories260K-vocab.gguf');
    expect(t.vocabSize).toBe(512);
    for (const c of readJson<{ cases: Array<{ text: string; tokens: number[] }> }>(
      'reference',
      'stories260K.tokens.json',
    ).cases) {
      expect(t.tokenize(c.text)).toEqual(c.tokens);
    }
  });

  it('the random tiny models (synthetic 512-token SentencePiece vocabulary)', () => {
    const t = ggufTokenizer('models/tiny-random-spm-vocab.gguf');
    for (const c of readJson<{ cases: Array<{ text: string; tokens: number[] }> }>(
      'reference',
      'tiny-llama.tokens.json',
    ).cases) {
      expect(t.tokenize(c.text)).toEqual(c.tokens);
    }
  });
});

describe('hostile input', () => {
  it('rejects non-strings with InvalidArgumentError', () => {
    const t = ggufTokenizer('models/stories260K-vocab.gguf');
    expect(() => t.tokenize(42 as unknown as string)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    expect(() => t.detokenize(null as unknown as number[])).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG' }),
    );
  });

  it('lone surrogates are tokenized as U+FFFD, the bytes llama.cpp receives from Node', () => {
    for (const t of [ggufTokenizer('vocab/ggml-vocab-llama-spm.gguf'), ggufTokenizer('vocab/ggml-vocab-qwen2.gguf')]) {
      expect(t.tokenize('a\uD800b\uDC00c\uD83D')).toEqual(t.tokenize('a\uFFFDb\uFFFDc\uFFFD'));
      expect(t.tokenize('🦙')).toEqual(t.tokenize('\uD83E\uDD99')); // valid pairs untouched
    }
  });

  it('NUL bytes are ordinary characters', () => {
    const gpt2 = ggufTokenizer('vocab/ggml-vocab-gpt-2.gguf');
    expect(gpt2.tokenize('\u0000', { addSpecial: false })).toEqual([188]);
    const spm = ggufTokenizer('vocab/ggml-vocab-llama-spm.gguf');
    expect(spm.tokenize('a\u0000b', { addSpecial: false })).toEqual([263, 3, 29890]);
    expect(spm.detokenize(spm.tokenize('a\u0000b', { addSpecial: false }))).toBe('a\u0000b');
  });

  it('rejects unsupported or broken GGUF metadata with clear errors', () => {
    expect(() => Tokenizer.fromGGUFMetadata({})).toThrow(expect.objectContaining({ code: 'ERR_BAD_MODEL' }));
    expect(() =>
      Tokenizer.fromGGUFMetadata({ 'tokenizer.ggml.model': 'bert', 'tokenizer.ggml.tokens': ['a'] }),
    ).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED' }));
    expect(() =>
      Tokenizer.fromGGUFMetadata({ 'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.tokens': ['a'] }),
    ).toThrow(expect.objectContaining({ code: 'ERR_BAD_MODEL' }));
    expect(() => Tokenizer.fromTokenizerJson({ model: { type: 'WordPiece', vocab: {} } })).toThrow(
      expect.objectContaining({ code: 'ERR_UNSUPPORTED' }),
    );
  });

  it('pathological inputs finish, and 8x the input costs roughly 8x the time', () => {
    const t = ggufTokenizer('vocab/ggml-vocab-llama-bpe.gguf');
    const spm = ggufTokenizer('vocab/ggml-vocab-llama-spm.gguf');
    for (const unit of ['a', ' ', '\n ']) {
      for (const tok of [t, spm]) {
        const small = unit.repeat(Math.ceil(16384 / unit.length));
        const big = unit.repeat(Math.ceil(131072 / unit.length));
        // CPU time (a loaded shared machine stretches wall time), best of 4, small and big interleaved.
        const cpuMs = (f: () => void): number => {
          const c0 = process.cpuUsage();
          f();
          const c = process.cpuUsage(c0);
          return (c.user + c.system) / 1000;
        };
        let ts = Infinity;
        let tb = Infinity;
        for (let i = 0; i < 4; i++) {
          ts = Math.min(
            ts,
            cpuMs(() => tok.tokenize(small)),
          );
          tb = Math.min(
            tb,
            cpuMs(() => tok.tokenize(big)),
          );
        }
        // Linear ≈ 8x, quadratic ≈ 64x: a loose bound that survives a noisy shared machine.
        // (A floor under the small time: a few ms are mostly timer and scheduler noise on a loaded machine.)
        const what = `${tok === spm ? 'spm' : 'bpe'} ${JSON.stringify(unit)}: ${ts.toFixed(1)} ms, 8x: ${tb.toFixed(1)} ms`;
        expect({ what, linear: tb / Math.max(ts, 10) < 28 }).toEqual({ what, linear: true });
      }
    }
  });
});

describe("llama.cpp's text rules for special tokens (issue 11 item 17b)", () => {
  // Expected ids from llama.cpp itself (node-llama-cpp 3.x, vocab-only load, tokenize(text, specialTokens)).
  it('phi-3: "</s>" typed by a user stays text unless parseSpecial', () => {
    const t = ggufTokenizer('vocab/ggml-vocab-phi-3.gguf');
    const plain = { addSpecial: false };
    const special = { addSpecial: false, parseSpecial: true };
    expect(t.tokenize(' </s>', plain)).toEqual([29871, 1533, 29879, 29958]); // ▁ ▁</ s >
    expect(t.tokenize('a</s>b', plain)).toEqual([263, 829, 29879, 29958, 29890]);
    expect(t.tokenize(' </s>', special)).toEqual([259, 2]);
    expect(t.tokenize('a</s>b', special)).toEqual([263, 2, 289]);
    expect(t.isSpecial(2)).toBe(true);
  });

  it('qwen2: fill-in-the-middle tokens are control tokens; pad / repo / file separators end generation', () => {
    const t = ggufTokenizer('vocab/ggml-vocab-qwen2.gguf');
    expect(t.tokenize('a<|fim_prefix|>b', { addSpecial: false })).toEqual([64, 27, 91, 69, 318, 13974, 91, 29, 65]);
    expect(t.tokenize('a<|fim_prefix|>b', { addSpecial: false, parseSpecial: true })).toEqual([64, 151659, 65]);
    for (const text of ['<|fim_pad|>', '<|repo_name|>', '<|file_sep|>']) expect(t.isEog(t.tokenId(text)!)).toBe(true);
    expect(t.isEog(t.tokenId('<|fim_prefix|>')!)).toBe(false);
  });

  it('tokenizer.json and GGUF of the same vocabulary agree on every added token', () => {
    const hf = hfTokenizer('qwen2');
    const gguf = ggufTokenizer('vocab/ggml-vocab-qwen2.gguf');
    for (let id = 151643; id < hf.vocabSize; id++) {
      const text = hf.tokenText(id);
      for (const parseSpecial of [false, true]) {
        const s = ` ${text}x`;
        expect([s, parseSpecial, hf.tokenize(s, { addSpecial: false, parseSpecial })]).toEqual([
          s,
          parseSpecial,
          gguf.tokenize(s, { addSpecial: false, parseSpecial }),
        ]);
      }
      expect([text, hf.isEog(id), hf.isSpecial(id)]).toEqual([text, gguf.isEog(id), gguf.isSpecial(id)]);
    }
  });
});
