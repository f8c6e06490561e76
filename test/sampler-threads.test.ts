/**
 * The sampler's passes on a backend's CPU threads (Backend.sampleLogits, what generate() uses): a row of
 * 16384 logits or more is cut into spans by its length alone and the spans' sums are joined in span order,
 * so every thread count draws exactly the tokens the addon draws alone on the JS thread, at every kernel
 * level; while a graph run holds the threads, sampling runs on the caller alone (never waiting) and draws
 * the same; after dispose, ERR_DISPOSED. About 3 s.
 */
import { Backend } from '../lib/backend';
import { native, type NativeBackend } from '../lib/native';
import { DType } from '../lib/dtype';
import { Rng } from '../lib/generate/rng';
import { randomFloats } from './helpers/reference';
import { GraphTensors } from './helpers/graph-tensors';
import { CPU_SIMD_LEVELS } from './helpers/simd-levels';

/** Logits shaped like a model's: a bell of low ones, a few high, a grammar's mask on some rows, NaN, ties. */
function row(n: number, seed: number): Float32Array {
  const r = new Rng(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = (r.next() + r.next() + r.next() - 1.5) * 6;
  for (let i = 0; i < 25; i++) x[Math.floor(r.next() * n)] = 10 + r.next() * 8;
  if (seed % 3 === 0) for (let i = 0; i < n; i += 4) x[i] = -Infinity;
  if (seed % 3 === 1) for (let i = n >> 1; i < (n >> 1) + 300; i++) x[i] = 0.25;
  x[7] = NaN;
  return x;
}

// [topK, topP, minP, temperature]
const SETTINGS: Array<[number, number, number, number]> = [
  [0, 1, 0, 0.8],
  [0, 0.9, 0, 1.5],
  [0, 0.95, 0, 0.8],
  [0, 1, 0.05, 0.7],
  [40, 0.95, 0.05, 0.8],
  [6000, 0.8, 0, 1.2],
  [0, 1, 0, 0], // greedy: the first maximum
];
const SIZES = [151936, 128256, 65600, 16384, 16383, 4099];

afterAll(() => native().setCpuSimd('auto'));

test("a backend's threads draw exactly the tokens the addon draws alone, at every thread count and level", () => {
  const addon = native();
  const backends = [1, 2, 3].map((threads) => Backend.create('cpu', { threads }));
  const rng = new Rng(11);
  let compared = 0;
  try {
    for (const level of CPU_SIMD_LEVELS) {
      addon.setCpuSimd(level);
      SIZES.forEach((n, i) => {
        const x = row(n, 40 + i);
        for (const [k, p, m, t] of SETTINGS)
          for (let j = 0; j < 4; j++) {
            const r = rng.next();
            const want = addon.sampleLogits(x, k, p, m, t, r);
            for (const b of backends)
              expect({ level, n, k, p, m, t, r, threads: b.threads, got: b.sampleLogits(x, k, p, m, t, r) }).toEqual({
                level,
                n,
                k,
                p,
                m,
                t,
                r,
                threads: b.threads,
                got: want,
              });
            compared++;
          }
      });
    }
  } finally {
    native().setCpuSimd('auto');
    for (const b of backends) void b.dispose();
  }
  expect(compared).toBe(CPU_SIMD_LEVELS.length * SIZES.length * SETTINGS.length * 4);
});

test('while a run holds the threads, sampling runs on the caller alone and draws the same; ERR_DISPOSED after', async () => {
  const addon = native();
  const be: NativeBackend = addon.createBackend('cpu', { threads: 2 });
  // A run of ~100 ms or more: 64 tokens through sixteen [2048, 2048] f32 matmuls in a chain.
  const K = 2048,
    n = 64;
  const t = new GraphTensors(be, n);
  const wf = randomFloats(K * K, 3, 0.02);
  const w = t.uploaded(DType.F32, K, K, new Uint8Array(wf.buffer, wf.byteOffset, wf.byteLength));
  const x = t.activation(K);
  let prev = x;
  const nodes = [];
  for (let i = 0; i < 16; i++) {
    const d = t.activation(K);
    nodes.push({ op: 'matmul', src: [prev, w], dst: d });
    prev = d;
  }
  const g = be.createGraph({ tensors: t.tensors, nodes, maxTokens: n });
  const logits = row(151936, 7);
  const want = SETTINGS.map(([k, p, m, temp]) => addon.sampleLogits(logits, k, p, m, temp, 0.37));
  try {
    const xs = randomFloats(n * K, 5, 1);
    const step = {
      nTokens: n,
      nPast: 0,
      inputs: [{ tensor: x, data: new Uint8Array(xs.buffer, xs.byteOffset, xs.byteLength) }],
      outputs: [{ tensor: prev, data: new Float32Array(n * K) }],
    };
    const t0 = performance.now();
    g.runSync(step);
    const runMs = performance.now() - t0;
    const t1 = performance.now();
    const running = g.run(step);
    // Let the run's thread take the backend, then sample while it holds it (from a fifth to half of its time).
    while (performance.now() - t1 < runMs / 5);
    let rounds = 0;
    do {
      const got = SETTINGS.map(([k, p, m, temp]) => be.sampleLogits(logits, k, p, m, temp, 0.37));
      expect(got).toEqual(want);
      rounds++;
    } while (performance.now() - t1 < runMs / 2);
    expect(rounds).toBeGreaterThan(0);
    await running;
    // And with the threads free again.
    expect(SETTINGS.map(([k, p, m, temp]) => be.sampleLogits(logits, k, p, m, temp, 0.37))).toEqual(want);
  } finally {
    g.dispose();
    t.dispose();
    await be.dispose();
  }
  expect(() => be.sampleLogits(logits, 0, 1, 0, 1, 0.5)).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
  const b = Backend.create('cpu', { threads: 2 });
  await b.dispose();
  expect(() => b.sampleLogits(logits, 0, 1, 0, 1, 0.5)).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
  // Bad arguments: the addon's messages.
  const c = Backend.create('cpu', { threads: 2 });
  try {
    expect(() => c.sampleLogits(new Float32Array(0), 0, 1, 0, 1, 0.5)).toThrow(/non-empty Float32Array/);
    expect(() => c.sampleLogits(logits, 0, 1, 0, 1, 1.5)).toThrow(/r must be/);
  } finally {
    await c.dispose();
  }
});
