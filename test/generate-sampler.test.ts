/** Sampler, stop matcher and PRNG units. */
import { Sampler, type SamplerOptions } from '../lib/generate/sampler';
import { native } from '../lib/native';
import { StopMatcher } from '../lib/generate/stop';
import { Rng } from '../lib/generate/rng';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

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
  expect(s.sample(Float32Array.from([-5, -1, -2]), [])).toBe(1);
  expect(s.sample(Float32Array.from([NaN, -1, -2]), [])).toBe(1);
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
    {
      ...base,
      temperature: 0,
      repeatPenalty: 2,
      presencePenalty: 0.5,
      frequencyPenalty: 0.25,
      repeatLastN: 3,
    },
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

/**
 * The sort-based sampler the native O(vocab) one must equal: rank every token
 * (logit descending, lower id first on ties; NaN never), then top-k, top-p
 * (shortest prefix reaching p), min-p, temperature and the draw walking the
 * ranked candidates (a function of r). `margin`: how close a running sum came
 * to a cut it was tested against (float rounding may decide those differently).
 */
function referenceSampler(
  logits: Float32Array,
  order: readonly number[],
  o: { topK: number; topP: number; minP: number; temperature: number },
): (r: number) => { token: number; margin: number } {
  let cut = Infinity;
  let c = order.slice(0, o.topK > 0 ? Math.min(o.topK, order.length) : order.length);
  const probs = (t: number): number[] => {
    const mx = logits[c[0]!]!;
    const e = c.map((i) => Math.exp((logits[i]! - mx) / t));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / sum);
  };
  if (o.topP < 1) {
    const p = probs(1);
    let cum = 0;
    let keep = c.length;
    for (let i = 0; i < c.length; i++) {
      cum += p[i]!;
      cut = Math.min(cut, Math.abs(cum - o.topP));
      if (cum >= o.topP) {
        keep = i + 1;
        break;
      }
    }
    c = c.slice(0, keep);
  }
  if (o.minP > 0) {
    const threshold = logits[c[0]!]! + Math.log(o.minP);
    c = c.filter((i) => logits[i]! >= threshold);
  }
  const p = probs(o.temperature);
  return (r) => {
    let margin = cut;
    let cum = 0;
    for (let i = 0; i < c.length; i++) {
      cum += p[i]!;
      margin = Math.min(margin, Math.abs(cum - r));
      if (cum > r) return { token: c[i]!, margin };
    }
    return { token: c[c.length - 1]!, margin };
  };
}

test('native O(vocab) selection equals the sort-based sampler on random, tied and peaked logits', () => {
  const rng = new Rng(5);
  const cases: Float32Array[] = [];
  for (const V of [1, 7, 64, 65, 300, 5000, 151669]) {
    cases.push(new Float32Array(V).fill(1.5)); // all equal: one bucket, ranked by id
    // a grammar's mask: most ids -inf, the rest spread
    cases.push(
      Float32Array.from({ length: V }, (_, i) => (i === 0 || rng.next() < 0.05 ? (rng.next() - 0.5) * 8 : -Infinity)),
    );
    cases.push(Float32Array.from({ length: V }, () => (rng.next() - 0.5) * 20)); // flat (random weights)
    cases.push(Float32Array.from({ length: V }, () => Math.round((rng.next() - 0.5) * 6))); // many ties
    // peaked like a trained model: a few high logits over a long tail, some -Infinity (masked) and NaN
    cases.push(
      Float32Array.from({ length: V }, (_, i) => {
        const u = rng.next();
        if (i > 0 && u < 0.01) return -Infinity;
        if (i > 0 && u < 0.012) return NaN;
        return u > 0.995 ? 8 + u * 4 : -4 * Math.log(1 / (1 - u));
      }),
    );
  }
  const settings = [
    { topK: 0, topP: 1, minP: 0 },
    { topK: 40, topP: 0.95, minP: 0.05 },
    { topK: 0, topP: 0.9, minP: 0 },
    { topK: 0, topP: 1, minP: 0.1 },
    { topK: 1, topP: 1, minP: 0 },
    { topK: 5000, topP: 0.5, minP: 0 },
    { topK: 10000, topP: 1, minP: 0.01 }, // above the heap's limit: bucket selection
    { topK: 64, topP: 0.2, minP: 0.5 },
    { topK: 0, topP: 0.9, minP: 0.05 }, // min-p after top-p on the whole row
    { topK: 10000, topP: 1, minP: 0 }, // counts and weights per bucket
    { topK: 10000, topP: 0.8, minP: 0 }, // counts, weights at 1 and at the temperature
  ];
  const addon = native();
  let compared = 0;
  for (const logits of cases) {
    const order = Array.from(logits.keys())
      .filter((i) => !Number.isNaN(logits[i]))
      .sort((a, b) => logits[b]! - logits[a]! || a - b);
    for (const s of settings) {
      for (const temperature of [0.3, 1, 2]) {
        const reference = referenceSampler(logits, order, { ...s, temperature });
        for (let k = 0; k < 8; k++) {
          const r = k === 0 ? 0 : rng.next();
          const ref = reference(r);
          const got = addon.sampleLogits(logits, s.topK, s.topP, s.minP, temperature, r);
          if (ref.margin < 1e-5) continue; // a float tie at a cut: either answer is right
          expect({ ...s, temperature, r, V: logits.length, got }).toEqual({
            ...s,
            temperature,
            r,
            V: logits.length,
            got: ref.token,
          });
          compared++;
        }
      }
    }
  }
  expect(compared).toBeGreaterThan(3000);
  // greedy: the first maximum, NaN skipped
  expect(addon.sampleLogits(Float32Array.from([NaN, 2, 5, 5]), 40, 0.9, 0.1, 0, 0)).toBe(2);
  expect(() => addon.sampleLogits(new Float32Array(0), 0, 1, 0, 1, 0.5)).toThrow(/non-empty Float32Array/);
  expect(() => addon.sampleLogits(new Float32Array(3), 0, 1, 0, 1, 1.5)).toThrow(/r must be/);
});

test('seeded draws over a 151,936-token vocabulary are pinned (the fused native passes change no draw)', () => {
  // Expected ids recorded from the sampler before its passes were fused (and equal with MINIMACLLM_SIMD=scalar).
  function modelLikeLogits(n: number, seed: number): Float32Array {
    const r = new Rng(seed);
    const x = new Float32Array(n);
    for (let i = 0; i < n; i++) x[i] = (r.next() + r.next() + r.next() - 1.5) * 6;
    for (let i = 0; i < 30; i++) x[Math.floor(r.next() * n)] = 10 + r.next() * 8;
    return x;
  }
  const V = 151936;
  const cases: Record<string, [Partial<SamplerOptions>, number[]]> = {
    default: [{}, [63110, 136440, 129536, 120484, 51587, 138815, 104985, 151229, 6822, 118253, 144604, 71287]],
    unrestricted: [
      { topK: 0, topP: 1, minP: 0 },
      [67966, 123180, 129536, 120484, 51587, 5744, 104985, 57758, 6822, 80797, 144604, 71287],
    ],
    hot: [
      { topK: 0, topP: 1, minP: 0, temperature: 3 },
      [56662, 143103, 97224, 115153, 33680, 118854, 15343, 29051, 22038, 10995, 110874, 22123],
    ],
    topP: [
      { topK: 0, topP: 0.9, minP: 0 },
      [63110, 136440, 129536, 120484, 51587, 138815, 149623, 151229, 6822, 118253, 144604, 71287],
    ],
    minP: [
      { topK: 0, topP: 1, minP: 0.05 },
      [63110, 123180, 129536, 120484, 51587, 138815, 104985, 151229, 6822, 118253, 144604, 71287],
    ],
    bigTopK: [
      { topK: 10000, topP: 1, minP: 0, temperature: 2 },
      [49287, 27321, 14685, 10525, 44095, 79309, 82126, 28562, 7174, 126360, 129569, 88799],
    ],
    penalties: [
      { topK: 0, topP: 1, minP: 0, repeatPenalty: 1.3, presencePenalty: 0.5, frequencyPenalty: 0.2 },
      [67966, 123180, 129536, 120484, 51587, 5744, 104985, 57758, 6822, 80797, 144604, 71287],
    ],
  };
  for (const [name, [o, want]] of Object.entries(cases)) {
    const s = new Sampler({ ...base, seed: 42, ...o }, V - 200, [5, 77]);
    const got: number[] = [];
    for (let t = 0; t < 12; t++) {
      const l = modelLikeLogits(V, 100 + t);
      if (t % 4 === 3) for (let i = 0; i < V; i += 3) l[i] = -Infinity; // a grammar's mask
      if (t % 4 === 2) for (let i = 1000; i < 1100; i++) l[i] = 0.5; // ties
      if (t === 5) l[9] = NaN;
      got.push(s.sample(l, got));
    }
    expect([name, got]).toEqual([name, want]);
  }
});

test('the scalar kernels (MINIMACLLM_SIMD=scalar) draw the same tokens as the vector ones', () => {
  // Same rows and settings in a child process forced onto the scalar VecOps: every draw must match.
  const script = `
    const addon = require('node-gyp-build')(${JSON.stringify(path.resolve(__dirname, '..'))});
    let s = 7;
    const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296);
    const out = [];
    for (const n of [151936, 4099, 70]) {
      const x = Float32Array.from({ length: n }, () => (rnd() + rnd() + rnd() - 1.5) * 6);
      for (let i = 0; i < 20; i++) x[Math.floor(rnd() * n)] = 10 + rnd() * 8;
      x[3] = NaN;
      for (let i = 0; i < n; i += 5) if (rnd() < 0.3) x[i] = -Infinity;
      for (const [k, p, m, t] of [[0, 1, 0, 0.8], [0, 0.9, 0, 1.5], [0, 1, 0.05, 0.7], [40, 0.95, 0.05, 0.8], [5000, 1, 0, 2], [6000, 0.8, 0, 1.2]])
        for (let j = 0; j < 8; j++) out.push(addon.sampleLogits(x, k, p, m, t, rnd()));
    }
    process.stdout.write(JSON.stringify(out));`;
  const run = (simd: string | undefined): number[] => {
    const env = { ...process.env };
    if (simd) env['MINIMACLLM_SIMD'] = simd;
    else delete env['MINIMACLLM_SIMD'];
    const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as number[];
  };
  const vector = run(undefined);
  expect(vector).toHaveLength(3 * 6 * 8);
  expect(run('scalar')).toEqual(vector);
});
