/**
 * Tensors quantized by llama.cpp's own quantizer (test/fixtures/random: the
 * tiny-llama256 Q2_K / IQ4_XS / IQ4_NL files and the phi3 Q3_K_M file, whose
 * rows mix Q3_K, Q4_K, Q5_K and Q6_K) against the scalar TS reference
 * (test/helpers/reference.ts): every tensor dequantizes to the reference's
 * values, and matmul over each weight type's real rows matches the reference
 * at every CPU kernel level, with 1 and 2 threads, on decode (tile) and
 * prefill (panel) shapes. Random blocks (test/ops-matmul.test.ts) cover every
 * bit pattern; these cover the scales and value distributions a real
 * quantizer writes (e.g. IQ4_XS's negative sub-block scales).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Backend } from '../lib/backend';
import { readGGUFSync } from '../lib/gguf/reader';
import { native } from '../lib/native';
import { matmul } from '../lib/ops';
import {
  TYPES,
  activationFormat,
  dequantize,
  quantizeActivations,
  randomFloats,
  type TypeName,
} from './helpers/reference';
import { CPU_SIMD_LEVELS } from './helpers/simd-levels';

const RANDOM = path.join(__dirname, 'fixtures', 'random');
const FILES = ['tiny-llama256-q2_k', 'tiny-llama256-iq4_xs', 'tiny-llama256-iq4_nl', 'tiny-phi3-q3_k_m'];

interface Tensor {
  name: string;
  type: TypeName;
  rows: number;
  cols: number;
  raw: Uint8Array;
}

const byId = new Map<number, TypeName>(Object.entries(TYPES).map(([n, t]) => [t.id, n as TypeName]));

function tensors(file: string): Tensor[] {
  const p = path.join(RANDOM, `${file}.gguf`);
  const g = readGGUFSync(p);
  const buf = fs.readFileSync(p);
  return g.tensors.map((t) => ({
    name: t.name,
    type: byId.get(t.type)!,
    cols: t.shape[0]!,
    rows: t.shape.slice(1).reduce((a, b) => a * b, 1),
    raw: new Uint8Array(buf.buffer, buf.byteOffset + t.offset, t.bytes),
  }));
}

const all = FILES.map((f) => ({ file: f, tensors: tensors(f) }));

test('the fixtures hold the type mixtures llama.cpp writes', () => {
  const types = (f: string): string[] => [
    ...new Set(
      all
        .find((a) => a.file === f)!
        .tensors.filter((t) => t.rows > 1)
        .map((t) => t.type),
    ),
  ];
  expect(types('tiny-llama256-q2_k').sort()).toEqual(['Q2_K', 'Q3_K', 'Q6_K']);
  expect(types('tiny-llama256-iq4_xs').sort()).toEqual(['IQ4_XS', 'Q6_K']);
  expect(types('tiny-llama256-iq4_nl').sort()).toEqual(['IQ4_NL', 'Q6_K']);
  expect(types('tiny-phi3-q3_k_m').sort()).toEqual(['Q3_K', 'Q4_K', 'Q5_K', 'Q6_K']);
});

describe.each(all)('$file', ({ tensors: ts }) => {
  test('every tensor dequantizes like the reference (native dequantize)', () => {
    for (const t of ts) {
      const n = t.rows * t.cols;
      const ref = dequantize(t.type, t.raw, n);
      const nat = native().dequantize(TYPES[t.type].id, t.raw, n);
      let worst = 0;
      for (let i = 0; i < n; i++) {
        const d = Math.abs(nat[i]! - ref[i]!) / Math.max(1, Math.abs(ref[i]!));
        if (!(d <= worst)) worst = d; // (NaN counts as worst)
      }
      if (!(worst <= 1e-6)) throw new Error(`${t.name} (${t.type}): native and reference differ by ${worst}`);
    }
  });
});

const backends = [Backend.create('cpu', { threads: 1 }), Backend.create('cpu', { threads: 2 })];
afterAll(async () => {
  native().setCpuSimd('auto');
  await Promise.all(backends.map((b) => b.dispose()));
});

// One real tensor per weight type (the first of that type), its first 37 rows:
// full and partial panels (16 rows for AVX-512, 8 for AVX2) and decode tiles
// with a remainder.
const samples = new Map<TypeName, Tensor>();
for (const { tensors: ts } of all)
  for (const t of ts) if (t.rows > 1 && t.type !== 'F32' && !samples.has(t.type)) samples.set(t.type, t);

describe.each([...samples.keys()].sort())('matmul on llama.cpp-quantized %s rows', (type) => {
  const t = samples.get(type)!;
  const M = Math.min(37, t.rows),
    K = t.cols;
  const w = t.raw.subarray(0, (M * K * TYPES[type].bytes) / TYPES[type].block);
  const wd = dequantize(type, w, M * K);
  test.each(CPU_SIMD_LEVELS)('%s kernels, 1 and 2 threads', (simd) => {
    native().setCpuSimd(simd);
    for (const N of [1, 3, 17]) {
      const x = randomFloats(N * K, 7 + N, 2);
      for (const backend of backends) {
        const y = matmul(x, { data: w, type, rows: M, cols: K }, { backend });
        for (let n = 0; n < N; n++) {
          const xq = quantizeActivations(activationFormat(type), x.subarray(n * K, (n + 1) * K));
          for (let m = 0; m < M; m++) {
            let want = 0,
              mag = 0;
            for (let k = 0; k < K; k++) {
              want += wd[m * K + k]! * xq[k]!;
              mag += Math.abs(wd[m * K + k]! * xq[k]!);
            }
            const got = y[n * M + m]!;
            if (!(Math.abs(got - want) <= 1e-4 * mag + 1e-5))
              throw new Error(`${t.name} ${simd} N=${N} [${n},${m}]: got ${got}, reference ${want}`);
          }
        }
      }
    }
  });
});
