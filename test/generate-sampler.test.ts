/** Sampler, stop matcher and PRNG units. */
import { argmax, Sampler, type SamplerOptions } from '../lib/generate/sampler';
import { StopMatcher } from '../lib/generate/stop';
import { Rng } from '../lib/generate/rng';

const base: SamplerOptions = {
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  repeatPenalty: 1,
  repeatLastN: 64,
  presencePenalty: 0,
  frequencyPenalty: 0,
  seed: 1,
};

function randomLogits(n: number, seed: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => (r.next() - 0.5) * 20);
}

test('temperature 0 is argmax (first on ties)', () => {
  const s = new Sampler({ ...base, temperature: 0 }, 5);
  expect(s.sample(Float32Array.from([1, 3, 3, 2, 0]), [])).toBe(1);
  expect(argmax(Float32Array.from([-5, -1, -2]))).toBe(1);
});

test('top-k keeps exactly the k best tokens (no full sort needed)', () => {
  const logits = randomLogits(5000, 3);
  const top5 = Array.from(logits.keys())
    .sort((a, b) => logits[b]! - logits[a]!)
    .slice(0, 5);
  const s = new Sampler({ ...base, topK: 5, topP: 1, minP: 0, temperature: 100 }, logits.length);
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) seen.add(s.sample(logits.slice(), []));
  expect([...seen].sort()).toEqual([...top5].sort());
});

test('top-p and min-p cut the tail', () => {
  // probabilities ≈ 0.64, 0.24, 0.09, 0.03 ...
  const logits = Float32Array.from([4, 3, 2, 1, -10]);
  const p = new Sampler({ ...base, topK: 0, topP: 0.7, minP: 0 }, 5);
  const m = new Sampler({ ...base, topK: 0, topP: 1, minP: 0.3 }, 5);
  const seenP = new Set<number>(),
    seenM = new Set<number>();
  for (let i = 0; i < 300; i++) {
    seenP.add(p.sample(logits.slice(), []));
    seenM.add(m.sample(logits.slice(), []));
  }
  expect([...seenP].sort()).toEqual([0, 1]);
  expect([...seenM].sort()).toEqual([0, 1]);
});

test('same seed, same draws; sampling follows the distribution', () => {
  const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.2)]);
  const draw = (seed: number): number[] => {
    const s = new Sampler({ ...base, temperature: 1, topK: 0, topP: 1, minP: 0, seed }, 3);
    return Array.from({ length: 3000 }, () => s.sample(logits.slice(), []));
  };
  const a = draw(9);
  expect(draw(9)).toEqual(a);
  expect(draw(10)).not.toEqual(a);
  const freq = [0, 1, 2].map((t) => a.filter((x) => x === t).length / a.length);
  expect(freq[0]).toBeCloseTo(0.5, 1);
  expect(freq[1]).toBeCloseTo(0.3, 1);
  expect(freq[2]).toBeCloseTo(0.2, 1);
});

test('repeat / presence / frequency penalties as in llama.cpp', () => {
  const s = new Sampler(
    { ...base, temperature: 0, repeatPenalty: 2, presencePenalty: 0.5, frequencyPenalty: 0.25, repeatLastN: 3 },
    4,
  );
  const logits = Float32Array.from([4, -2, 3, 1]);
  s.sample(logits, [3, 0, 1, 1]); // window: the last 3 tokens [0, 1, 1]
  expect(Array.from(logits)).toEqual([4 / 2 - 0.25 - 0.5, -2 * 2 - 0.5 - 0.5, 3, 1]);
});

test('stop matcher holds back partial matches and cuts at the earliest stop', () => {
  const m = new StopMatcher(['END', 'xyz']);
  expect(m.push('hello E')).toEqual({ text: 'hello ', stopped: false });
  expect(m.push('N')).toEqual({ text: '', stopped: false });
  expect(m.push('Dless')).toEqual({ text: '', stopped: true });
  const n = new StopMatcher(['END']);
  expect(n.push('a EN')).toEqual({ text: 'a ', stopped: false });
  expect(n.push('ough')).toEqual({ text: 'ENough', stopped: false });
  expect(n.push('E')).toEqual({ text: '', stopped: false });
  expect(n.flush()).toBe('E');
  expect(new StopMatcher([]).push('END')).toEqual({ text: 'END', stopped: false });
});

describe('ids without a token are never sampled (issue 11 item 15)', () => {
  // The real Qwen2.5 case: 151,665 tokens, 151,936 logits. Here: 6 tokens, 8 logits, id 2 is a hole.
  const logits = () => Float32Array.from([0, 1, 50, 2, 3, 0, 99, 98]);
  it('greedy never picks a padded id (>= the tokenizer size) or a hole', () => {
    const s = new Sampler({ ...base, temperature: 0 }, 6, [2]);
    expect(s.sample(logits(), [])).toBe(4);
  });
  it('random sampling never picks them either, with any topK', () => {
    for (const topK of [0, 3, 40]) {
      const s = new Sampler({ ...base, temperature: 50, topK, topP: 1, minP: 0, seed: 7 }, 6, [2]);
      for (let i = 0; i < 300; i++) {
        const id = s.sample(logits(), []);
        expect(id).toBeLessThan(6);
        expect(id).not.toBe(2);
      }
    }
  });
});
