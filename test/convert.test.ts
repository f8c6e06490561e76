import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { main } from '../lib/cli/main';
import { readGGUFSync } from '../lib/gguf/reader';
import { convert, permuteRows } from '../lib/convert';
import { describeModel } from '../lib/model/description';
import { DType, native } from '../lib/native';

const FIX = path.join(__dirname, 'fixtures', 'models');
const HF = path.join(FIX, 'gutenberg-16m-hf');
const REF = path.join(FIX, 'gutenberg-16m-q8_0.gguf');
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-convert-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function tensorData(file: string, t: { offset: number; bytes: number }): Uint8Array {
  const fd = fs.openSync(file, 'r');
  try {
    const b = new Uint8Array(t.bytes);
    fs.readSync(fd, b, 0, t.bytes, t.offset);
    return b;
  } finally {
    fs.closeSync(fd);
  }
}

/** f16 scale of each Q8_0/Q4_0 block, via the native f16 decoder. */
function blockScales(raw: Uint8Array, typeSize: number): Float32Array {
  const n = raw.length / typeSize;
  const d = new Uint8Array(n * 2);
  for (let i = 0; i < n; i++) d.set(raw.subarray(i * typeSize, i * typeSize + 2), i * 2);
  return native().dequantize(DType.F16, d, n);
}

describe('permuteRows', () => {
  it('moves HF rotate-half rows to GGUF adjacent pairs, per head', () => {
    // 2 heads × 4 rows, 1 byte per row: head rows [a0 a1 b0 b1] → [a0 b0 a1 b1]
    const src = new Uint8Array([0, 1, 2, 3, 10, 11, 12, 13]);
    expect(Array.from(permuteRows(src, 8, 2))).toEqual([0, 2, 1, 3, 10, 12, 11, 13]);
  });
});

describe('convert gutenberg-16m-hf', () => {
  it('to Q8_0 equals gutenberg-16m-q8_0.gguf within one quantization step', async () => {
    const out = path.join(dir, 'g-q8_0.gguf');
    await convert(HF, out, { type: 'q8_0' });
    const a = readGGUFSync(out);
    const b = readGGUFSync(REF);
    // Same metadata (keys, order, types, values) except the name.
    expect(Object.keys(a.metadata)).toEqual(Object.keys(b.metadata));
    for (const k of Object.keys(b.metadata)) {
      if (k === 'general.name') continue;
      expect([k, a.metadataTypes[k]]).toEqual([k, b.metadataTypes[k]]);
      // isDeepStrictEqual: jest's toEqual is slow on 8k-entry vocabularies
      expect([k, isDeepStrictEqual(a.metadata[k], b.metadata[k])]).toEqual([k, true]);
    }
    expect(a.tensors.map((t) => [t.name, t.type, t.shape])).toEqual(b.tensors.map((t) => [t.name, t.type, t.shape]));
    expect(a.fileSize).toBe(b.fileSize);
    let worst = 0;
    for (let i = 0; i < a.tensors.length; i++) {
      const ta = a.tensors[i]!;
      const tb = b.tensors[i]!;
      const ra = tensorData(out, ta);
      const rb = tensorData(REF, tb);
      const n = ta.shape.reduce((x, y) => x * y, 1);
      const fa = native().dequantize(ta.type, ra, n);
      const fb = native().dequantize(tb.type, rb, n);
      if (ta.type === DType.F32) {
        expect(fa).toEqual(fb);
        continue;
      }
      const da = blockScales(ra, 34);
      const db = blockScales(rb, 34);
      // No Math.* in hot loops: under jest's vm context each call is ~300 ns.
      for (let j = 0; j < n; j++) {
        const sa = da[j >> 5]!;
        const sb = db[j >> 5]!;
        const diff = fa[j]! - fb[j]!;
        const r = (diff < 0 ? -diff : diff) / (sa > sb ? sa : sb);
        if (r > worst) worst = r;
      }
    }
    expect(worst).toBeLessThanOrEqual(1.001);
  });

  it('to F16 keeps the fp16 weights exactly (Q/K rows permuted)', async () => {
    const out = path.join(dir, 'g-f16.gguf');
    await convert(HF, out, { type: 'f16' });
    const g = readGGUFSync(out);
    const hf = await describeModel(HF);
    expect(g.metadata['general.file_type']).toBe(1);
    for (const t of g.tensors) {
      const src = hf.tensors.get(t.name)!;
      const raw = tensorData(src.file, src);
      const got = tensorData(out, t);
      if (t.shape.length === 1) {
        expect(native().dequantize(DType.F32, got, t.shape[0]!)).toEqual(
          native().dequantize(DType.F16, raw, t.shape[0]!),
        );
      } else if (/attn_[qk]\.weight$/.test(t.name)) {
        const heads = t.name.includes('attn_q') ? 6 : 2;
        expect(Buffer.compare(got, permuteRows(raw, t.shape[1]!, heads))).toBe(0);
      } else {
        expect(Buffer.compare(got, raw)).toBe(0);
      }
    }
    // And it describes like the original, with GGUF's llama rope layout.
    const d = await describeModel(out);
    expect(d.hparams).toEqual({ ...hf.hparams, ropeMode: 'normal', rmsEps: Math.fround(1e-5) });
  });

  it('to Q4_0 stays within one Q4_0 step of the fp16 weights', async () => {
    const out = path.join(dir, 'g-q4_0.gguf');
    await convert(HF, out, { type: 'q4_0' });
    const g = readGGUFSync(out);
    const f16 = readGGUFSync(path.join(dir, 'g-f16.gguf'));
    const t = g.tensors.find((x) => x.name === 'blk.3.ffn_down.weight')!;
    expect(t.type).toBe(DType.Q4_0);
    const s = f16.tensors.find((x) => x.name === t.name)!;
    const n = t.shape.reduce((x, y) => x * y, 1);
    const raw = tensorData(out, t);
    const q = native().dequantize(DType.Q4_0, raw, n);
    const ref = native().dequantize(DType.F16, tensorData(path.join(dir, 'g-f16.gguf'), s), n);
    const d = blockScales(raw, 18);
    let worst = 0;
    for (let j = 0; j < n; j++) {
      const diff = q[j]! - ref[j]!;
      const step = d[j >> 5]!;
      const r = (diff < 0 ? -diff : diff) / (step < 0 ? -step : step);
      if (r > worst) worst = r;
    }
    expect(worst).toBeLessThanOrEqual(1.001);
  });
});

describe('CLI', () => {
  it('convert and inspect run through the dispatcher', async () => {
    const out = path.join(dir, 'cli.gguf');
    const err = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const log: string[] = [];
    const std = jest.spyOn(process.stdout, 'write').mockImplementation((s) => {
      log.push(String(s));
      return true;
    });
    try {
      expect(await main(['convert', HF, out, '--type', 'q8_0', '--quiet'])).toBe(0);
      expect(await main(['inspect', out])).toBe(0);
      expect(log.join('')).toMatch(/GGUF llama/);
      expect(log.join('')).toMatch(/Q8_0\s+57 tensors/);
      expect(await main(['inspect', path.join(dir, 'missing.gguf')])).toBe(1);
      // Usage errors exit 2 (test/cli-manners.test.ts).
      expect(await main(['convert', HF, out, '--type', 'q5_9'])).toBe(2);
      expect(await main(['nope'])).toBe(2);
    } finally {
      err.mockRestore();
      std.mockRestore();
    }
  });
});
