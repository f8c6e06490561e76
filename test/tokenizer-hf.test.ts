/**
 * HF tokenizer.json loading: the same vocabulary loaded from tokenizer.json
 * and from GGUF must tokenize identically (llama.cpp's suite + extra texts).
 */
import * as path from 'node:path';
import { loadTokenizer, Tokenizer } from '../lib';
import { EXTRA_TEXTS, fixture, ggufTokenizer, hfTokenizer, llamaCppCases, readJson } from './tokenizer-helpers';

function compare(
  a: Tokenizer,
  b: Tokenizer,
  texts: readonly string[],
  prep: (s: string) => string = (s) => s,
): string[] {
  const diffs: string[] = [];
  for (const text of texts) {
    for (const parseSpecial of [false, true]) {
      const x = a.tokenize(prep(text), { addSpecial: false, parseSpecial });
      const y = b.tokenize(text, { addSpecial: false, parseSpecial });
      if (x.join(' ') !== y.join(' '))
        diffs.push(
          `${JSON.stringify(text)} parseSpecial=${parseSpecial}\n  gguf ${x.join(' ')}\n  hf   ${y.join(' ')}`,
        );
    }
  }
  return diffs;
}

describe('HF tokenizer.json vs GGUF of the same vocabulary', () => {
  it('Llama 3: tokenizer.json == ggml-vocab-llama-bpe.gguf', () => {
    const hf = hfTokenizer('llama3');
    const gguf = ggufTokenizer('vocab/ggml-vocab-llama-bpe.gguf');
    expect(hf.vocabSize).toBe(gguf.vocabSize);
    const texts = [...llamaCppCases('llama-bpe').map((c) => c.text), ...EXTRA_TEXTS];
    expect(compare(gguf, hf, texts)).toEqual([]);
    expect([hf.bos, hf.eos, hf.eot]).toEqual([gguf.bos, gguf.eos, gguf.eot]);
    expect(hf.chatTemplate).toContain('start_header_id');
  });

  it('Qwen2: tokenizer.json == ggml-vocab-qwen2.gguf (HF applies NFC first, llama.cpp does not)', () => {
    const hf = hfTokenizer('qwen2');
    const gguf = ggufTokenizer('vocab/ggml-vocab-qwen2.gguf');
    expect(hf.vocabSize).toBe(gguf.vocabSize);
    const texts = [...llamaCppCases('qwen2').map((c) => c.text), ...EXTRA_TEXTS];
    expect(compare(gguf, hf, texts, (s) => s.normalize('NFC'))).toEqual([]);
    // Without the NFC step only the text with decomposed accents differs.
    const raw = compare(gguf, hf, texts);
    expect(raw.length).toBe(2);
    expect(raw[0]!.startsWith(JSON.stringify(EXTRA_TEXTS[2]))).toBe(true);
    expect(hf.eot).toBe(gguf.eot);
    expect(hf.eosToken).toBe('<|im_end|>');
    expect(hf.chatTemplate).toContain('im_start');
  });

  it('hf/llama2 (a Mistral-style SentencePiece vocabulary): merges BPE == llama.cpp SPM scoring on the same vocabulary', () => {
    const json = readJson<{ model: { merges: Array<string | string[]> }; added_tokens: Array<{ id: number }> }>(
      'hf',
      'llama2',
      'tokenizer.json',
    );
    const hf = hfTokenizer('llama2');
    // The GGUF llama.cpp would build for it: SentencePiece scores rank merged pieces, so derive them from the merge order.
    const n = hf.vocabSize;
    const tokens: string[] = [];
    const scores = new Float32Array(n).fill(-1e9);
    const types = new Int32Array(n);
    json.model.merges.forEach((m, rank) => {
      const [a, b] = typeof m === 'string' ? m.split(' ') : m;
      const id = hf.tokenId(String(a) + String(b));
      if (id !== undefined && scores[id] === -1e9) scores[id] = -rank;
    });
    const added = new Set(json.added_tokens.map((t) => t.id));
    for (let i = 0; i < n; i++) {
      const t = hf.tokenText(i);
      tokens.push(t);
      types[i] = i === 0 ? 2 : added.has(i) ? 3 : /^<0x[0-9A-F]{2}>$/.test(t) ? 6 : 1;
    }
    const spm = Tokenizer.fromGGUFMetadata({
      'tokenizer.ggml.model': 'llama',
      'tokenizer.ggml.tokens': tokens,
      'tokenizer.ggml.scores': scores,
      'tokenizer.ggml.token_type': types,
    });
    const texts = [...llamaCppCases('llama-spm').map((c) => c.text), ...EXTRA_TEXTS];
    expect(compare(spm, hf, texts)).toEqual([]);
    expect(hf.tokenize('Hello world')).toEqual([1, 22557, 1526]);
    expect(hf.addBos).toBe(true);
    expect(hf.detokenize(hf.tokenize('Hello world'), { skipSpecial: true })).toBe('Hello world');
  });

  it('round-trips the extra texts through every HF tokenizer', () => {
    for (const name of ['llama3', 'qwen2', 'llama2']) {
      const t = hfTokenizer(name);
      for (const text of EXTRA_TEXTS) {
        const want = name === 'qwen2' ? text.normalize('NFC') : text;
        expect(t.detokenize(t.tokenize(text, { addSpecial: false }))).toBe(want);
      }
    }
  });
});

describe('gutenberg-16m: GGUF and tokenizer.json agree with the references', () => {
  const refs = readJson<Array<{ prompt: string; tokens: number[]; greedy: number[]; text: string }>>(
    'reference',
    'gutenberg-16m-hf.json',
  );

  it('matches HF transformers prompt ids and decodes its continuations', async () => {
    const gguf = ggufTokenizer('models/gutenberg-16m-vocab.gguf');
    const hf = await loadTokenizer(fixture('hf', 'gutenberg-16m'));
    expect(gguf.addBos).toBe(true);
    expect(hf.bos).toBe(0); // from config.json: this model has no tokenizer_config.json
    for (const r of refs) {
      expect(gguf.tokenize(r.prompt)).toEqual(r.tokens);
      expect([hf.bos, ...hf.tokenize(r.prompt, { addSpecial: false })]).toEqual(r.tokens);
      expect(gguf.detokenize(r.greedy)).toBe(r.text);
      expect(hf.detokenize(r.greedy)).toBe(r.text);
    }
  });

  it('matches llama.cpp prompt ids', () => {
    const gguf = ggufTokenizer('models/gutenberg-16m-vocab.gguf');
    for (const c of readJson<{ cases: Array<{ text: string; tokens: number[] }> }>(
      'reference',
      'gutenberg-16m-q8_0.tokens.json',
    ).cases) {
      expect(gguf.tokenize(c.text)).toEqual(c.tokens);
    }
  });

  it('GGUF and tokenizer.json agree on the extra texts', async () => {
    const hf = await loadTokenizer(fixture('hf', 'gutenberg-16m', 'tokenizer.json'));
    expect(
      compare(ggufTokenizer('models/gutenberg-16m-vocab.gguf'), hf, [...EXTRA_TEXTS, ...refs.map((r) => r.text)]),
    ).toEqual([]);
  });
});

describe('loadTokenizer', () => {
  it('loads an HF folder with its config and chat template', async () => {
    const t = await loadTokenizer(fixture('hf', 'qwen2'));
    expect(t.vocabSize).toBe(151669);
    expect(t.chatTemplate).toBeDefined();
    expect(t.tokenize('<|im_start|>user', { parseSpecial: true })).toEqual([151644, 872]);
  });

  it('rejects bad sources with MiniMacLLMErrors', async () => {
    await expect(loadTokenizer('')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(loadTokenizer(path.join(__dirname, 'does-not-exist.gguf'))).rejects.toMatchObject({ code: 'ERR_IO' });
    await expect(loadTokenizer(fixture('reference', 'stories260K.tokens.json'))).rejects.toMatchObject({
      code: 'ERR_BAD_MODEL',
    });
  });
});
