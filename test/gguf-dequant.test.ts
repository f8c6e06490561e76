/**
 * Dequantized weights of every type in the random fixtures against an
 * independent scalar reference written here (ggml's block layouts), and
 * against the native addon's dequantize.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readGGUFSync } from '../lib/gguf/reader';
import { DType, native } from '../lib/native';

const RANDOM = path.join(__dirname, 'fixtures', 'random');

const f16tab = new Float32Array(65536);
for (let h = 0; h < 65536; h++) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  f16tab[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
}
const f16 = (b: Uint8Array, at: number): number => f16tab[b[at]! | (b[at + 1]! << 8)]!;

/** Scalar reference dequantizer (no native code). */
function refDequant(type: number, b: Uint8Array, n: number): Float32Array {
  const y = new Float32Array(n);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  switch (type) {
    case DType.F32:
      for (let i = 0; i < n; i++) y[i] = dv.getFloat32(i * 4, true);
      return y;
    case DType.F16:
      for (let i = 0; i < n; i++) y[i] = f16(b, i * 2);
      return y;
    case DType.BF16:
      {
        const bits = new Uint32Array(y.buffer);
        for (let i = 0; i < n; i++) bits[i] = dv.getUint16(i * 2, true) << 16;
      }
      return y;
    case DType.Q8_0:
      for (let k = 0; k < n / 32; k++) {
        const o = k * 34;
        const d = f16(b, o);
        for (let j = 0; j < 32; j++) y[k * 32 + j] = d * dv.getInt8(o + 2 + j);
      }
      return y;
    case DType.Q4_0:
      for (let k = 0; k < n / 32; k++) {
        const o = k * 18;
        const d = f16(b, o);
        for (let j = 0; j < 16; j++) {
          const q = b[o + 2 + j]!;
          y[k * 32 + j] = ((q & 0xf) - 8) * d;
          y[k * 32 + j + 16] = ((q >> 4) - 8) * d;
        }
      }
      return y;
    case DType.Q4_K:
      for (let k = 0; k < n / 256; k++) {
        const o = k * 144;
        const d = f16(b, o);
        const dmin = f16(b, o + 2);
        const sc = (j: number): [number, number] => {
          const q = (i: number): number => b[o + 4 + i]!;
          return j < 4
            ? [q(j) & 63, q(j + 4) & 63]
            : [(q(j + 4) & 0xf) | ((q(j - 4) >> 6) << 4), (q(j + 4) >> 4) | ((q(j) >> 6) << 4)];
        };
        let out = k * 256;
        let qs = o + 16;
        for (let is = 0; is < 8; is += 2) {
          const [s1, m1] = sc(is);
          const [s2, m2] = sc(is + 1);
          for (let l = 0; l < 32; l++) y[out + l] = d * s1 * (b[qs + l]! & 0xf) - dmin * m1;
          for (let l = 0; l < 32; l++) y[out + 32 + l] = d * s2 * (b[qs + l]! >> 4) - dmin * m2;
          out += 64;
          qs += 32;
        }
      }
      return y;
    case DType.Q6_K:
      for (let k = 0; k < n / 256; k++) {
        const o = k * 210; // ql[128], qh[64], scales[16] (int8), d (f16)
        const d = f16(b, o + 208);
        for (let half = 0; half < 2; half++) {
          const ql = o + half * 64;
          const qh = o + 128 + half * 32;
          const sc = o + 192 + half * 8;
          const out = k * 256 + half * 128;
          for (let l = 0; l < 32; l++) {
            const is = l >> 4;
            const h = b[qh + l]!;
            const q1 = ((b[ql + l]! & 0xf) | ((h & 3) << 4)) - 32;
            const q2 = ((b[ql + l + 32]! & 0xf) | (((h >> 2) & 3) << 4)) - 32;
            const q3 = ((b[ql + l]! >> 4) | (((h >> 4) & 3) << 4)) - 32;
            const q4 = ((b[ql + l + 32]! >> 4) | (((h >> 6) & 3) << 4)) - 32;
            y[out + l] = d * dv.getInt8(sc + is) * q1;
            y[out + l + 32] = d * dv.getInt8(sc + is + 2) * q2;
            y[out + l + 64] = d * dv.getInt8(sc + is + 4) * q3;
            y[out + l + 96] = d * dv.getInt8(sc + is + 6) * q4;
          }
        }
      }
      return y;
    default:
      throw new Error(`no reference for type ${type}`);
  }
}

/** Largest |a - b| / max(1, |a|) (no Math.* in the loop: slow under jest's vm). */
function worstRelDiff(a: Float32Array, b: Float32Array): number {
  let w = 0;
  for (let i = 0; i < a.length; i++) {
    let d = a[i]! - b[i]!;
    if (d < 0) d = -d;
    let s = a[i]!;
    if (s < 0) s = -s;
    const r = d / (s > 1 ? s : 1);
    if (r > w || r !== r) w = r !== r ? Infinity : r;
  }
  return w;
}

function tensors(file: string): Array<{ name: string; type: number; n: number; raw: Uint8Array }> {
  const g = readGGUFSync(file);
  const buf = fs.readFileSync(file);
  return g.tensors.map((t) => ({
    name: t.name,
    type: t.type,
    n: t.shape.reduce((a, b) => a * b, 1),
    raw: new Uint8Array(buf.subarray(t.offset, t.offset + t.bytes)),
  }));
}

const FILES = ['f32', 'f16', 'q8_0', 'q4_0', 'q4_k', 'q6_k'].map((t) => `tiny-llama-${t}.gguf`);

describe.each(FILES)('%s', (file) => {
  const ts = tensors(path.join(RANDOM, file));
  it('every weight dequantizes to finite values matching the native addon', () => {
    for (const t of ts) {
      const ref = refDequant(t.type, t.raw, t.n);
      const nat = native().dequantize(t.type, t.raw, t.n);
      const w = worstRelDiff(ref, nat);
      if (w > 1e-6) throw new Error(`${t.name}: reference and native differ by ${w}`);
    }
  });
});

it('the native Q8_0/Q4_0 quantizers stay within one step of the F32 fixture weights (reference dequantizer)', () => {
  // (The random fixtures of each type hold independent weights, so they are not compared with each other.)
  for (const t of tensors(path.join(RANDOM, 'tiny-llama-f32.gguf'))) {
    if (t.n % 32 !== 0) continue;
    const a = refDequant(DType.F32, t.raw, t.n);
    for (const [type, levels] of [
      [DType.Q8_0, 127],
      [DType.Q4_0, 8],
    ] as const) {
      const b = refDequant(type, native().quantize(type, a, t.n >= 256 ? 256 : t.n), t.n);
      for (let k = 0; k < t.n / 32; k++) {
        let amax = 0;
        let worst = 0;
        for (let j = k * 32; j < k * 32 + 32; j++) {
          const v = a[j]! < 0 ? -a[j]! : a[j]!;
          if (v > amax) amax = v;
          const d = a[j]! - b[j]!;
          if ((d < 0 ? -d : d) > worst) worst = d < 0 ? -d : d;
        }
        if (worst > (amax / levels) * 1.01 + 1e-7)
          throw new Error(`${type} ${t.name} block ${k}: off by ${worst} (max ${amax})`);
      }
    }
  }
});

it('BF16 and F16 blocks made by the native quantizer match the reference', () => {
  const x = new Float32Array(256);
  for (let i = 0; i < x.length; i++) x[i] = ((i * 37) % 101) / 17 - 3;
  for (const type of [DType.BF16, DType.F16, DType.Q8_0, DType.Q4_0]) {
    const q = native().quantize(type, x, 64);
    expect(worstRelDiff(refDequant(type, q, x.length), native().dequantize(type, q, x.length))).toBeLessThanOrEqual(
      1e-6,
    );
  }
});
