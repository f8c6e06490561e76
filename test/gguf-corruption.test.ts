import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BadModelError, MiniMacLLMError, UnsupportedError } from '../lib/errors';
import { parseGGUFBuffer, readGGUF, readGGUFSync } from '../lib/gguf/reader';
import { GGUFValueType } from '../lib/gguf/types';
import { encodeGGUFHeader, typed, type GGUFWriteInput } from '../lib/gguf/writer';
import { DType } from '../lib/native';

const FIX = path.join(__dirname, 'fixtures');
const STORIES = fs.readFileSync(path.join(FIX, 'models', 'stories260K.gguf'));
const HEADER_END = readGGUFSync(path.join(FIX, 'models', 'stories260K.gguf')).dataOffset;

/** Mulberry32: small seeded PRNG so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Parses; returns the error (must be a clean BadModel/Unsupported) or undefined. */
function tryParse(bytes: Uint8Array, fileSize?: number): MiniMacLLMError | undefined {
  try {
    const g = parseGGUFBuffer(bytes, fileSize);
    // A header that parses must describe tensors inside the file.
    for (const t of g.tensors) {
      if (t.offset + t.bytes > g.fileSize) throw new Error(`tensor ${t.name} outside the file was accepted`);
    }
    return undefined;
  } catch (e) {
    if (e instanceof BadModelError || e instanceof UnsupportedError) return e;
    throw e;
  }
}

function expectBad(
  bytes: Uint8Array,
  pattern: RegExp,
  cls: typeof BadModelError | typeof UnsupportedError = BadModelError,
): void {
  const e = tryParse(bytes);
  expect(e).toBeInstanceOf(cls);
  expect(e!.message).toMatch(pattern);
}

const tinyModel = (over: Partial<GGUFWriteInput> = {}): GGUFWriteInput => ({
  metadata: { 'general.architecture': 'llama', 'tokenizer.ggml.tokens': ['a', 'b'] },
  tensors: [
    { name: 'tensor_a', type: DType.F32, shape: [8], data: new Uint8Array(32) },
    { name: 'tensor_b', type: DType.Q8_0, shape: [32, 2], data: new Uint8Array(68) },
  ],
  ...over,
});

/** Header + zeroed tensor data, laid out as the writer lays it out. */
function fileOf(input: GGUFWriteInput): Buffer {
  const { header, bytes } = encodeGGUFHeader(input);
  const data = bytes.reduce((a, n) => a + Math.ceil(n / 32) * 32, 0);
  return Buffer.concat([header, Buffer.alloc(data)]);
}

describe('truncation', () => {
  it(`fails cleanly at every offset of the stories260K header (${HEADER_END} bytes)`, () => {
    let errors = 0;
    for (let n = 0; n <= HEADER_END + 64; n++) {
      const e = tryParse(STORIES.subarray(0, n));
      if (e) errors++;
    }
    expect(errors).toBe(HEADER_END + 65); // every truncation is noticed (the data section is cut too)
  });

  it('fails cleanly on truncated files on disk, through both readers', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-trunc-'));
    try {
      const rnd = prng(7);
      const cuts = [0, 3, 4, 8, 23, 24, HEADER_END - 1, HEADER_END, STORIES.length - 1];
      for (let i = 0; i < 20; i++) cuts.push(Math.floor(rnd() * STORIES.length));
      for (const n of cuts) {
        const f = path.join(dir, `t${n}.gguf`);
        fs.writeFileSync(f, STORIES.subarray(0, n));
        expect(() => readGGUFSync(f)).toThrow(BadModelError);
        await expect(readGGUF(f)).rejects.toBeInstanceOf(BadModelError);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('random corruption', () => {
  it('3000 seeded byte flips in the header give only clean errors', () => {
    const rnd = prng(12345);
    const buf = Buffer.from(STORIES.subarray(0, STORIES.length));
    let errors = 0;
    for (let i = 0; i < 3000; i++) {
      const copy = Buffer.from(buf);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < flips; k++) {
        const at = Math.floor(rnd() * HEADER_END);
        copy[at] = rnd() < 0.5 ? copy[at]! ^ (1 << Math.floor(rnd() * 8)) : Math.floor(rnd() * 256);
      }
      if (tryParse(copy)) errors++;
    }
    expect(errors).toBeGreaterThan(100);
  });

  it('random bytes in length and count fields give only clean errors', () => {
    const rnd = prng(99);
    const file = fileOf(tinyModel());
    for (let i = 0; i < 2000; i++) {
      const copy = Buffer.from(file);
      const at = Math.floor(rnd() * 200);
      copy.writeUInt32LE(Math.floor(rnd() * 2 ** 32), Math.min(at, copy.length - 4));
      tryParse(copy);
    }
  });
});

describe('crafted headers', () => {
  it('an array claiming 2^60 elements fails at once, naming the key, without allocating', () => {
    const { header } = encodeGGUFHeader({ metadata: { 'tokenizer.ggml.tokens': ['a'] }, tensors: [] });
    const buf = Buffer.from(header);
    // Layout: magic, version, n_tensors, n_kv, key (8 + 21), type u32, elem type u32, count u64.
    const countAt = 4 + 4 + 8 + 8 + 8 + 'tokenizer.ggml.tokens'.length + 4 + 4;
    expect(buf.readBigUInt64LE(countAt)).toBe(1n);
    buf.writeBigUInt64LE(1n << 60n, countAt);
    const t0 = performance.now();
    expectBad(buf, /metadata key "tokenizer\.ggml\.tokens": array of 1152921504606846976 elements exceeds the file/);
    // Not a speed target: reading or allocating 2^60 elements would take minutes or crash.
    expect(performance.now() - t0).toBeLessThan(2000);
    // Same for typed arrays and huge tensor/kv counts and string lengths.
    const f32 = Buffer.from(encodeGGUFHeader({ metadata: { s: new Float32Array(1) }, tensors: [] }).header);
    f32.writeBigUInt64LE((1n << 64n) - 1n, 4 + 4 + 8 + 8 + 8 + 1 + 4 + 4);
    expectBad(f32, /metadata key "s": array of 18446744073709551615 elements exceeds the file/);
    const counts = Buffer.from(buf);
    counts.writeBigUInt64LE(1n << 60n, 8);
    expectBad(counts, /tensor count 1152921504606846976 exceeds the file/);
    counts.writeBigUInt64LE(0n, 8);
    counts.writeBigUInt64LE(1n << 60n, 16);
    expectBad(counts, /metadata count 1152921504606846976 exceeds the file/);
    const str = Buffer.from(encodeGGUFHeader({ metadata: { s: 'x' }, tensors: [] }).header);
    str.writeBigUInt64LE(1n << 62n, 4 + 4 + 8 + 8 + 8 + 1 + 4);
    expectBad(str, /metadata key "s": string of 4611686018427387904 bytes exceeds the file/);
  });

  it('bad magic, unsupported versions, big-endian files', () => {
    const file = fileOf(tinyModel());
    const b = Buffer.from(file);
    b.write('GGUX', 0, 'latin1');
    expectBad(b, /bad magic/);
    for (const v of [1, 4, 0xffffffff]) {
      const c = Buffer.from(file);
      c.writeUInt32LE(v, 4);
      expectBad(c, new RegExp(`unsupported GGUF version ${v}`));
    }
    const be = Buffer.from(file);
    be.writeUInt32BE(3, 4);
    expectBad(be, /big-endian/);
    const v2 = Buffer.from(file);
    v2.writeUInt32LE(2, 4);
    expect(tryParse(v2)).toBeUndefined();
  });

  it('duplicate keys and tensor names', () => {
    const file = fileOf(tinyModel({ metadata: { aa: 'x', ab: 'y' } }));
    const b = Buffer.from(file);
    b.write('aa', b.indexOf('ab', 24, 'latin1'), 'latin1');
    expectBad(b, /duplicate metadata key "aa"/);
    const t = fileOf(
      tinyModel({
        tensors: [
          { name: 'x1', type: DType.F32, shape: [8], data: new Uint8Array(32) },
          { name: 'x2', type: DType.F32, shape: [8], data: new Uint8Array(32) },
        ],
      }),
    );
    t.write('x1', t.indexOf('x2', 24, 'latin1'), 'latin1');
    expectBad(t, /duplicate tensor name "x1"/);
  });

  it('unknown value types, bad bools, non-UTF-8 keys', () => {
    const file = fileOf(tinyModel({ metadata: { k: true } }));
    const typeAt = 4 + 4 + 8 + 8 + 8 + 1;
    const b = Buffer.from(file);
    b.writeUInt32LE(13, typeAt);
    expectBad(b, /metadata key "k": unknown value type 13/);
    const c = Buffer.from(file);
    c[typeAt + 4] = 2;
    expectBad(c, /bool byte 2/);
    const d = Buffer.from(file);
    d[typeAt - 1] = 0xff;
    expectBad(d, /not valid UTF-8/);
    const arr = fileOf(tinyModel({ metadata: { k: ['x'] } }));
    arr.writeUInt32LE(77, typeAt + 4);
    expectBad(arr, /unknown array element type 77/);
  });

  it('alignment: non-power-of-two, wrong type, unaligned offsets', () => {
    const a = fileOf(tinyModel({ metadata: { 'general.alignment': typed(GGUFValueType.UINT32, 64) } }));
    a.writeUInt32LE(48, a.indexOf('general.alignment', 0, 'latin1') + 'general.alignment'.length + 4);
    expectBad(a, /general\.alignment 48 is not a power of two/);
    const w = fileOf(tinyModel({ metadata: { 'general.alignment': typed(GGUFValueType.INT32, 32) } }));
    expectBad(w, /general\.alignment must be a u32/);
    const file = fileOf(tinyModel());
    const nameAt = file.indexOf('tensor_b', 0, 'latin1') + 7; // last byte of the name
    // tensor "tensor_b": name, n_dims (2), dims (2 × u64), type, offset
    const offAt = nameAt + 1 + 4 + 16 + 4;
    expect(file.readBigUInt64LE(offAt)).toBe(32n);
    const u = Buffer.from(file);
    u.writeBigUInt64LE(33n, offAt);
    expectBad(u, /tensor "tensor_b": data offset 33 is not a multiple of the alignment 32/);
    const o = Buffer.from(file);
    o.writeBigUInt64LE(0n, offAt);
    expectBad(o, /tensors "tensor_a" and "tensor_b" overlap/);
    const r = Buffer.from(file);
    r.writeBigUInt64LE(BigInt(r.length), offAt);
    expectBad(r, /tensor "tensor_b": data .* is outside the file/);
    const big = Buffer.from(file);
    big.writeBigUInt64LE(1n << 63n, offAt);
    expectBad(big, /tensor "tensor_b": data offset 9223372036854775808 is past the end of the file/);
  });

  it('tensor types and shapes', () => {
    const file = fileOf(tinyModel());
    const nameAt = file.indexOf('tensor_b', 0, 'latin1') + 7; // last byte of the name
    const typeAt = nameAt + 1 + 4 + 16;
    const t = Buffer.from(file);
    t.writeUInt32LE(16, typeAt);
    expectBad(t, /tensor "tensor_b": unsupported tensor type type 16 \(IQ2_XXS\)/, UnsupportedError);
    t.writeUInt32LE(1000, typeAt);
    expectBad(t, /unsupported tensor type type 1000/, UnsupportedError);
    const s = Buffer.from(file);
    s.writeBigUInt64LE(33n, nameAt + 1 + 4);
    expectBad(s, /tensor "tensor_b": row length 33 is not a multiple of the Q8_0 block size 32/);
    const d = Buffer.from(file);
    d.writeUInt32LE(5, nameAt + 1);
    expectBad(d, /tensor "tensor_b": 5 dimensions/);
    const huge = Buffer.from(file);
    huge.writeBigUInt64LE(1n << 40n, nameAt + 1 + 4 + 8);
    expectBad(huge, /tensor "tensor_b": shape \[32, 1099511627776\] Q8_0 needs .* bytes, more than the file/);
    const huge2 = Buffer.from(file);
    huge2.writeBigUInt64LE(1n << 62n, nameAt + 1 + 4 + 8);
    expectBad(huge2, /tensor "tensor_b": dimension 1 = 4611686018427387904 is too large/);
  });

  it('deeply nested arrays are refused', () => {
    let v: unknown = ['x'];
    for (let i = 0; i < 12; i++) v = [v];
    const { header } = encodeGGUFHeader({ metadata: { deep: v as string[] }, tensors: [] });
    expectBad(header, /nested deeper than 8 levels/);
  });

  it('the header size cap protects memory', () => {
    const { header } = encodeGGUFHeader({ metadata: { s: 'x'.repeat(5000) }, tensors: [] });
    const e = (() => {
      try {
        parseGGUFBuffer(header, header.length, { maxHeaderBytes: 1024 });
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(BadModelError);
    expect((e as Error).message).toMatch(/header larger than 1024 bytes/);
  });
});
