/**
 * TokenIndex (lib/tokenizer/token-index.ts): token text → id as one Map for small vocabularies, as 32
 * shards for large ones, so that no 150k-entry Map rehashes in one step while a vocabulary loads.
 */
import { readGGUFSync } from '../lib/gguf/reader';
import { TokenIndex } from '../lib/tokenizer/token-index';
import { fixture } from './tokenizer-helpers';

const tokensOf = (name: string): string[] =>
  readGGUFSync(fixture('vocab', `ggml-vocab-${name}.gguf`)).metadata['tokenizer.ggml.tokens'] as string[];

describe('TokenIndex', () => {
  it.each([['qwen2'], ['llama-bpe'], ['llama-spm']])(
    '%s: the lookups of a Map, and no rehash of 32,768+ entries while it fills',
    (name) => {
      const tokens = tokensOf(name);
      const index = new TokenIndex(tokens.length);
      const map = new Map<string, number>();
      const grows: number[] = []; // the index's size at each add that rehashes a Map of 16,384+ entries
      tokens.forEach((t, i) => {
        if (index.growsOnAdd(t)) grows.push(index.size);
        index.set(t, i);
        map.set(t, i);
      });
      // Sharded (qwen2, llama-bpe): none. One Map (llama-spm, 32,000 tokens): its one growth at 16,384.
      expect(grows.filter((n) => n >= 1 << 15)).toEqual([]);
      if (tokens.length > 1 << 15) expect(grows).toEqual([]);
      expect(index.size).toBe(map.size);
      const wrong = [...map].filter(([t, id]) => index.get(t) !== id || !index.has(t));
      expect(wrong).toEqual([]);
      expect([...index.keys()].sort()).toEqual([...map.keys()].sort());
      for (const t of ['', 'no such token at all', 'Ġ'.repeat(40), '\u{1F999}']) expect(index.get(t)).toBe(map.get(t));
    },
  );

  it('sets replace, the empty string is a key, and a full single Map says when it would grow', () => {
    for (const expected of [10, 1 << 20]) {
      const index = new TokenIndex(expected);
      index.set('', 1).set('a', 2).set('a', 3);
      expect(index.get('')).toBe(1);
      expect(index.get('a')).toBe(3);
      expect(index.size).toBe(2);
      expect(index.has('b')).toBe(false);
    }
    // Expected small but filled past 16,384: the add that rehashes is flagged.
    const small = new TokenIndex(100);
    for (let i = 0; i < 1 << 14; i++) small.set(`t${i}`, i);
    expect(small.growsOnAdd('another')).toBe(true);
  });
});
