/**
 * Plain scalar TypeScript references for the kernels, written from ggml's block
 * layouts independently of the native code: f16 conversion, dequantizers for
 * every block type, reference quantizers, random valid K-quant blocks, and the
 * naive ops (matmul, rms_norm, rope, softmax, attention, ...).
 */
export const fround = Math.fround;

// ---- half / bfloat16 ----------------------------------------------------------
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);
export function floatToHalf(f: number): number {
  // Round to nearest even, via the exact float32 value.
  f32buf[0] = f;
  const x = u32buf[0]!;
  const sign = (x >>> 16) & 0x8000;
  const a = x & 0x7fffffff;
  if (a >= 0x7f800000) return sign | 0x7c00 | (a > 0x7f800000 ? 0x200 : 0);
  const v = Math.abs(f32buf[0]);
  if (v >= 65520) return sign | 0x7c00;
  if (v < 2 ** -14) {
    const m = roundEven(v / 2 ** -24);
    return sign | m;
  }
  const e = Math.floor(Math.log2(v));
  let exp = e;
  let mant = roundEven((v / 2 ** exp - 1) * 1024);
  if (mant === 1024) {
    mant = 0;
    exp++;
  }
  return sign | ((exp + 15) << 10) | mant;
}
export function roundEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
export function bf16ToFloat(h: number): number {
  u32buf[0] = h << 16;
  return f32buf[0]!;
}
export function floatToBf16(f: number): number {
  f32buf[0] = f;
  const u = u32buf[0]!;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

// ---- types -----------------------------------------------------------------------
export const TYPES = {
  F32: { id: 0, block: 1, bytes: 4 },
  F16: { id: 1, block: 1, bytes: 2 },
  Q4_0: { id: 2, block: 32, bytes: 18 },
  Q4_1: { id: 3, block: 32, bytes: 20 },
  Q5_0: { id: 6, block: 32, bytes: 22 },
  Q5_1: { id: 7, block: 32, bytes: 24 },
  Q8_0: { id: 8, block: 32, bytes: 34 },
  IQ4_NL: { id: 20, block: 32, bytes: 18 },
  Q2_K: { id: 10, block: 256, bytes: 84 },
  Q3_K: { id: 11, block: 256, bytes: 110 },
  Q4_K: { id: 12, block: 256, bytes: 144 },
  Q5_K: { id: 13, block: 256, bytes: 176 },
  Q6_K: { id: 14, block: 256, bytes: 210 },
  IQ4_XS: { id: 23, block: 256, bytes: 136 },
  BF16: { id: 30, block: 1, bytes: 2 },
} as const;
export type TypeName = keyof typeof TYPES;

/** The weight types with Metal matmul / get_rows kernels (and fused decode matmuls). */
export const METAL_KERNEL_TYPES: TypeName[] = [
  'F32',
  'F16',
  'BF16',
  'Q8_0',
  'Q4_0',
  'Q4_1',
  'Q5_0',
  'Q5_1',
  'Q4_K',
  'Q5_K',
  'Q6_K',
  'Q2_K',
  'Q3_K',
  'IQ4_NL',
  'IQ4_XS',
];
export const WEIGHT_TYPES = Object.keys(TYPES) as TypeName[];

export function rowBytes(t: TypeName, n: number): number {
  return (n / TYPES[t].block) * TYPES[t].bytes;
}

// ---- deterministic randomness -----------------------------------------------------
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}
export function randomFloats(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (r() * 2 - 1) * scale;
  return a;
}

// ---- dequantize ---------------------------------------------------------------------
function scaleMinK4(j: number, q: Uint8Array, o: number): [number, number] {
  if (j < 4) return [q[o + j]! & 63, q[o + j + 4]! & 63];
  return [(q[o + j + 4]! & 0xf) | ((q[o + j - 4]! >> 6) << 4), (q[o + j + 4]! >> 4) | ((q[o + j]! >> 6) << 4)];
}

/** ggml's kvalues_iq4nl: the 16 levels of IQ4_NL / IQ4_XS. */
export const IQ4NL_VALUES = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113] as const;

/**
 * Deliberate mistakes for the sabotage tests (a test that still passes with one
 * of these is not looking at that bit or scale): 'scale' reads the next
 * sub-block's scale (IQ4_NL: the next block's d), 'bit' the wrong bit plane
 * (Q2_K/Q3_K: the neighbouring plane; IQ4: the other nibble).
 */
export type Sabotage = 'scale' | 'bit';

export function dequantize(t: TypeName, b: Uint8Array, n: number, sabotage?: Sabotage): Float64Array {
  const y = new Float64Array(n);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const h = (o: number): number => halfToFloat(dv.getUint16(o, true));
  const { block, bytes } = TYPES[t];
  for (let i = 0; i < n / block; i++) {
    const o = i * bytes;
    const yo = i * block;
    switch (t) {
      case 'F32':
        y[i] = dv.getFloat32(i * 4, true);
        break;
      case 'F16':
        y[i] = h(i * 2);
        break;
      case 'BF16':
        y[i] = bf16ToFloat(dv.getUint16(i * 2, true));
        break;
      case 'Q4_0': {
        const d = h(o);
        for (let j = 0; j < 16; j++) {
          y[yo + j] = ((b[o + 2 + j]! & 0xf) - 8) * d;
          y[yo + j + 16] = ((b[o + 2 + j]! >> 4) - 8) * d;
        }
        break;
      }
      case 'Q4_1': {
        const d = h(o),
          m = h(o + 2);
        for (let j = 0; j < 16; j++) {
          y[yo + j] = (b[o + 4 + j]! & 0xf) * d + m;
          y[yo + j + 16] = (b[o + 4 + j]! >> 4) * d + m;
        }
        break;
      }
      case 'Q5_0':
      case 'Q5_1': {
        const one = t === 'Q5_1';
        const d = h(o),
          m = one ? h(o + 2) : 0;
        const qh = dv.getUint32(o + (one ? 4 : 2), true);
        const qs = o + (one ? 8 : 6);
        for (let j = 0; j < 16; j++) {
          const lo = (b[qs + j]! & 0xf) | (((qh >>> j) & 1) << 4);
          const hi = (b[qs + j]! >> 4) | (((qh >>> (j + 16)) & 1) << 4);
          y[yo + j] = one ? lo * d + m : (lo - 16) * d;
          y[yo + j + 16] = one ? hi * d + m : (hi - 16) * d;
        }
        break;
      }
      case 'Q8_0': {
        const d = h(o);
        for (let j = 0; j < 32; j++) y[yo + j] = dv.getInt8(o + 2 + j) * d;
        break;
      }
      case 'Q4_K':
      case 'Q5_K': {
        const five = t === 'Q5_K';
        const d = h(o),
          dmin = h(o + 2);
        const sc = o + 4;
        const qh = o + 16;
        const qs = five ? o + 48 : o + 16;
        for (let c = 0; c < 4; c++) {
          const [s1, m1] = scaleMinK4(2 * c, b, sc);
          const [s2, m2] = scaleMinK4(2 * c + 1, b, sc);
          for (let l = 0; l < 32; l++) {
            const q = b[qs + 32 * c + l]!;
            const h1 = five && b[qh + l]! & (1 << (2 * c)) ? 16 : 0;
            const h2 = five && b[qh + l]! & (2 << (2 * c)) ? 16 : 0;
            y[yo + 64 * c + l] = d * s1 * ((q & 0xf) + h1) - dmin * m1;
            y[yo + 64 * c + 32 + l] = d * s2 * ((q >> 4) + h2) - dmin * m2;
          }
        }
        break;
      }
      case 'Q2_K':
      case 'Q3_K': {
        // Element e of the 256: half e >> 7, bit plane (e >> 5) & 3, byte e & 31 of
        // that half's 32 quant bytes; sub-block (scale) e >> 4.
        const three = t === 'Q3_K';
        const qs = o + (three ? 32 : 16);
        const d = h(o + (three ? 108 : 80)),
          dmin = three ? 0 : h(o + 82);
        for (let e = 0; e < 256; e++) {
          const half = e >> 7,
            l = e & 31;
          let plane = (e >> 5) & 3;
          if (sabotage === 'bit') plane ^= 1;
          let sub = e >> 4;
          if (sabotage === 'scale') sub ^= 1;
          const q = (b[qs + 32 * half + l]! >> (2 * plane)) & 3;
          if (three) {
            const hbit = (b[o + l]! >> (4 * half + plane)) & 1; // hmask[l], bit 4*half + plane
            const lo = sub < 8 ? b[o + 96 + sub]! & 0xf : b[o + 96 + sub - 8]! >> 4;
            const hi = (b[o + 104 + (sub % 4)]! >> (2 * Math.floor(sub / 4))) & 3;
            y[yo + e] = d * ((lo | (hi << 4)) - 32) * (q + 4 * hbit - 4);
          } else {
            const sc = b[o + sub]!;
            y[yo + e] = d * (sc & 0xf) * q - dmin * (sc >> 4);
          }
        }
        break;
      }
      case 'IQ4_NL':
      case 'IQ4_XS': {
        // 32-element sub-blocks: element i < 16 is the low nibble of byte i, i >= 16 the high nibble of byte i - 16.
        const xs = t === 'IQ4_XS';
        // (IQ4_NL has no sub-block scale: its 'scale' mistake reads the neighbouring block's d.)
        const d = !xs && sabotage === 'scale' && (i ^ 1) < n / block ? h((i ^ 1) * bytes) : h(o);
        const subs = xs ? 8 : 1;
        for (let s = 0; s < subs; s++) {
          let ls = 32 + 1; // IQ4_NL: no sub-block scale (ls - 32 = 1)
          if (xs) {
            const ss = sabotage === 'scale' ? s ^ 1 : s;
            ls =
              ((b[o + 4 + (ss >> 1)]! >> (4 * (ss & 1))) & 0xf) | (((dv.getUint16(o + 2, true) >> (2 * ss)) & 3) << 4);
          }
          const qs = o + (xs ? 8 + 16 * s : 2);
          for (let i = 0; i < 32; i++) {
            const hiNibble = i >= 16 !== (sabotage === 'bit');
            const q = hiNibble ? b[qs + (i & 15)]! >> 4 : b[qs + (i & 15)]! & 0xf;
            y[yo + 32 * s + i] = d * (ls - 32) * IQ4NL_VALUES[q]!;
          }
        }
        break;
      }
      case 'Q6_K': {
        const ql = o,
          qh = o + 128,
          sc = o + 192,
          d = h(o + 208);
        for (let half = 0; half < 2; half++) {
          for (let l = 0; l < 32; l++) {
            const L = ql + 64 * half,
              H = qh + 32 * half,
              S = sc + 8 * half,
              Y = yo + 128 * half;
            const is = l >> 4;
            const q1 = ((b[L + l]! & 0xf) | (((b[H + l]! >> 0) & 3) << 4)) - 32;
            const q2 = ((b[L + l + 32]! & 0xf) | (((b[H + l]! >> 2) & 3) << 4)) - 32;
            const q3 = ((b[L + l]! >> 4) | (((b[H + l]! >> 4) & 3) << 4)) - 32;
            const q4 = ((b[L + l + 32]! >> 4) | (((b[H + l]! >> 6) & 3) << 4)) - 32;
            y[Y + l] = d * dv.getInt8(S + is) * q1;
            y[Y + l + 32] = d * dv.getInt8(S + is + 2) * q2;
            y[Y + l + 64] = d * dv.getInt8(S + is + 4) * q3;
            y[Y + l + 96] = d * dv.getInt8(S + is + 6) * q4;
          }
        }
        break;
      }
    }
  }
  return y;
}

// ---- reference quantizers (ggml's *_ref, in float32 arithmetic) -------------------------
export function quantize(t: TypeName, x: Float32Array, seed = 1): Uint8Array {
  const n = x.length;
  const { block, bytes } = TYPES[t];
  const out = new Uint8Array((n / block) * bytes);
  const dv = new DataView(out.buffer);
  const r = rng(seed);
  for (let i = 0; i < n / block; i++) {
    const o = i * bytes;
    const xs = x.subarray(i * block, (i + 1) * block);
    switch (t) {
      case 'F32':
        dv.setFloat32(i * 4, x[i]!, true);
        break;
      case 'F16':
        dv.setUint16(i * 2, floatToHalf(x[i]!), true);
        break;
      case 'BF16':
        dv.setUint16(i * 2, floatToBf16(x[i]!), true);
        break;
      case 'Q8_0': {
        let amax = 0;
        for (const v of xs) amax = Math.max(amax, Math.abs(v));
        const d = fround(amax / 127),
          id = d ? fround(1 / d) : 0;
        dv.setUint16(o, floatToHalf(d), true);
        for (let j = 0; j < 32; j++)
          dv.setInt8(o + 2 + j, Math.sign(xs[j]!) * Math.round(Math.abs(fround(xs[j]! * id))));
        break;
      }
      case 'Q4_0':
      case 'Q5_0': {
        const five = t === 'Q5_0';
        let amax = 0,
          max = 0;
        for (const v of xs) {
          if (Math.abs(v) > amax) {
            amax = Math.abs(v);
            max = v;
          }
        }
        const d = fround(max / (five ? -16 : -8)),
          id = d ? fround(1 / d) : 0;
        dv.setUint16(o, floatToHalf(d), true);
        let qh = 0;
        for (let j = 0; j < 16; j++) {
          const q = (v: number): number =>
            Math.min(five ? 31 : 15, Math.trunc(fround(fround(v * id) + (five ? 16.5 : 8.5))));
          const a = q(xs[j]!),
            b = q(xs[j + 16]!);
          out[o + (five ? 6 : 2) + j] = (a & 0xf) | ((b & 0xf) << 4);
          qh |= ((a >> 4) & 1) << j;
          qh |= ((b >> 4) & 1) << (j + 16);
        }
        if (five) dv.setUint32(o + 2, qh >>> 0, true);
        break;
      }
      case 'Q4_1':
      case 'Q5_1': {
        const five = t === 'Q5_1';
        let mn = Infinity,
          mx = -Infinity;
        for (const v of xs) {
          mn = Math.min(mn, v);
          mx = Math.max(mx, v);
        }
        const d = fround((mx - mn) / (five ? 31 : 15)),
          id = d ? fround(1 / d) : 0;
        dv.setUint16(o, floatToHalf(d), true);
        dv.setUint16(o + 2, floatToHalf(mn), true);
        let qh = 0;
        for (let j = 0; j < 16; j++) {
          const q = (v: number): number =>
            Math.min(five ? 31 : 15, Math.trunc(fround(fround(fround(v - mn) * id) + 0.5)));
          const a = q(xs[j]!),
            b = q(xs[j + 16]!);
          out[o + (five ? 8 : 4) + j] = (a & 0xf) | ((b & 0xf) << 4);
          qh |= ((a >> 4) & 1) << j;
          qh |= ((b >> 4) & 1) << (j + 16);
        }
        if (five) dv.setUint32(o + 4, qh >>> 0, true);
        break;
      }
      case 'Q2_K':
      case 'Q3_K':
      case 'Q4_K':
      case 'Q5_K':
      case 'Q6_K':
      case 'IQ4_NL':
      case 'IQ4_XS': {
        // Random but valid blocks (K-quant and IQ4 quantizers are not part of the engine).
        for (let k = 0; k < bytes; k++) out[o + k] = Math.floor(r() * 256);
        if (t === 'Q6_K') dv.setUint16(o + 208, floatToHalf(0.0005 + r() * 0.002), true);
        else if (t === 'Q2_K') {
          dv.setUint16(o + 80, floatToHalf(0.002 + r() * 0.006), true);
          dv.setUint16(o + 82, floatToHalf(0.001 + r() * 0.004), true);
        } else if (t === 'Q3_K') dv.setUint16(o + 108, floatToHalf(0.0005 + r() * 0.002), true);
        else if (t === 'IQ4_NL') dv.setUint16(o, floatToHalf((r() - 0.5) * 0.02), true);
        else if (t === 'IQ4_XS') dv.setUint16(o, floatToHalf((r() - 0.5) * 0.001), true);
        else {
          dv.setUint16(o, floatToHalf(0.001 + r() * 0.004), true);
          dv.setUint16(o + 2, floatToHalf(0.001 + r() * 0.004), true);
        }
        break;
      }
    }
  }
  return out;
}

// ---- activation quantization as the CPU kernels do it (to state tight tolerances) ----------
/**
 * The activation format a weight type's matmul uses (ggml's vec_dot_type): 'f32' for F32, 'f16' / 'bf16'
 * (f32 rows rounded to f16 / bf16) for F16 / BF16, 'q8_0', 'q8_1' or 'q8_K' for quantized weights.
 */
export function activationFormat(t: TypeName): 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q8_1' | 'q8_K' {
  if (t === 'F32') return 'f32';
  if (t === 'F16') return 'f16';
  if (t === 'BF16') return 'bf16';
  if (t === 'Q4_1' || t === 'Q5_1') return 'q8_1';
  if (t === 'Q2_K' || t === 'Q3_K' || t === 'Q4_K' || t === 'Q5_K' || t === 'Q6_K' || t === 'IQ4_XS') return 'q8_K';
  return 'q8_0';
}

/** x rounded the way the kernel's activation quantizer rounds it. */
export function quantizeActivations(fmt: ReturnType<typeof activationFormat>, x: Float32Array): Float64Array {
  const y = new Float64Array(x.length);
  if (fmt === 'f32') {
    y.set(x);
    return y;
  }
  if (fmt === 'f16' || fmt === 'bf16') {
    for (let j = 0; j < x.length; j++) {
      y[j] = fmt === 'f16' ? halfToFloat(floatToHalf(x[j]!)) : bf16ToFloat(floatToBf16(x[j]!));
    }
    return y;
  }
  const block = fmt === 'q8_K' ? 256 : 32;
  for (let i = 0; i < x.length; i += block) {
    let amax = 0,
      max = 0;
    for (let j = i; j < i + block; j++) {
      if (Math.abs(x[j]!) > amax) {
        amax = Math.abs(x[j]!);
        max = x[j]!;
      }
    }
    if (fmt === 'q8_K') {
      if (amax === 0) continue;
      const iscale = fround(-127 / max);
      const d = fround(1 / iscale);
      for (let j = i; j < i + block; j++) y[j] = Math.min(127, roundEven(fround(iscale * x[j]!))) * d;
    } else {
      const d = fround(amax / 127),
        id = d ? fround(1 / d) : 0;
      const dh = halfToFloat(floatToHalf(d));
      for (let j = i; j < i + block; j++) y[j] = Math.round(fround(x[j]! * id)) * dh;
    }
  }
  return y;
}

/** q8_1's per-block s = fp16(d * sum(q)), which q4_1/q5_1 matmuls multiply by the weight block's m. */
export function q8_1BlockSums(x: Float32Array): Float64Array {
  const s = new Float64Array(x.length / 32);
  for (let b = 0; b < s.length; b++) {
    let amax = 0;
    for (let j = 32 * b; j < 32 * b + 32; j++) amax = Math.max(amax, Math.abs(x[j]!));
    const d = fround(amax / 127),
      id = d ? fround(1 / d) : 0;
    let sum = 0;
    for (let j = 32 * b; j < 32 * b + 32; j++) sum += Math.round(fround(x[j]! * id));
    s[b] = halfToFloat(floatToHalf(fround(sum * d)));
  }
  return s;
}

/** The m (block minimum) of each q4_1/q5_1 block. */
export function blockMins(t: 'Q4_1' | 'Q5_1', w: Uint8Array, blocks: number): Float64Array {
  const dv = new DataView(w.buffer, w.byteOffset, w.byteLength);
  const m = new Float64Array(blocks);
  for (let b = 0; b < blocks; b++) m[b] = halfToFloat(dv.getUint16(b * TYPES[t].bytes + 2, true));
  return m;
}

/** GELU, tanh form (gemma's gelu_pytorch_tanh), in float64. */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/**
 * Causal GQA attention in float64: q [n, nHead*D], k/v cache rows [nPast + n, nKv*D].
 * Query i (position nPast + i) sees keys (pos - window, pos] (window 0: all up to pos);
 * scores scale * q.k, soft-capped to c * tanh(s / c) when softcap > 0.
 */
export function attentionReference(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  o: {
    n: number;
    nPast: number;
    nHead: number;
    nKvHead: number;
    headDim: number;
    scale?: number;
    window?: number;
    softcap?: number;
  },
): Float64Array {
  const { n, nPast, nHead, nKvHead: nKv, headDim: D } = o;
  const scale = o.scale ?? 1 / Math.sqrt(D);
  const out = new Float64Array(n * nHead * D);
  for (let i = 0; i < n; i++) {
    const pos = nPast + i;
    const first = o.window ? Math.max(0, pos - o.window + 1) : 0;
    for (let h = 0; h < nHead; h++) {
      const kvh = Math.floor(h / (nHead / nKv));
      const s: number[] = [];
      let mx = -Infinity;
      for (let j = first; j <= pos; j++) {
        let d = 0;
        for (let c = 0; c < D; c++) d += q[i * nHead * D + h * D + c]! * k[j * nKv * D + kvh * D + c]!;
        let x = d * scale;
        if (o.softcap) x = o.softcap * Math.tanh(x / o.softcap);
        s.push(x);
        mx = Math.max(mx, x);
      }
      let sum = 0;
      for (let j = 0; j < s.length; j++) sum += s[j] = Math.exp(s[j]! - mx);
      for (let c = 0; c < D; c++) {
        let acc = 0;
        for (let j = 0; j < s.length; j++) acc += s[j]! * v[(first + j) * nKv * D + kvh * D + c]!;
        out[i * nHead * D + h * D + c] = acc / sum;
      }
    }
  }
  return out;
}
