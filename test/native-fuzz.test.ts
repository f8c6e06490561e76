/**
 * Randomized abuse of the graph API: thousands of random tensor and node specs
 * (hostile sizes, offsets, strides, types, indices, params) and random steps.
 * Every outcome must be success or a JS Error with a stable code; a crash or
 * an out-of-bounds access would take the test process down.
 */
import { native } from '../lib/native';
import { rng } from './helpers/reference';

const CODES = new Set(['ERR_INVALID_ARG', 'ERR_UNSUPPORTED', 'ERR_OUT_OF_MEMORY', 'ERR_CONTEXT_OVERFLOW']);

type Spec = { tensors: Record<string, unknown>[]; nodes: Record<string, unknown>[]; maxTokens: number };

test('random graph specs and steps never crash', () => {
  const r = rng(2026);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const hostile = (): number => pick([0, -1, 2 ** 31, 2 ** 40, 2 ** 53, 1.5, NaN, 3, 255, 65537]);
  const be = native().createBackend('cpu', { threads: 2 });
  const big = be.allocate(1 << 20);
  const small = be.allocate(64);
  // Valid one-op graphs (every op), F32 activations, 4 tokens max.
  const T = (cols: number, rows: number, perToken: number, type = 0, offset = 0): Record<string, unknown> => ({
    buffer: big,
    offset,
    type,
    cols,
    rows,
    rowsPerToken: perToken,
  });
  const templates: Array<() => Spec> = [
    () => ({
      tensors: [T(8, 0, 1), T(8, 0, 1, 0, 4096), T(8, 0, 1, 0, 8192)],
      nodes: [{ op: pick(['add', 'mul', 'swiglu']), src: [0, 1], dst: 2 }],
      maxTokens: 4,
    }),
    () => ({
      tensors: [T(8, 0, 1), T(8, 1, 0, 0, 4096), T(8, 0, 1, 0, 8192)],
      nodes: [{ op: 'rms_norm', src: [0, 1], dst: 2, params: { eps: 1e-5 } }],
      maxTokens: 4,
    }),
    () => ({
      tensors: [T(256, 0, 1), T(256, 3, 0, pick([0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 30]), 16384), T(3, 0, 1, 0, 8192)],
      nodes: [{ op: 'matmul', src: [0, 1], dst: 2 }],
      maxTokens: 4,
    }),
    () => ({
      tensors: [T(32, 5, 0, pick([0, 1, 8, 2]), 16384), T(1, 0, 1, 26), T(32, 0, 1, 0, 8192)],
      nodes: [{ op: 'get_rows', src: [0, 1], dst: 2 }],
      maxTokens: 4,
    }),
    () => ({
      tensors: [T(16, 0, 1), T(1, 0, 1, 26, 4096), T(16, 0, 1, 0, 8192)],
      nodes: [{ op: 'rope', src: [0, 1], dst: 2, params: { nHead: 2, headDim: 8, ropeMode: pick([0, 2]) } }],
      maxTokens: 4,
    }),
    () => ({
      tensors: [T(16, 0, 1), T(16, 0, 1, 0, 8192)],
      nodes: [{ op: pick(['softmax', 'last_row']), src: [0], dst: 1, params: { causal: true } }],
      maxTokens: 4,
    }),
    () => ({
      tensors: [T(16, 0, 1), T(16, 1, 0, 0, 8192)],
      nodes: [{ op: 'last_row', src: [0], dst: 1 }],
      maxTokens: 4,
    }),
    () => ({
      tensors: [T(16, 0, 1), T(8, 8, 0, pick([0, 1]), 16384), T(8, 8, 0, pick([0, 1]), 32768), T(16, 0, 1, 0, 8192)],
      nodes: [{ op: 'attention', src: [0, 1, 2], dst: 3, params: { nHead: 2, nKvHead: 1, headDim: 8 } }],
      maxTokens: 4,
    }),
    () => ({
      tensors: [T(8, 0, 1), T(8, 6, 0, pick([0, 1, 30]), 16384)],
      nodes: [{ op: 'store_rows', src: [0], dst: 1 }],
      maxTokens: 4,
    }),
  ];
  const mutate = (spec: Spec): void => {
    const t = spec.tensors[Math.floor(r() * spec.tensors.length)]!;
    const n = spec.nodes[0]!;
    switch (Math.floor(r() * 9)) {
      case 0:
        t.offset = hostile();
        break;
      case 1:
        t.cols = hostile();
        break;
      case 2:
        t.rows = hostile();
        break;
      case 3:
        t.rowsPerToken = hostile();
        break;
      case 4:
        t.rowStride = hostile();
        break;
      case 5:
        t.type = pick([15, 9, 17, -1, 26, 2, 12]);
        break;
      case 6:
        t.buffer = pick([small, {}, null]);
        break;
      case 7:
        n.src = (n.src as number[]).map((v) => (r() < 0.5 ? hostile() : v));
        break;
      case 8:
        n.params = {
          nHead: hostile(),
          nKvHead: hostile(),
          headDim: hostile(),
          nRot: hostile(),
          ropeMode: pick([1, 3, -2]),
        };
        break;
    }
  };
  const seen = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const spec = pick(templates)();
    const mutations = r() < 0.3 ? 0 : 1 + Math.floor(r() * 2);
    for (let m = 0; m < mutations; m++) mutate(spec);
    let outcome = 'ok';
    try {
      const g = be.createGraph(spec as never);
      const nTokens = pick([1, 2, 3, 4, 5]);
      const nPast = pick([0, 1, 2, 100]);
      const ids = Int32Array.from({ length: nTokens }, () => Math.floor(r() * 7) - 1);
      g.runSync({ nTokens, nPast, inputs: spec.nodes[0]!.op === 'get_rows' ? [{ tensor: 1, data: ids }] : [] });
    } catch (e) {
      const code = String((e as { code?: unknown }).code);
      if (!CODES.has(code)) throw new Error(`unexpected error ${code}: ${(e as Error).message}`, { cause: e });
      outcome = code;
    }
    seen.set(outcome, (seen.get(outcome) ?? 0) + 1);
  }
  void be.dispose();
  // The generator must reach valid runs and every kind of rejection.
  expect(seen.get('ok')).toBeGreaterThan(300);
  expect(seen.get('ERR_INVALID_ARG')).toBeGreaterThan(300);
  expect(seen.get('ERR_UNSUPPORTED')).toBeGreaterThan(10);
  expect(seen.get('ERR_CONTEXT_OVERFLOW')).toBeGreaterThan(10);
});
