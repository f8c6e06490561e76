/**
 * Fused decode matmuls (kernels/matmul_fused.metal) under metal-sim against the
 * CPU backend's unfused ops, for every weight type the matrix-vector kernels
 * take: an rms_norm (with weight) fused into the two matmuls that read its
 * output (matmul_mv_rms_*), and a swiglu / geglu computed in place
 * (gate = act(gate) * up, as the model families write it) fused into the down
 * projection (matmul_mv_glu_*). 1 row (decode) runs the fused kernels; 3 rows
 * (batched decode) and 9 (prefill) run the unfused nodes of the same plan.
 *
 * Each graph ends with a node that rewrites the producer's whole output (as the
 * next layer's norm or gate projection does in a model): only then may the plan
 * fuse (native/metal/plan.cc find_fusions), which segments() reports. The same
 * graph without that node must not fuse (its output could be read after the
 * step) and is the unfused metal-sim reference.
 *
 * Quantized weights: the fused kernels round the norm's / activation's output to
 * the weights' q8_0 / q8_K grid (kernels/act_quant.h) as the CPU backend's
 * quantize_row_q8_* does before its integer dot, and the unfused rows (3, 9) go
 * through quantize_act_* first.
 *
 * Tolerances (s = sum over k of |h_k * w_k|, h the unfused input row):
 *   vs the CPU: 1e-6 * s (measured <= 2.6e-7 * s, the producer's own rounding
 *     differences included; it was 1.5e-2 * s for quantized weights while the
 *     kernels kept activations f32), q4_1 / q5_1 4e-4 * s (measured 1.9e-4 * s:
 *     the CPU's q8_1 blocks keep their sum as fp16, see metal-kernels.test.ts),
 *     plus one rounding of the activations to the weights' type for f16
 *     (2^-11 * s) and bf16 (2^-8 * s): an input an ulp away may round to the
 *     neighbouring half / bfloat. An ulp may also move a value across a q8
 *     rounding boundary (one grid step of one product): none of these
 *     (deterministic) inputs does;
 *   glu fused vs unfused metal-sim: identical (the same expression,
 *     kernels/common.h, evaluated where the matmul loads it; the same block
 *     scales, act_quant.h);
 *   rms fused vs unfused metal-sim: 2e-7 * s (measured 6.5e-8 * s) plus the
 *     f16 / bf16 rounding as above (each simdgroup sums x^2 in its own order, so
 *     the scale may differ by an ulp).
 */
import { DType, native, type NativeBackend, type NativeBuffer } from '../lib/native';
import {
  dequantize,
  geluTanh,
  quantize,
  randomFloats,
  TYPES,
  type TypeName,
  METAL_KERNEL_TYPES as KERNEL_TYPES,
} from './helpers/reference';
import { expectClose } from './helpers/close';
import { fixture } from './helpers/model-refs';
import { loadModel } from '../lib/model/model';

const sim = native().createBackend('metal-sim-strict', { threads: 2, verifyPlans: true });
const cpu = native().createBackend('cpu', { threads: 2 });
afterAll(() => Promise.all([sim.dispose(), cpu.dispose()]));

const MAX_TOKENS = 9;

interface Weight {
  data: Uint8Array;
  deq: Float64Array;
  rows: number;
}

function weight(t: TypeName, rows: number, k: number, seed: number): Weight {
  const data = quantize(t, randomFloats(rows * k, seed, 1), seed);
  return { data, deq: dequantize(t, data, rows * k), rows };
}

type Spec = Parameters<NativeBackend['createGraph']>[0];

/** Runs `nodes` over `tensors` (built per backend by `make`) for one step; returns the outputs. */
function run(
  be: NativeBackend,
  make: (alloc: (bytes: number, data?: ArrayBufferView) => NativeBuffer) => Spec,
  n: number,
  inputs: Array<{ tensor: number; data: Float32Array }>,
  outputs: Array<{ tensor: number; cols: number }>,
): { out: Float32Array[]; fused: number[][] } {
  const alloc = (bytes: number, data?: ArrayBufferView): NativeBuffer => {
    const b = be.allocate(bytes);
    if (data) be.upload(b, 0, data);
    return b;
  };
  const graph = be.createGraph(make(alloc));
  try {
    const out = outputs.map((o) => new Float32Array(n * o.cols));
    graph.runSync({
      nTokens: n,
      nPast: 0,
      inputs,
      outputs: outputs.map((o, i) => ({ tensor: o.tensor, data: out[i]! })),
    });
    return { out, fused: graph.segments().flatMap((s) => s.fused) };
  } finally {
    graph.dispose();
  }
}

/** s[i, j] = sum over c of |h[i, c] * w[j, c]| (the matmul tolerances' scale). */
function magnitudes(h: Float64Array, w: Weight, n: number, k: number): Float64Array {
  const s = new Float64Array(n * w.rows);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < w.rows; j++) {
      let a = 0;
      for (let c = 0; c < k; c++) a += Math.abs(h[i * k + c]! * w.deq[j * k + c]!);
      s[i * w.rows + j] = a;
    }
  return s;
}

const actRounding = (t: TypeName): number => (t === 'F16' ? 2 ** -11 : t === 'BF16' ? 2 ** -8 : 0);
const cpuTol = (t: TypeName): number => (t === 'Q4_1' || t === 'Q5_1' ? 4e-4 : 1e-6) + actRounding(t);
const f32 = (rows: number, cols: number): number => rows * cols * 4;
const tensor = (buffer: NativeBuffer, type: number, cols: number, rows: number, rowsPerToken: number) => ({
  buffer,
  offset: 0,
  type,
  cols,
  rows,
  rowsPerToken,
});

describe.each(KERNEL_TYPES)('fused decode matmuls, %s weights', (t) => {
  const block = TYPES[t].block;
  const k = block === 256 ? 512 : block > 1 ? 160 : 203; // several rounds of 32 lanes' parts
  const m = 21; // three threadgroups of 8 rows, the last one partial
  const id = TYPES[t].id;

  test.each([1, 3, 9])('rms_norm into two matmuls, %i rows', (n) => {
    const wa = weight(t, m, k, 7),
      wb = weight(t, 11, k, 8);
    const nw = randomFloats(k, 9, 1).map((v) => 1 + 0.5 * v);
    const x = randomFloats(n * k, 10 + n, 2);
    const graph =
      (kill: boolean) =>
      (alloc: (bytes: number, data?: ArrayBufferView) => NativeBuffer): Spec => ({
        maxTokens: MAX_TOKENS,
        tensors: [
          tensor(alloc(f32(MAX_TOKENS, k)), DType.F32, k, 0, 1), // 0 x [n, k]
          tensor(alloc(f32(1, k), nw), DType.F32, k, 1, 0), // 1 norm weight [1, k]
          tensor(alloc(f32(MAX_TOKENS, k)), DType.F32, k, 0, 1), // 2 h [n, k]
          tensor(alloc(wa.data.length, wa.data), id, k, m, 0), // 3 Wa [m, k]
          tensor(alloc(f32(MAX_TOKENS, m)), DType.F32, m, 0, 1), // 4 ya [n, m]
          tensor(alloc(wb.data.length, wb.data), id, k, 11, 0), // 5 Wb [11, k]
          tensor(alloc(f32(MAX_TOKENS, 11)), DType.F32, 11, 0, 1), // 6 yb [n, 11]
        ],
        nodes: [
          { op: 'rms_norm', src: [0, 1], dst: 2, params: { eps: 1e-5 } },
          { op: 'matmul', src: [2, 3], dst: 4 },
          { op: 'matmul', src: [2, 5], dst: 6 },
          ...(kill ? [{ op: 'scale' as const, src: [0], dst: 2, params: { scale: 0.5 } }] : []),
        ],
      });
    const io = [
      [{ tensor: 0, data: x }],
      [
        { tensor: 4, cols: m },
        { tensor: 6, cols: 11 },
        { tensor: 2, cols: k },
      ],
    ] as const;
    const fused = run(sim, graph(true), n, [...io[0]], [...io[1]]);
    const unfused = run(sim, graph(false), n, [...io[0]], [...io[1]]);
    const ref = run(cpu, graph(true), n, [...io[0]], [...io[1]]);
    expect(fused.fused).toEqual([[0, 1, 2]]);
    expect(unfused.fused).toEqual([]);

    // The unfused input rows, in float64.
    const h = new Float64Array(n * k);
    for (let i = 0; i < n; i++) {
      let ss = 0;
      for (let c = 0; c < k; c++) ss += x[i * k + c]! ** 2;
      const scale = 1 / Math.sqrt(ss / k + 1e-5);
      for (let c = 0; c < k; c++) h[i * k + c] = x[i * k + c]! * scale * nw[c]!;
    }
    [wa, wb].forEach((w, o) => {
      const s = magnitudes(h, w, n, k);
      const what = `${t} n=${n} rms matmul ${o}`;
      expectClose(fused.out[o]!, ref.out[o]!, (i) => cpuTol(t) * s[i]! + 1e-30, `${what} vs cpu`);
      const simTol = 2e-7 + actRounding(t);
      expectClose(fused.out[o]!, unfused.out[o]!, (i) => simTol * s[i]! + 1e-30, `${what} vs unfused`);
    });
    // What the step leaves in h is the killing node's (x * 0.5), fused or not.
    expect(fused.out[2]).toEqual(ref.out[2]);
  });

  describe.each(['swiglu', 'geglu'] as const)('%s in place into the down projection', (act) => {
    test.each([1, 3, 9])('%i rows', (n) => {
      const w = weight(t, m, k, 12);
      const gate = randomFloats(n * k, 20 + n, 3),
        up = randomFloats(n * k, 30 + n, 1);
      const graph =
        (kill: boolean) =>
        (alloc: (bytes: number, data?: ArrayBufferView) => NativeBuffer): Spec => ({
          maxTokens: MAX_TOKENS,
          tensors: [
            tensor(alloc(f32(MAX_TOKENS, k)), DType.F32, k, 0, 1), // 0 gate, then act(gate) * up [n, k]
            tensor(alloc(f32(MAX_TOKENS, k)), DType.F32, k, 0, 1), // 1 up [n, k]
            tensor(alloc(w.data.length, w.data), id, k, m, 0), // 2 W [m, k]
            tensor(alloc(f32(MAX_TOKENS, m)), DType.F32, m, 0, 1), // 3 y [n, m]
          ],
          nodes: [
            { op: act, src: [0, 1], dst: 0 },
            { op: 'matmul', src: [0, 2], dst: 3 },
            ...(kill ? [{ op: 'scale' as const, src: [1], dst: 0, params: { scale: 2 } }] : []),
          ],
        });
      const inputs = [
        { tensor: 0, data: gate },
        { tensor: 1, data: up },
      ];
      const outputs = [
        { tensor: 3, cols: m },
        { tensor: 0, cols: k },
      ];
      const fused = run(sim, graph(true), n, inputs, outputs);
      const unfused = run(sim, graph(false), n, inputs, outputs);
      const ref = run(cpu, graph(true), n, inputs, outputs);
      expect(fused.fused).toEqual([[0, 1]]);
      expect(unfused.fused).toEqual([]);
      const f = act === 'swiglu' ? (v: number) => v / (1 + Math.exp(-v)) : geluTanh;
      const h = Float64Array.from(gate, (g, i) => f(g) * up[i]!);
      const s = magnitudes(h, w, n, k);
      expectClose(fused.out[0]!, ref.out[0]!, (i) => cpuTol(t) * s[i]! + 1e-30, `${t} n=${n} ${act} vs cpu`);
      expect(fused.out[0]).toEqual(unfused.out[0]);
      expect(fused.out[1]).toEqual(ref.out[1]);
    });
  });
});

test('no fusion where the output is read by another node, the matmul has a bias, or the inputs change first', () => {
  const k = 64,
    m = 8;
  const w = weight('F32', m, k, 1);
  const shapes = (alloc: (bytes: number, data?: ArrayBufferView) => NativeBuffer) => [
    tensor(alloc(f32(MAX_TOKENS, k)), DType.F32, k, 0, 1), // 0 x
    tensor(alloc(f32(1, k), new Float32Array(k).fill(1)), DType.F32, k, 1, 0), // 1 norm weight
    tensor(alloc(f32(MAX_TOKENS, k)), DType.F32, k, 0, 1), // 2 h
    tensor(alloc(w.data.length, w.data), DType.F32, k, m, 0), // 3 W
    tensor(alloc(f32(MAX_TOKENS, m)), DType.F32, m, 0, 1), // 4 y
    tensor(alloc(f32(1, m), new Float32Array(m).fill(1)), DType.F32, m, 1, 0), // 5 bias
    tensor(alloc(f32(MAX_TOKENS, k)), DType.F32, k, 0, 1), // 6 another activation
  ];
  const norm = { op: 'rms_norm' as const, src: [0, 1], dst: 2, params: { eps: 1e-5 } };
  const kill = { op: 'scale' as const, src: [0], dst: 2, params: { scale: 0.5 } };
  const cases: Array<Spec['nodes']> = [
    // h also read by an add
    [norm, { op: 'matmul', src: [2, 3], dst: 4 }, { op: 'add', src: [2, 0], dst: 6 }, kill],
    // a bias (the fused kernels take none)
    [norm, { op: 'matmul', src: [2, 3, 5], dst: 4 }, kill],
    // the norm's input rewritten before its consumer
    [norm, { op: 'scale', src: [6], dst: 0, params: { scale: 2 } }, { op: 'matmul', src: [2, 3], dst: 4 }, kill],
    // never rewritten after the matmul: h may be read after the step
    [norm, { op: 'matmul', src: [2, 3], dst: 4 }],
  ];
  const x = randomFloats(k, 3, 1);
  for (const nodes of cases) {
    const make = (alloc: (bytes: number, data?: ArrayBufferView) => NativeBuffer): Spec => ({
      maxTokens: MAX_TOKENS,
      tensors: shapes(alloc),
      nodes,
    });
    const got = run(sim, make, 1, [{ tensor: 0, data: x }], [{ tensor: 4, cols: m }]);
    const want = run(cpu, make, 1, [{ tensor: 0, data: x }], [{ tensor: 4, cols: m }]);
    expect(got.fused).toEqual([]);
    expectClose(got.out[0]!, want.out[0]!, (i) => 1e-5 * (1 + Math.abs(want.out[0]![i]!)), 'unfused');
  }
});

test('a llama model built by the library fuses both norms and the swiglu of its layers (stories260K)', async () => {
  // Records the graphs loadModel creates (test-only: a proxy over the addon's createBackend).
  type Seen = { segments(): Array<{ backend: string; nodes: number[]; fused: number[][] }> };
  const seen: Seen[] = [];
  const addon = native() as unknown as Record<string, unknown>;
  const create = addon.createBackend as (...a: unknown[]) => object;
  addon.createBackend = (...a: unknown[]) =>
    new Proxy(create(...a), {
      get(t, p) {
        const v = Reflect.get(t, p) as unknown;
        if (typeof v !== 'function') return v;
        if (p !== 'createGraph') return (v as () => unknown).bind(t);
        return (spec: unknown) => {
          const g = (v as (s: unknown) => Seen).call(t, spec);
          seen.push(g);
          return g;
        };
      },
    });
  try {
    const model = await loadModel(fixture('models', 'stories260K.gguf'), { backend: 'metal-sim', threads: 2 });
    try {
      const ctx = model.createContext({ contextSize: 64 });
      const layers = 5;
      // Graphs: last-row logits (decode), all-row logits. Every layer's attention norm
      // (into q/k/v), FFN norm (into gate/up) and swiglu (into down) fuse, except where
      // nothing rewrites the output later: the last layer's swiglu in both, and its FFN
      // norm in the last-row graph (whose head normalizes into a row of its own).
      const fused = seen.map((g) => g.segments().flatMap((s) => s.fused));
      expect(fused.map((f) => f.length)).toEqual([3 * layers - 2, 3 * layers - 1]);
      for (const f of fused) {
        expect(f.filter((c) => c.length === 4).length).toBe(layers); // norm -> q, k, v
        expect(f.filter((c) => c.length === 2).length).toBe(layers - 1); // swiglu -> down
      }
      const g = await model.generate([1], { maxTokens: 8, temperature: 0 });
      expect(g.tokens.length).toBe(8);
      await ctx.dispose();
    } finally {
      await model.dispose();
    }
  } finally {
    addon.createBackend = create;
  }
});
