/**
 * The scheduler (native/core/scheduler.h), the one place that decides where
 * each node runs, and the buffer interface behind it:
 *  - ops a backend is told to skip (createBackend's skipOps) run on the CPU
 *    backend: graph.segments() shows the split, the results match the CPU;
 *    metal-sim without fallback refuses the same graph when it is created;
 *  - "test-device", a discrete-GPU stand-in whose buffers are not host memory
 *    (reached only through get/set) and which refuses rope, attention and
 *    last_row: the scheduler mirrors tensors into host memory for the CPU
 *    segments (the rows each step reads) and writes back what they wrote (the
 *    KV cache rows of the step only). It computes with the CPU kernels, so its
 *    results must equal the CPU backend's bit for bit: a wrong or missing copy
 *    shows as a difference;
 *  - metal-sim's plans, cached per graph, equal fresh plans at every step
 *    (createBackend's verifyPlans), and adapt to pipelines that allow fewer
 *    threads per threadgroup (maxGroupThreads): row
 *    kernels take fewer threads, kernels with a fixed shape go to the CPU.
 * Tolerance against the CPU where metal-sim runs nodes: 2e-5 relative on this
 * layer (f32 kernels vs the CPU's f16 q of the f16 KV cache), 2e-3 on
 * stories260K's logits (as metal-model.test.ts). About 20 s.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel, type Model } from '../lib/model/model';
import {
  DType,
  native,
  type NativeBackend,
  type NativeGraph,
  type NativeNodeSpec,
  type NativeTensorSpec,
} from '../lib/native';
import { fixture, maxAbsDiff, refCases } from './helpers/model-refs';

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

type Options = { skipOps?: string[]; verifyPlans?: boolean; maxGroupThreads?: number };
/** A native backend (the names tests may use: test-device, metal-sim-strict) and its scheduler. */
function create(name: string, options: Options = {}): NativeBackend {
  return native().createBackend(name, { threads: 2, ...options });
}

// ---- one transformer layer, by hand -------------------------------------------------------------
const V = 40,
  D = 64,
  H = 4,
  KVH = 2,
  HD = 16,
  KV = KVH * HD,
  CTX = 16,
  MAXT = 16;

function rand(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    out[i] = ((s / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}

// Weights live in a mapped file (read-only buffers: the scheduler copies them once per graph).
const weights = { table: rand(V * D, 1), norm: rand(D, 2, 0.5).map((v) => 1 + v), wq: rand(D * D, 3, 0.2) };
const more = { wk: rand(KV * D, 4, 0.2), wv: rand(KV * D, 5, 0.2), wo: rand(D * D, 6, 0.2) };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-sched-'));
const weightFile = path.join(tmp, 'weights.bin');
const parts = [weights.table, weights.norm, weights.wq, more.wk, more.wv, more.wo];
const offsets: number[] = [];
{
  let at = 0;
  for (const p of parts) {
    offsets.push(at);
    at += p.byteLength;
  }
  fs.writeFileSync(weightFile, Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))));
}
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function layerGraph(be: NativeBackend): NativeGraph {
  const file = native().mapFile(weightFile);
  const w = be.wrap(file, 0, file.size);
  const act = be.allocate(1 << 16); // activations, packed one after another
  const cache = be.allocate(2 * CTX * KV * 2); // f16 K and V caches
  let at = 0;
  const a = (cols: number, type: number = DType.F32, bytes = 4) => {
    const t = { buffer: act, offset: at, type, cols, rows: 0, rowsPerToken: 1 };
    at += MAXT * cols * bytes;
    return t;
  };
  const wt = (i: number, rows: number, cols: number) => ({
    buffer: w,
    offset: offsets[i]!,
    type: DType.F32,
    cols,
    rows,
  });
  const spec: { tensors: NativeTensorSpec[]; nodes: NativeNodeSpec[]; maxTokens: number } = {
    maxTokens: MAXT,
    tensors: [
      a(1, DType.I32), // 0 ids
      wt(0, V, D), // 1 table
      a(D), // 2 x
      wt(1, 1, D), // 3 norm weight
      a(D), // 4 xn
      wt(2, D, D), // 5 wq
      a(D), // 6 q
      wt(3, KV, D), // 7 wk
      a(KV), // 8 k
      wt(4, KV, D), // 9 wv
      a(KV), // 10 v
      a(1, DType.I32), // 11 positions
      { buffer: cache, offset: 0, type: DType.F16, cols: KV, rows: CTX }, // 12 K cache
      { buffer: cache, offset: CTX * KV * 2, type: DType.F16, cols: KV, rows: CTX }, // 13 V cache
      a(D), // 14 attention out
      wt(5, D, D), // 15 wo
      a(D), // 16 o
      a(D), // 17 h
      { buffer: act, offset: 60000, type: DType.F32, cols: D, rows: 1 }, // 18 last row of h
    ],
    nodes: [
      { op: 'get_rows', src: [1, 0], dst: 2 },
      { op: 'rms_norm', src: [2, 3], dst: 4, params: { eps: 1e-5 } },
      { op: 'matmul', src: [4, 5], dst: 6 },
      { op: 'matmul', src: [4, 7], dst: 8 },
      { op: 'matmul', src: [4, 9], dst: 10 },
      { op: 'rope', src: [6, 11], dst: 6, params: { nHead: H, headDim: HD, ropeMode: 2 } },
      { op: 'rope', src: [8, 11], dst: 8, params: { nHead: KVH, headDim: HD, ropeMode: 2 } },
      { op: 'store_rows', src: [8], dst: 12 },
      { op: 'store_rows', src: [10], dst: 13 },
      { op: 'attention', src: [6, 12, 13], dst: 14, params: { nHead: H, nKvHead: KVH, headDim: HD, scale: 0.25 } },
      { op: 'matmul', src: [14, 15], dst: 16 },
      { op: 'add', src: [2, 16], dst: 17 },
      { op: 'last_row', src: [17], dst: 18 },
    ],
  };
  return be.createGraph(spec);
}

/** Prefill of 5 tokens, then 3 decode steps: h of every step and the last row. */
function runLayer(be: NativeBackend): Float32Array[] {
  const g = layerGraph(be);
  const outs: Float32Array[] = [];
  const steps: number[][] = [[3, 17, 0, 39, 8], [21], [5], [30]];
  let past = 0;
  for (const ids of steps) {
    const n = ids.length;
    const h = new Float32Array(n * D),
      last = new Float32Array(D);
    g.runSync({
      nTokens: n,
      nPast: past,
      inputs: [
        { tensor: 0, data: Int32Array.from(ids) },
        { tensor: 11, data: Int32Array.from(ids.map((_, i) => past + i)) },
      ],
      outputs: [
        { tensor: 17, data: h },
        { tensor: 18, data: last },
      ],
    });
    outs.push(h, last);
    past += n;
  }
  return outs;
}

const cpu = create('cpu');
afterAll(() => cpu.dispose());
const reference = runLayer(cpu);

function expectClose(got: Float32Array[], rel: number, what: string): void {
  got.forEach((arr, k) => {
    const want = reference[k]!;
    let m = 0;
    for (let i = 0; i < want.length; i++) m = Math.max(m, Math.abs(want[i]!));
    for (let i = 0; i < want.length; i++) {
      if (!(Math.abs(arr[i]! - want[i]!) <= rel * m)) {
        throw new Error(`${what}: output ${k}[${i}] = ${arr[i]}, the CPU gives ${want[i]} (tolerance ${rel * m})`);
      }
    }
  });
}

describe('one transformer layer', () => {
  test('test-device (device memory, no rope/attention/last_row): bit-identical to the CPU, split as expected', async () => {
    const dev = create('test-device');
    try {
      const got = runLayer(dev);
      got.forEach((arr, k) => expect(Array.from(arr)).toEqual(Array.from(reference[k]!)));
      const segs = layerGraph(dev).segments();
      expect(segs.map((s) => [s.backend, s.nodes])).toEqual([
        ['test-device', [0, 1, 2, 3, 4]],
        ['cpu', [5, 6]],
        ['test-device', [7, 8]],
        ['cpu', [9]],
        ['test-device', [10, 11]],
        ['cpu', [12]],
      ]);
      // rope reads and writes q and k in place: copied in and back; attention
      // reads q and both caches and writes its output; last_row reads h.
      expect(segs.map((s) => [s.copiesIn, s.copiesOut])).toEqual([
        [0, 0],
        [3, 2],
        [0, 0],
        [3, 1],
        [0, 0],
        [1, 1],
      ]);
      // A bad token id is still caught (by the CPU kernel on the device's memory).
      const g = layerGraph(dev);
      expect(code(() => g.runSync({ nTokens: 1, inputs: [{ tensor: 0, data: Int32Array.from([V]) }] }))).toBe(
        'ERR_INVALID_ARG',
      );
    } finally {
      await dev.dispose();
    }
  });

  test('metal-sim skipping rope and attention: those nodes run on the CPU, the results match it', async () => {
    const sim = create('metal-sim', { skipOps: ['rope', 'attention'], verifyPlans: true });
    try {
      expectClose(runLayer(sim), 2e-5, 'metal-sim + cpu');
      const segs = layerGraph(sim).segments();
      expect(segs.map((s) => [s.backend, s.nodes])).toEqual([
        ['metal-sim', [0, 1, 2, 3, 4]],
        ['cpu', [5, 6]],
        ['metal-sim', [7, 8]],
        ['cpu', [9]],
        ['metal-sim', [10, 11, 12]],
      ]);
      // Unified memory: no copies.
      for (const s of segs) expect([s.copiesIn, s.copiesOut]).toEqual([0, 0]);
    } finally {
      await sim.dispose();
    }
    const strict = create('metal-sim-strict', { skipOps: ['rope'] });
    try {
      expect(code(() => layerGraph(strict))).toBe('ERR_UNSUPPORTED');
    } finally {
      await strict.dispose();
    }
  });

  test('metal-sim with pipelines of at most 64 threads: row kernels adapt, fixed-shape kernels go to the CPU', async () => {
    const sim = create('metal-sim', { maxGroupThreads: 64 });
    try {
      expectClose(runLayer(sim), 2e-5, 'metal-sim (64 threads) + cpu');
      const onCpu = layerGraph(sim)
        .segments()
        .filter((s) => s.backend === 'cpu')
        .flatMap((s) => s.nodes);
      // the matmuls (the simdgroup GEMM a step of more than 8 rows needs: 128 threads); attention
      // adapts its simdgroup count to the pipeline like the row kernels
      expect(onCpu).toEqual([2, 3, 4, 10]);
    } finally {
      await sim.dispose();
    }
  });
});

// ---- whole models --------------------------------------------------------------------------------
/** loadModel with backend 'metal-sim' replaced by a native backend of our choosing. */
async function loadOn(file: string, name: string, options: Options = {}): Promise<Model> {
  const n = native();
  const original = n.createBackend.bind(n);
  const spy = jest
    .spyOn(n, 'createBackend')
    .mockImplementation((which, o) => original(which === 'metal-sim' ? name : which, { ...o, ...options }));
  try {
    return await loadModel(file, { backend: 'metal-sim', threads: 2 });
  } finally {
    spy.mockRestore();
  }
}

describe.each([
  ['models', 'stories260K.gguf'],
  ['random', 'tiny-llama-q4_k.gguf'],
  ['random', 'tiny-qwen2-q8_0.gguf'],
])('%s/%s on test-device', (dir, file) => {
  test('logits at every position and greedy decoding equal the CPU backend exactly', async () => {
    const dev = await loadOn(fixture(dir, file), 'test-device');
    const ref = await loadModel(fixture(dir, file), { backend: 'cpu', threads: 2 });
    try {
      const tokens = [1, 12, 27, 3, 40, 7, 99, 5];
      const a = await dev.createContext({ contextSize: 64 }).evaluate(tokens, { allLogits: true });
      const b = await ref.createContext({ contextSize: 64 }).evaluate(tokens, { allLogits: true });
      expect(Array.from(a)).toEqual(Array.from(b));
      const g1 = await dev.generate([1, 12], { maxTokens: 12, temperature: 0 });
      const g2 = await ref.generate([1, 12], { maxTokens: 12, temperature: 0 });
      expect(g1.tokens).toEqual(g2.tokens);
    } finally {
      await dev.dispose();
      await ref.dispose();
    }
  });
});

test('stories260K on metal-sim with rope, softmax and attention on the CPU (plans verified every step)', async () => {
  const model = await loadOn(fixture('models', 'stories260K.gguf'), 'metal-sim', {
    skipOps: ['rope', 'softmax', 'attention'],
    verifyPlans: true,
  });
  const ref = await loadModel(fixture('models', 'stories260K.gguf'), { backend: 'cpu', threads: 2 });
  try {
    const c = refCases('reference', 'stories260K.ref.json')[0]!;
    const logits = await model.createContext({ contextSize: 128 }).evaluate(c.tokens, { allLogits: true });
    const d = maxAbsDiff(logits, c.logits, 512);
    expect(d.maxDiff).toBeLessThan(0.02);
    const base = await ref.createContext({ contextSize: 128 }).evaluate(c.tokens, { allLogits: true });
    let m = 0;
    for (let i = 0; i < base.length; i++) m = Math.max(m, Math.abs(base[i]! - logits[i]!));
    expect(m).toBeLessThan(2e-3);
    const g = await model.generate(c.tokens, { maxTokens: c.greedy.length, temperature: 0 });
    expect(g.tokens).toEqual(c.greedy);
  } finally {
    await model.dispose();
    await ref.dispose();
  }
});
