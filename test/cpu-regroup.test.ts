/**
 * At the x86 levels (plain AVX2, AVX-VNNI, AVX-512) the CPU backend reads q4_0 and q8_0 matmul weights
 * regrouped 8 rows at a time (native/cpu/regroup_x8.h), and q4_K, q5_K and q6_K ones interleaved 4 rows at a time
 * (native/cpu/regroup_x4.h): a copy made on a graph's first run from read-only (mapped) weights, read by the
 * decode tiles and packed into each level's prefill panels (AVX-VNNI: q8_0 + 128; AVX-512: 16-row panels
 * of two groups of 8, or one where a matrix ends on an odd group; of four groups of 4). Weights in a
 * mapped file, as a model's are:
 *  - every level ('auto', 'avx-vnni', 'avx2', 'scalar'), 1 and 2 threads, decode and prefill shapes
 *    (1, 2, 3, 5, 9, 17 rows: one, two and three activation columns per tile, panels from 8), alone
 *    and in a group sharing the activations (q4_0 and q8_0 side by side, with biases, and q4_0 and q8_0
 *    matrices of 36 and 12 rows that cannot be regrouped), against the same weights in an allocated
 *    buffer (never regrouped) within float summation order (q8_0: bit for bit, the regrouped tile
 *    keeps the row tiles' order; q4_K, q5_K, q6_K: bit for bit, the interleaved tiles and panels are the in-place
 *    ones reading the same blocks elsewhere), and at the 'scalar' level against the reference itself;
 *  - the segment reports which nodes read a regrouped copy: the regroupable matmuls exactly,
 *    at every x86 level but 'scalar', and only once run (or warmed, or made by another graph); writable
 *    weights never; at the AVX-512 level against the scalar reference too;
 *  - two graphs over the same weights share one copy, a level switched after the first run is
 *    honoured, and disposing everything leaves nothing running;
 *  - warm() makes the copies without running (not at the 'scalar' level), a graph created afterwards
 *    over the same weights finds them at creation, and loadModel warms a q4_0 and a q8_0 model's weights: its
 *    contexts' graphs read them regrouped before their first run.
 * Matmul weights of the other types (F16 here) and q4_0 / q8_0 / q4_K / q6_K matrices that are not whole groups
 * of 8 (4) rows are copied as they are into huge pages where the system gives them (Linux, transparent huge pages
 * "always" or "madvise"): the segment reports them as `copied` under the same conditions, and their results
 * have the same bits as the weights read in place; a Q4_K and a Q6_K model's logits (their matrices
 * interleaved) the bits of the same model read from a huge-page copy of its file (read in place, never copied).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DType } from '../lib/dtype';
import { loadModel } from '../lib/model/model';
import { native, type NativeBackend, type NativeBuffer, type NativeNodeSpec } from '../lib/native';
import { quantize, randomFloats } from './helpers/reference';
import { GraphTensors } from './helpers/graph-tensors';
import { CPU_SIMD_LEVELS } from './helpers/simd-levels';

const K = 512;
type WType = 'Q4_0' | 'Q8_0' | 'Q4_K' | 'Q5_K' | 'Q6_K' | 'F16';
interface W {
  type: WType;
  rows: number;
  data: Uint8Array;
  bias?: Float32Array;
  offset: number; // in the mapped file
}

// Matmuls of one activation matrix (one group: q/k/v-like), then one alone reading the group's first output.
const GROUP: Array<[WType, number, boolean]> = [
  ['Q4_0', 64, true],
  ['Q4_0', 16, false],
  ['Q8_0', 16, false],
  ['Q4_0', 36, false], // 36 rows: not whole groups of 8, read in place
  ['Q8_0', 40, true], // 5 groups: the AVX-512 panels end on one group
  ['Q8_0', 12, false], // not whole groups of 8
];
// Matmuls alone, each reading the group's first output (k = 64).
const CHAINS: Array<[WType, number]> = [
  ['Q4_0', 200],
  ['Q8_0', 104],
];
// Matmuls alone, each reading the activations (k = K): q4_K / q5_K / q6_K interleaved where whole groups of 4
// rows (q6_K: 7 groups, so the 16-row AVX-512 panels end on 3 of them), the others (and 22 rows of q4_K, 18 of
// q6_K) copied as they are.
const PLAIN: Array<[WType, number]> = [
  ['Q4_K', 24],
  ['Q6_K', 28],
  ['F16', 8],
  ['Q4_K', 22],
  ['Q5_K', 20],
  ['Q6_K', 18],
];

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-x8-'));
afterAll(() => {
  native().setCpuSimd('auto');
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The weights, written one after another into one file (32-byte aligned, as in a GGUF). */
function makeWeights(): { file: string; ws: W[] } {
  const ws: W[] = [];
  let offset = 0;
  const specs: Array<[WType, number, boolean, number]> = [
    ...GROUP.map(([t, r, b]): [WType, number, boolean, number] => [t, r, b, K]),
    ...CHAINS.map(([t, r]): [WType, number, boolean, number] => [t, r, false, GROUP[0]![1]]),
    ...PLAIN.map(([t, r]): [WType, number, boolean, number] => [t, r, false, K]),
  ];
  const parts: Uint8Array[] = [];
  specs.forEach(([type, rows, bias, cols], i) => {
    const data = quantize(type, randomFloats(rows * cols, 100 + i, 0.5), 100 + i);
    ws.push({ type, rows, data, offset, ...(bias ? { bias: randomFloats(rows, 200 + i, 1) } : {}) });
    const padded = Math.ceil(data.byteLength / 32) * 32;
    const p = new Uint8Array(padded);
    p.set(data);
    parts.push(p);
    offset += padded;
  });
  const file = path.join(tmp, 'weights.bin');
  fs.writeFileSync(file, Buffer.concat(parts));
  return { file, ws };
}

interface Built {
  run(x: Float32Array, n: number): Float32Array[];
  segments(): ReturnType<ReturnType<NativeBackend['createGraph']>['segments']>;
  warm(): Promise<void>;
  matmulNodes: number[];
  dispose(): void;
}

/**
 * x -> each GROUP matmul; the first output -> each CHAINS matmul; x -> each PLAIN matmul. Weights mapped
 * (read-only) or uploaded.
 */
function build(be: NativeBackend, ws: W[], mapped: NativeBuffer | undefined): Built {
  const t = new GraphTensors(be, 32);
  const nodes: NativeNodeSpec[] = [];
  const weight = (w: W, cols: number): number[] => {
    const wi = mapped
      ? t.add({ buffer: mapped, offset: w.offset, type: DType[w.type], cols, rows: w.rows })
      : t.uploaded(DType[w.type], w.rows, cols, w.data);
    return w.bias ? [wi, t.bias(w.bias)] : [wi];
  };
  const xi = t.activation(K);
  const outs: number[] = [];
  ws.forEach((w, i) => {
    const chain = i >= GROUP.length && i < GROUP.length + CHAINS.length;
    const cols = chain ? ws[0]!.rows : K;
    nodes.push({ op: 'matmul', src: [chain ? outs[0]! : xi, ...weight(w, cols)], dst: t.activation(w.rows) });
    outs.push(t.tensors.length - 1);
  });
  const g = be.createGraph({ tensors: t.tensors, nodes, maxTokens: t.maxTokens });
  return {
    run: (x, n) => t.run(g, xi, x, n, outs),
    segments: () => g.segments(),
    warm: () => g.warm(),
    matmulNodes: nodes.map((_, i) => i),
    dispose() {
      g.dispose();
      t.dispose();
    },
  };
}

/**
 * The weights file mapped into a fresh CPU backend with `threads` threads, for `use` (which disposes the
 * graphs it builds); the SIMD level back to 'auto', the buffer, backend and mapping freed after it.
 */
async function withMappedWeights(
  threads: number,
  use: (be: NativeBackend, ws: W[], mapped: NativeBuffer) => Promise<void> | void,
): Promise<void> {
  const { file, ws } = makeWeights();
  const mf = native().mapFile(file);
  const be = native().createBackend('cpu', { threads });
  const mapped = be.wrap(mf, 0, mf.size);
  try {
    await use(be, ws, mapped);
  } finally {
    native().setCpuSimd('auto');
    mapped.dispose();
    await be.dispose();
    mf.close();
  }
}

/** |got - want| <= tol * (1 + max |want|) per output (integer block sums are exact: only float order differs). */
function expectClose(got: Float32Array, want: Float32Array, what: object, tol = 1e-5): void {
  let scale = 1;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
  expect({ ...what, ok: worst <= tol * scale, worst }).toMatchObject({ ...what, ok: true });
}

// The nodes whose weights can be regrouped: whole groups of 8 rows (not 36 or 12 rows), q4_K / q5_K / q6_K of 4
// (not 22 or 18).
const REGROUPABLE = [0, 1, 2, 4, 6, 7, 8, 9, 12];
// The others: copied as they are into huge pages, where the system gives them.
const COPYABLE = [3, 5, 10, 11, 13];
/** Whether the current level reads weights regrouped: an x86 level with AVX2 (not 'scalar'). */
const regroupingLevel = (): boolean => process.arch === 'x64' && native().cpuInfo().simd !== 'scalar';
/** Whether this system gives transparent huge pages on request (Linux "always" or "madvise"), as the native side reads it. */
const hugePagesOnRequest = ((): boolean => {
  try {
    return /\[(always|madvise)\]/.test(fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'));
  } catch {
    return false;
  }
})();
/** The nodes read from a plain copy at the current level, once the copies exist. */
const copiedNow = (): number[] => (regroupingLevel() && hugePagesOnRequest ? COPYABLE : []);

test.each([1, 2])(
  'regrouped and interleaved weights give the kernels results, at every level (%i threads)',
  (threads) =>
    withMappedWeights(threads, (be, ws, mapped) => {
      let made = false; // copies made by an earlier level's graph (found by later graphs at creation)
      for (const level of CPU_SIMD_LEVELS) {
        native().setCpuSimd(level);
        const regrouping = regroupingLevel();
        const a = build(be, ws, mapped);
        const b = build(be, ws, undefined); // the same weights in allocated (writable) buffers
        try {
          // Not before the first run (the copy is made off the main thread, by the run), unless it exists.
          expect(a.segments().flatMap((s) => s.regrouped)).toEqual(regrouping && made ? REGROUPABLE : []);
          for (const n of [1, 2, 3, 5, 9, 17]) {
            const x = randomFloats(n * K, 300 + n, 2);
            const got = a.run(x, n);
            const want = b.run(x, n);
            got.forEach((g, i) => {
              expectClose(g, want[i]!, { level, n, node: i });
              // q8_0: the regrouped tile sums in the row tiles' float order, the panels are the same bytes;
              // q4_K / q5_K: the in-place tiles and panels, reading the interleaved blocks; a plain copy holds
              // the same bytes for the same kernels.
              if (ws[i]!.type !== 'Q4_0' || COPYABLE.includes(i))
                expect({ level, n, node: i, bits: Array.from(g) }).toEqual({
                  level,
                  n,
                  node: i,
                  bits: Array.from(want[i]!),
                });
            });
          }
          expect(a.segments().flatMap((s) => s.regrouped)).toEqual(regrouping ? REGROUPABLE : []);
          expect(a.segments().flatMap((s) => s.copied)).toEqual(copiedNow());
          expect(b.segments().flatMap((s) => s.regrouped)).toEqual([]);
          expect(b.segments().flatMap((s) => s.copied)).toEqual([]);
          made ||= regrouping;
        } finally {
          a.dispose();
          b.dispose();
        }
      }
      // Against the scalar reference itself: regrouped at 'auto' (AVX-512 where the CPU has it) and 'avx2'
      // (where the CPU has it), plain at 'scalar'.
      for (const level of ['auto', 'avx2'] as const) {
        native().setCpuSimd(level);
        if (!regroupingLevel()) continue;
        const a = build(be, ws, mapped);
        const s = build(be, ws, mapped);
        try {
          for (const n of [1, 3, 17]) {
            const x = randomFloats(n * K, 400 + n, 2);
            native().setCpuSimd(level);
            const got = a.run(x, n);
            native().setCpuSimd('scalar');
            const want = s.run(x, n);
            got.forEach((g, i) => expectClose(g, want[i]!, { against: 'scalar', level, n, node: i }));
          }
          // (segments() answers for a run at the current level.)
          expect(s.segments().flatMap((seg) => seg.regrouped)).toEqual([]);
          expect(s.segments().flatMap((seg) => seg.copied)).toEqual([]);
          native().setCpuSimd(level);
          expect(a.segments().flatMap((seg) => seg.regrouped)).toEqual(REGROUPABLE);
          expect(a.segments().flatMap((seg) => seg.copied)).toEqual(copiedNow());
        } finally {
          a.dispose();
          s.dispose();
        }
      }
    }),
);

test('two graphs share one copy; a level switched after the first run is honoured', async () => {
  native().setCpuSimd('avx2');
  if (native().cpuInfo().simd !== 'avx2') {
    native().setCpuSimd('auto');
    return; // (an arm64 CPU or one without AVX2: nothing is regrouped, as the test above checks)
  }
  await withMappedWeights(2, (be, ws, mapped) => {
    const a = build(be, ws, mapped);
    const b = build(be, ws, mapped);
    try {
      const x = randomFloats(K, 500, 2);
      const first = a.run(x, 1);
      // The second graph finds the first one's copies (same buffer and offsets): same bits.
      expect(b.run(x, 1).map((o) => Array.from(o))).toEqual(first.map((o) => Array.from(o)));
      expect(b.segments().flatMap((s) => s.regrouped)).toEqual(REGROUPABLE);
      expect(b.segments().flatMap((s) => s.copied)).toEqual(copiedNow());
      // Switched to the scalar level after the copies exist: the originals are read, within float order.
      native().setCpuSimd('scalar');
      const scalar = a.run(x, 1);
      scalar.forEach((o, i) => expectClose(o, first[i]!, { switched: 'scalar', node: i }));
      native().setCpuSimd('avx2');
      expect(a.run(x, 1).map((o) => Array.from(o))).toEqual(first.map((o) => Array.from(o)));
    } finally {
      a.dispose();
      b.dispose();
    }
  });
});

test('warm() makes the copies without a run; later graphs find them at creation', async () => {
  let a: Built | undefined;
  await withMappedWeights(2, async (be, ws, mapped) => {
    const cold = build(be, ws, mapped);
    a = build(be, ws, mapped);
    try {
      // At the scalar level there is nothing to make.
      native().setCpuSimd('scalar');
      await a.warm();
      expect(a.segments().flatMap((s) => s.regrouped)).toEqual([]);
      native().setCpuSimd('avx2');
      if (native().cpuInfo().simd !== 'avx2') return; // (nothing is regrouped on this CPU, as checked above)
      await a.warm();
      expect(a.segments().flatMap((s) => s.regrouped)).toEqual(REGROUPABLE);
      expect(a.segments().flatMap((s) => s.copied)).toEqual(copiedNow());
      // A graph made after the warm finds the copies at creation; one made before, at its first run.
      const b = build(be, ws, mapped);
      try {
        expect(b.segments().flatMap((s) => s.regrouped)).toEqual(REGROUPABLE);
        expect(cold.segments().flatMap((s) => s.regrouped)).toEqual([]);
        const x = randomFloats(3 * K, 600, 2);
        const want = cold.run(x, 3);
        expect(cold.segments().flatMap((s) => s.regrouped)).toEqual(REGROUPABLE);
        for (const g of [a, b]) expect(g.run(x, 3).map((o) => Array.from(o))).toEqual(want.map((o) => Array.from(o)));
        native().setCpuSimd('scalar');
        cold.run(x, 3).forEach((o, i) => expectClose(o, want[i]!, { level: 'scalar', node: i }));
      } finally {
        b.dispose();
      }
    } finally {
      a.dispose();
      cold.dispose();
    }
  });
  const disposed = await (async () => a!.warm())().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(disposed).toMatchObject({ code: 'ERR_DISPOSED' });
});

test.each(['q4_0', 'q8_0'])(
  'loadModel warms a %s model: its contexts read the regrouped weights from their first run',
  async (type) => {
    const file = path.join(__dirname, 'fixtures', 'random', `tiny-llama-${type}.gguf`);
    native().setCpuSimd('auto'); // (this CPU's best level: regrouped on any x86 CPU with AVX2)
    const regrouping = regroupingLevel();
    try {
      const model = await loadModel(file, { backend: 'cpu', threads: 2, quiet: true });
      try {
        const ctx = model.createContext({ contextSize: 64 });
        const before = (['last', 'all'] as const).map((w) => ctx.segments(w).flatMap((s) => s.regrouped));
        if (regrouping)
          for (const r of before) expect(r.length).toBeGreaterThanOrEqual(7 * 2); // q, k, v, o, gate, up, down: 2 layers
        else for (const r of before) expect(r).toEqual([]);
        const logits = await ctx.evaluate([1, 2, 3, 4], { allLogits: true });
        // The first runs made nothing more: every copy existed.
        expect((['last', 'all'] as const).map((w) => ctx.segments(w).flatMap((s) => s.regrouped))).toEqual(before);
        // The same tokens at the scalar level (originals, reference kernels): within matmul summation order.
        // q8_0: the x86 q8_0 dot sums 8 lanes per row across blocks (ggml's AVX2 order), the scalar
        // reference block by block; the next layer's 8-bit activations round a few values the other way,
        // so the logits differ by ~4e-3 of their scale (q4_0's regrouped tile sums per block, as the reference).
        native().setCpuSimd('scalar');
        await using c2 = model.createContext({ contextSize: 64 });
        const tol = type === 'q8_0' ? 1e-2 : 1e-5;
        expectClose(await c2.evaluate([1, 2, 3, 4], { allLogits: true }), logits, { level: 'scalar' }, tol);
      } finally {
        await model.dispose();
      }
      // Loaded at the scalar level, nothing is made.
      native().setCpuSimd('scalar');
      const plain = await loadModel(file, { backend: 'cpu', threads: 2, quiet: true });
      try {
        const ctx = plain.createContext({ contextSize: 64 });
        expect(ctx.segments('last').flatMap((s) => s.regrouped)).toEqual([]);
      } finally {
        await plain.dispose();
      }
    } finally {
      native().setCpuSimd('auto');
    }
  },
);

test.each(['q4_k', 'q6_k'])(
  'a %s model reads its matmul weights interleaved: the bits of the weights read in place',
  async (type) => {
    const file = path.join(__dirname, 'fixtures', 'random', `tiny-llama-${type}.gguf`);
    native().setCpuSimd('auto');
    const tokens = [1, 2, 3, 4, 5];
    const model = await loadModel(file, { backend: 'cpu', threads: 2, quiet: true });
    // hugePages: the whole file read into huge pages and its weights read there in place (never copied again).
    const inPlace = await loadModel(file, { backend: 'cpu', threads: 2, quiet: true, hugePages: true });
    try {
      await using ctx = model.createContext({ contextSize: 64 });
      await using ref = inPlace.createContext({ contextSize: 64 });
      const logits = await ctx.evaluate(tokens, { allLogits: true });
      const want = await ref.evaluate(tokens, { allLogits: true });
      expect(Array.from(logits)).toEqual(Array.from(want));
      // Decode (one row at a time) too.
      for (const t of [6, 7]) {
        tokens.push(t);
        expect(Array.from(await ctx.evaluate(tokens))).toEqual(Array.from(await ref.evaluate(tokens)));
      }
      // Every matmul of the model's 2 layers (q, k, v, o, gate, up, down) is q4_K (q6_K) in whole groups of 4 rows.
      const grouped = (['last', 'all'] as const).map((w) => ctx.segments(w).flatMap((s) => s.regrouped));
      if (regroupingLevel()) for (const g of grouped) expect(g.length).toBeGreaterThanOrEqual(7 * 2);
      else for (const g of grouped) expect(g).toEqual([]);
      for (const w of ['last', 'all'] as const) {
        expect(ref.segments(w).flatMap((s) => s.regrouped)).toEqual([]);
        expect(ref.segments(w).flatMap((s) => s.copied)).toEqual([]);
      }
    } finally {
      await model.dispose();
      await inPlace.dispose();
    }
  },
);
