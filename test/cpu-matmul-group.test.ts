/**
 * The CPU backend runs consecutive matmuls of one activation matrix (q/k/v,
 * gate/up) as one group: activations converted once, one pool handoff for all
 * weight rows. The group's outputs must equal each matmul run alone, bit for
 * bit (same kernels, same activation rounding), for decode-sized inputs (fused)
 * and prefill-sized ones (panel GEMMs, run one by one), across weight types
 * whose activation formats agree (q8_0 + q4_0 + iq4_nl) or differ (q8_0 + q4_K:
 * not fused), with biases, with 1 and 2 threads and every kernel level; and a
 * matmul reading its neighbour's output is never grouped with it. About 3 s.
 */
import { Backend } from '../lib/backend';
import { matmul } from '../lib/ops';
import { native, type NativeBackend, type NativeNodeSpec } from '../lib/native';
import { DType } from '../lib/dtype';
import { quantize, randomFloats } from './helpers/reference';
import { GraphTensors } from './helpers/graph-tensors';
import { CPU_SIMD_LEVELS } from './helpers/simd-levels';

const K = 256;
type WType = 'Q8_0' | 'Q4_0' | 'IQ4_NL' | 'Q4_K' | 'Q5_K' | 'Q6_K' | 'F16';

interface W {
  type: WType;
  rows: number;
  data: Uint8Array;
  bias?: Float32Array;
}

function weights(type: WType, rows: number, seed: number, bias: boolean): W {
  const data = quantize(type, randomFloats(rows * K, seed, 0.5), seed);
  return { type, rows, data, ...(bias ? { bias: randomFloats(rows, seed + 7, 1) } : {}) };
}

/**
 * One graph: x → matmul(w_i) for each weight (all reading x), then, when
 * `chain`, one more matmul reading the first one's output (K columns).
 */
function runGroup(be: NativeBackend, ws: W[], x: Float32Array, n: number, chain?: W): Float32Array[] {
  const t = new GraphTensors(be, 16);
  const nodes: NativeNodeSpec[] = [];
  const weight = (w: W) => {
    const wi = t.uploaded(DType[w.type], w.rows, K, w.data);
    return w.bias ? [wi, t.bias(w.bias)] : [wi];
  };
  const xi = t.activation(K);
  const outs: number[] = [];
  for (const w of [...ws, ...(chain ? [chain] : [])]) {
    const src = [outs.length === ws.length ? outs[0]! : xi, ...weight(w)];
    const d = t.activation(w.rows);
    nodes.push({ op: 'matmul', src, dst: d });
    outs.push(d);
  }
  const g = be.createGraph({ tensors: t.tensors, nodes, maxTokens: t.maxTokens });
  try {
    return t.run(g, xi, x, n, outs);
  } finally {
    g.dispose();
    t.dispose();
  }
}

const alone = (w: W, x: Float32Array, backend: Backend): Float32Array =>
  matmul(x, { data: w.data, type: w.type, rows: w.rows, cols: K }, { ...(w.bias ? { bias: w.bias } : {}), backend });

const levels = CPU_SIMD_LEVELS;
afterAll(() => native().setCpuSimd('auto'));

test.each([1, 2])('grouped matmuls equal each matmul alone (%i threads)', async (threads) => {
  const be = native().createBackend('cpu', { threads });
  const ref = Backend.create('cpu', { threads });
  try {
    const groups: W[][] = [
      // q/k/v shapes (GQA: k and v narrower), with and without biases
      [weights('Q8_0', 96, 1, true), weights('Q8_0', 32, 2, true), weights('Q8_0', 32, 3, true)],
      [weights('Q4_0', 200, 4, false), weights('IQ4_NL', 40, 5, false), weights('Q8_0', 72, 6, false)],
      // gate/up of another activation format, large enough to split over threads
      [weights('Q4_K', 512, 7, false), weights('Q4_K', 512, 8, false)],
      // a Q4_K_M / Q5_K_M layer's q/k/v: tiles that read reordered activations (q4_K, q5_K) and one that does not
      [weights('Q4_K', 96, 15, false), weights('Q6_K', 32, 16, false), weights('Q5_K', 32, 17, true)],
      // formats that differ: run one by one
      [weights('Q8_0', 64, 9, false), weights('Q4_K', 64, 10, true), weights('F16', 48, 11, false)],
    ];
    for (const level of levels) {
      native().setCpuSimd(level);
      for (const ws of groups) {
        for (const n of [1, 3, 9]) {
          const x = randomFloats(n * K, 20 + n, 2);
          const got = runGroup(be, ws, x, n);
          ws.forEach((w, i) =>
            expect({ level, n, i, out: Array.from(got[i]!) }).toEqual({
              level,
              n,
              i,
              out: Array.from(alone(w, x, ref)),
            }),
          );
        }
      }
      // the second matmul reads the first one's output: not grouped
      const first = weights('Q8_0', K, 12, false);
      const second = weights('Q8_0', 64, 13, true);
      const x = randomFloats(2 * K, 30, 2);
      const [h, , y] = runGroup(be, [first, weights('Q8_0', 32, 14, false)], x, 2, second);
      expect(Array.from(h!)).toEqual(Array.from(alone(first, x, ref)));
      expect(Array.from(y!)).toEqual(Array.from(alone(second, h!, ref)));
    }
  } finally {
    native().setCpuSimd('auto');
    await be.dispose();
    await ref.dispose();
  }
});
