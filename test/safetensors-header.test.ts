import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BadModelError, IOError, UnsupportedError } from '../lib/errors';
import { parseSafetensorsHeader, readSafetensorsHeader, readSafetensorsHeaderSync } from '../lib/safetensors/header';

const HF = path.join(__dirname, 'fixtures', 'models', 'gutenberg-16m-hf');
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-st-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A safetensors file from a header object and a data size. */
function file(header: unknown, dataBytes: number, pad = true): Buffer {
  let json = Buffer.from(JSON.stringify(header));
  if (pad) json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, Buffer.alloc(dataBytes)]);
}
const ok = {
  __metadata__: { format: 'pt' },
  a: { dtype: 'F16', shape: [2, 3], data_offsets: [0, 12] },
  b: { dtype: 'F32', shape: [4], data_offsets: [12, 28] },
};

function parseBuf(b: Buffer): unknown {
  const n = Number(b.readBigUInt64LE(0));
  return parseSafetensorsHeader('x.safetensors', b.subarray(8, 8 + n), b.length);
}

function write(name: string, b: Buffer): string {
  const f = path.join(dir, name);
  fs.writeFileSync(f, b);
  return f;
}

describe('safetensors headers', () => {
  it('reads the gutenberg shards', async () => {
    const shards = fs.readdirSync(HF).filter((f) => f.endsWith('.safetensors'));
    expect(shards).toHaveLength(3);
    let n = 0;
    for (const s of shards) {
      const h = await readSafetensorsHeader(path.join(HF, s));
      expect(readSafetensorsHeaderSync(path.join(HF, s))).toEqual(h);
      for (const t of h.tensors) {
        expect(t.dtype).toBe('F16');
        expect(t.offset).toBeGreaterThanOrEqual(h.dataOffset);
        expect(t.offset + t.bytes).toBeLessThanOrEqual(h.fileSize);
      }
      n += h.tensors.length;
    }
    expect(n).toBe(74);
  });

  it('parses a well-formed file, metadata included', () => {
    const h = parseBuf(file(ok, 28)) as { tensors: Array<{ name: string; offset: number }>; metadata: unknown };
    expect(h.metadata).toEqual({ format: 'pt' });
    expect(h.tensors.map((t) => t.name)).toEqual(['a', 'b']);
  });

  it.each([
    [
      'shape × dtype ≠ range',
      { a: { dtype: 'F16', shape: [2, 3], data_offsets: [0, 14] } },
      28,
      /shape \[2, 3\] × F16 is 12 bytes, data_offsets span 14/,
    ],
    ['range past the data', { a: { dtype: 'F32', shape: [8], data_offsets: [0, 32] } }, 28, /exceed the data section/],
    [
      'overlap',
      {
        a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] },
        b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] },
      },
      28,
      /overlap/,
    ],
    ['begin > end', { a: { dtype: 'F32', shape: [0], data_offsets: [8, 4] } }, 28, /is not \[begin, end\]/],
    ['negative dim', { a: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }, 28, /non-negative integers/],
    ['float dim', { a: { dtype: 'F32', shape: [1.5], data_offsets: [0, 6] } }, 28, /non-negative integers/],
    ['huge dims', { a: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 28] } }, 28, /data_offsets span/],
    ['not an object', [1, 2], 28, /not a JSON object/],
    ['tensor not an object', { a: 3 }, 28, /is not an object/],
    ['metadata not strings', { __metadata__: { a: 1 } }, 28, /is not a string/],
  ])('%s → ERR_BAD_MODEL', (_n, header, data, re) => {
    expect(() => parseBuf(file(header, data))).toThrow(re);
    expect(() => parseBuf(file(header, data))).toThrow(BadModelError);
  });

  it('unknown dtypes are ERR_UNSUPPORTED', () => {
    expect(() => parseBuf(file({ a: { dtype: 'F4', shape: [2], data_offsets: [0, 1] } }, 8))).toThrow(UnsupportedError);
  });

  it('header length is checked against the file and the cap before reading', async () => {
    const b = file(ok, 28);
    b.writeBigUInt64LE(1n << 60n, 0);
    const f = write('huge.safetensors', b);
    await expect(readSafetensorsHeader(f)).rejects.toThrow(/header length 1152921504606846976 exceeds the file/);
    expect(() => readSafetensorsHeaderSync(f)).toThrow(BadModelError);
    await expect(readSafetensorsHeader(write('tiny.safetensors', Buffer.alloc(5)))).rejects.toThrow(/only 5 bytes/);
    const bad = file(ok, 28);
    bad.write('!', 8);
    await expect(readSafetensorsHeader(write('json.safetensors', bad))).rejects.toThrow(/not valid JSON/);
    await expect(readSafetensorsHeader(path.join(dir, 'nope.safetensors'))).rejects.toBeInstanceOf(IOError);
  });

  it('truncation at every header offset and random flips give only clean errors', () => {
    const b = file(ok, 28);
    const headerEnd = 8 + Number(b.readBigUInt64LE(0));
    for (let n = 0; n < b.length; n++) {
      const cut = b.subarray(0, n);
      const f = write('cut.safetensors', cut);
      try {
        readSafetensorsHeaderSync(f);
        if (n < headerEnd + 28) throw new Error(`truncated at ${n} accepted`);
      } catch (e) {
        if (!(e instanceof BadModelError || e instanceof UnsupportedError)) throw e;
      }
    }
    let seed = 42;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 2000; i++) {
      const c = Buffer.from(b);
      c[Math.floor(rnd() * headerEnd)] = Math.floor(rnd() * 256);
      try {
        parseBuf(c);
      } catch (e) {
        if (!(e instanceof BadModelError || e instanceof UnsupportedError)) throw e;
      }
    }
  });
});
