/**
 * Extreme inputs through the vectorized exp paths (attention's softmax, swiglu's
 * sigmoid), on the SIMD and the scalar kernels: score gaps far beyond the
 * float exp range (e^-88 underflows, e^89 overflows) must give exact zeros and
 * finite outputs, never NaN. Regression test for a wrong large-|x| branch of
 * the AVX2 exp that turned whole vectors into NaN.
 */
import { Backend } from '../lib/backend';
import { attention, swiglu } from '../lib/ops';
import { native } from '../lib/native';
import { randomFloats } from './helpers/reference';

const be = Backend.create('cpu', { threads: 2 });
afterAll(async () => {
  native().setCpuSimd('auto');
  await be.dispose();
});

describe.each(['auto', 'scalar'] as const)('%s kernels', (simd) => {
  beforeAll(() => native().setCpuSimd(simd));

  test('attention with score gaps of hundreds stays finite and exact', () => {
    const nHead = 2,
      nKv = 1,
      D = 16,
      past = 20,
      n = 3;
    const q = randomFloats(n * nHead * D, 1, 1).map((v) => v * 40);
    const k = randomFloats((past + n) * nKv * D, 2, 1).map((v) => v * 40);
    const v = randomFloats((past + n) * nKv * D, 3, 1);
    const got = attention(q, k, v, { nHead, nKvHead: nKv, headDim: D, nPast: past, scale: 1, backend: be });
    for (let i = 0; i < n; i++) {
      for (let h = 0; h < nHead; h++) {
        const nk = past + i + 1;
        const s = Array.from({ length: nk }, (_, j) => {
          let d = 0;
          for (let c = 0; c < D; c++) d += q[i * nHead * D + h * D + c]! * k[j * D + c]!;
          return d;
        });
        const mx = Math.max(...s);
        expect(mx - Math.min(...s)).toBeGreaterThan(100); // the case under test
        const p = s.map((x) => Math.exp(x - mx));
        const sum = p.reduce((a, b) => a + b, 0);
        for (let c = 0; c < D; c++) {
          let want = 0;
          for (let j = 0; j < nk; j++) want += (p[j]! / sum) * v[j * D + c]!;
          const g = got[i * nHead * D + h * D + c]!;
          expect(Number.isFinite(g)).toBe(true);
          expect(Math.abs(g - want)).toBeLessThan(1e-5);
        }
      }
    }
  });

  test('swiglu over [-200, 200] is finite and matches silu(g) * u', () => {
    const g = Float32Array.from({ length: 403 }, (_, i) => i - 201.5);
    const u = Float32Array.from({ length: 403 }, (_, i) => 1 + (i % 7) / 7);
    const got = swiglu(g, u, { backend: be });
    for (let i = 0; i < g.length; i++) {
      const want = (g[i]! / (1 + Math.exp(-g[i]!))) * u[i]!;
      expect(Number.isFinite(got[i]!)).toBe(true);
      expect(Math.abs(got[i]! - want)).toBeLessThanOrEqual(1e-6 * Math.abs(want) + 1e-30);
    }
  });
});
