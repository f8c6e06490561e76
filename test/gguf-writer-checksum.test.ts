import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { verifySha256 } from '../lib/checksum';
import { AbortError, ChecksumError, InvalidArgumentError } from '../lib/errors';
import { readGGUF, readGGUFSync } from '../lib/gguf/reader';
import { GGUFValueType } from '../lib/gguf/types';
import { typed, writeGGUF, writeGGUFSync } from '../lib/gguf/writer';
import { DType } from '../lib/native';

const FIX = path.join(__dirname, 'fixtures');
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-w-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('writeGGUF', () => {
  const files = [
    ...fs
      .readdirSync(path.join(FIX, 'models'))
      .filter((f) => f.endsWith('.gguf'))
      .map((f) => path.join(FIX, 'models', f)),
    ...fs
      .readdirSync(path.join(FIX, 'random'))
      .filter((f) => f.endsWith('.gguf'))
      .map((f) => path.join(FIX, 'random', f)),
  ];
  it.each(files.map((f) => [path.basename(f), f]))('rewrites %s byte for byte', async (_n, file) => {
    const g = await readGGUF(file);
    const buf = fs.readFileSync(file);
    const out = path.join(dir, 'rt.gguf');
    await writeGGUF(out, {
      metadata: g.metadata,
      types: g.metadataTypes,
      tensors: g.tensors.map((t) => ({ ...t, data: () => buf.subarray(t.offset, t.offset + t.bytes) })),
    });
    expect(Buffer.compare(fs.readFileSync(out), buf)).toBe(0);
  });

  it('writes a model a test can build, readable back', () => {
    const out = path.join(dir, 'built.gguf');
    writeGGUFSync(out, {
      metadata: {
        'general.architecture': 'llama',
        'general.alignment': typed(GGUFValueType.UINT32, 64),
        'llama.rope.freq_base': typed(GGUFValueType.FLOAT32, 10000),
        list: [new Float32Array([1]), ['a']],
      },
      tensors: [
        { name: 'w', type: DType.Q8_0, shape: [32, 3], data: new Uint8Array(102).fill(1) },
        { name: 'n', type: DType.F32, shape: [5], data: new Uint8Array(20).fill(2) },
      ],
    });
    const g = readGGUFSync(out);
    expect(g.alignment).toBe(64);
    expect(g.metadataTypes['llama.rope.freq_base']).toBe(GGUFValueType.FLOAT32);
    expect(g.tensors.map((t) => [t.name, t.offset - g.dataOffset, t.bytes])).toEqual([
      ['w', 0, 102],
      ['n', 128, 20],
    ]);
    expect(g.metadata.list).toEqual([new Float32Array([1]), ['a']]);
  });

  it('refuses untyped numbers, wrong data sizes and bad shapes, leaving no file', async () => {
    const out = path.join(dir, 'bad.gguf');
    await expect(writeGGUF(out, { metadata: { n: 3 }, tensors: [] })).rejects.toThrow(/numbers need a value type/);
    await expect(
      writeGGUF(out, { metadata: {}, tensors: [{ name: 'x', type: DType.F32, shape: [4], data: new Uint8Array(15) }] }),
    ).rejects.toThrow(/needs 16/);
    await expect(
      writeGGUF(out, {
        metadata: {},
        tensors: [{ name: 'x', type: DType.Q4_0, shape: [20], data: new Uint8Array(0) }],
      }),
    ).rejects.toThrow(InvalidArgumentError);
    await expect(writeGGUF(out, { metadata: { u: typed(GGUFValueType.UINT8, 300) }, tensors: [] })).rejects.toThrow(
      /does not fit/,
    );
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('bad.gguf'))).toEqual([]);
  });
});

describe('verifySha256', () => {
  const file = path.join(FIX, 'models', 'stories260K.gguf');
  const sum = '270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d';
  it('accepts the right checksum in any case', async () => {
    await verifySha256(file, sum);
    await verifySha256(file, sum.toUpperCase());
  });
  it('rejects a mismatch with ERR_CHECKSUM and malformed hex with ERR_INVALID_ARG', async () => {
    await expect(verifySha256(file, sum.replace(/^2/, '3'))).rejects.toBeInstanceOf(ChecksumError);
    await expect(verifySha256(file, 'abc')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(verifySha256(file, `${sum.slice(0, 63)}g`)).rejects.toBeInstanceOf(InvalidArgumentError);
  });
  it('honours an abort signal', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(verifySha256(file, sum, ac.signal)).rejects.toBeInstanceOf(AbortError);
  });
});
