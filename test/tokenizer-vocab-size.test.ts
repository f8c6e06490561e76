/**
 * Tokenizers with fewer tokens than the model has logits (issue 11 item 15;
 * the real Qwen2.5 case: 151,665 tokens, 151,936 logits) and token ids the
 * model has no logits for, on a real HF model folder: the sampler never
 * returns an id without a token, and inconsistent ids fail at load.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../lib/model/model';
import { fixture } from './helpers/model-refs';

type Json = Record<string, unknown>;
const SRC = fixture('models', 'gutenberg-16m-hf');
const BASE = JSON.parse(fs.readFileSync(path.join(SRC, 'tokenizer.json'), 'utf8')) as Json;

/** A copy of the model folder (weights linked) with its tokenizer.json changed by `mutate`. */
function folderWith(mutate: (tokenizer: Json) => void): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mml-vocab-'));
  for (const f of fs.readdirSync(SRC)) if (f !== 'tokenizer.json') fs.symlinkSync(path.join(SRC, f), path.join(dir, f));
  const t = JSON.parse(JSON.stringify(BASE)) as Json;
  mutate(t);
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(t));
  return dir;
}

const dropIds = (from: number, to: number) => (t: Json) => {
  const vocab = (t.model as Json).vocab as Record<string, number>;
  for (const [k, id] of Object.entries(vocab)) if (id >= from && id < to) delete vocab[k];
};

// Near-uniform sampling over all 8192 logits: without masking, an id without a token comes up within a few tokens.
const WILD = { temperature: 20, topK: 0, topP: 1, minP: 0, maxTokens: 48 } as const;

describe('ids without a token are never generated', () => {
  it('tokenizer shorter than the logits (ids 6000..8191 have no token)', async () => {
    const dir = folderWith(dropIds(6000, 8192));
    try {
      const model = await loadModel(dir, { backend: 'cpu', contextSize: 128 });
      try {
        expect(model.tokenizer.vocabSize).toBe(6000);
        expect(model.info.vocabSize).toBe(8192);
        for (const seed of [1, 2, 3]) {
          const r = await model.generate('Once upon a time', { ...WILD, seed });
          expect(r.tokens.length).toBeGreaterThan(0);
          expect(Math.max(...r.tokens)).toBeLessThan(6000);
        }
      } finally {
        await model.dispose();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('holes in the ids (3000..4999 missing) are never generated either', async () => {
    const dir = folderWith(dropIds(3000, 5000));
    try {
      const model = await loadModel(dir, { backend: 'cpu', contextSize: 128 });
      try {
        for (const seed of [1, 2, 3]) {
          const r = await model.generate('Once upon a time', { ...WILD, seed });
          expect(r.tokens.filter((id) => id >= 3000 && id < 5000)).toEqual([]);
          expect(r.text).not.toContain('[EMPTY_');
        }
      } finally {
        await model.dispose();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('token ids the model has no logits for fail at load', () => {
  it('an added token id >= config.json vocab_size is ERR_BAD_MODEL', async () => {
    const dir = folderWith((t) => (t.added_tokens as Json[]).push({ id: 8192, content: '<|extra|>', special: true }));
    try {
      await expect(loadModel(dir, { backend: 'cpu', contextSize: 64 })).rejects.toMatchObject({
        code: 'ERR_BAD_MODEL',
        message: expect.stringMatching(/<\|extra\|>.*8192/),
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
