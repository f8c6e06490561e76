import * as fs from 'node:fs';
import * as path from 'node:path';
import { readGGUF, readGGUFSync, parseGGUFBuffer } from '../lib/gguf/reader';
import { GGML_TYPES, GGUFValueType } from '../lib/gguf/types';
import { encodeGGUFHeader, typed } from '../lib/gguf/writer';
import { DType } from '../lib/native';

const FIX = path.join(__dirname, 'fixtures');
const ggufs = (dir: string): string[] =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => f.endsWith('.gguf'))
        .map((f) => path.join(dir, f))
    : [];
const MODELS = [...ggufs(path.join(FIX, 'models')), ...ggufs(path.join(FIX, 'random'))];
// Vocab-only GGUFs are copied by the tokenizer tests; parse them too when present.
const VOCABS = ggufs(path.join(FIX, 'tokenizer', 'vocab'));

describe('readGGUF on every fixture', () => {
  it('finds the fixtures', () => {
    expect(MODELS.length).toBeGreaterThanOrEqual(10);
  });

  it.each([...MODELS, ...VOCABS].map((f) => [path.basename(f), f]))('%s: header is consistent', async (_n, file) => {
    const g = await readGGUF(file);
    expect(g.version).toBe(3);
    expect(g.fileSize).toBe(fs.statSync(file).size);
    expect(g.alignment).toBe(32);
    // Vocab-only files may end without the final padding (dataOffset is then the file size).
    if (g.tensors.length > 0) expect(g.dataOffset % 32).toBe(0);
    expect(typeof g.metadata['general.architecture']).toBe('string');
    // Tensors are aligned, inside the file, in order and without overlap.
    let end = g.dataOffset;
    for (const t of [...g.tensors].sort((a, b) => a.offset - b.offset)) {
      const tr = GGML_TYPES.get(t.type)!;
      expect(tr).toBeDefined();
      expect((t.offset - g.dataOffset) % 32).toBe(0);
      expect(t.offset).toBeGreaterThanOrEqual(end);
      expect(t.bytes).toBe((t.shape.reduce((a, b) => a * b, 1) / tr.blockSize) * tr.typeSize);
      end = t.offset + t.bytes;
    }
    expect(end).toBeLessThanOrEqual(g.fileSize);
    // The sync reader gives the same answer.
    const s = readGGUFSync(file);
    expect(s.tensors).toEqual(g.tensors);
    expect(Object.keys(s.metadata)).toEqual(Object.keys(g.metadata));
  });
});

describe('fixture tables', () => {
  it('stories260K: dim 64, 5 layers, 8 heads, 4 kv heads, vocab 512, F32', async () => {
    const g = await readGGUF(path.join(FIX, 'models', 'stories260K.gguf'));
    const m = g.metadata;
    expect(m['general.architecture']).toBe('llama');
    expect(m['llama.embedding_length']).toBe(64);
    expect(m['llama.block_count']).toBe(5);
    expect(m['llama.attention.head_count']).toBe(8);
    expect(m['llama.attention.head_count_kv']).toBe(4);
    expect(m['llama.feed_forward_length']).toBe(172);
    expect(m['llama.attention.layer_norm_rms_epsilon']).toBeCloseTo(1e-5, 10);
    expect(g.metadataTypes['llama.attention.layer_norm_rms_epsilon']).toBe(GGUFValueType.FLOAT32);
    const tokens = m['tokenizer.ggml.tokens'] as string[];
    expect(tokens).toHaveLength(512);
    expect(tokens.slice(0, 4)).toEqual(['<unk>', '<s>', '</s>', '<0x00>']);
    expect(m['tokenizer.ggml.scores']).toBeInstanceOf(Float32Array);
    expect(m['tokenizer.ggml.token_type']).toBeInstanceOf(Int32Array);
    expect(m['tokenizer.ggml.model']).toBe('llama');
    expect(g.tensors).toHaveLength(3 + 5 * 9);
    expect(g.tensors.every((t) => t.type === DType.F32)).toBe(true);
    const byName = new Map(g.tensors.map((t) => [t.name, t]));
    expect(byName.get('token_embd.weight')!.shape).toEqual([64, 512]);
    expect(byName.get('blk.0.attn_k.weight')!.shape).toEqual([64, 32]);
    expect(byName.get('blk.4.ffn_down.weight')!.shape).toEqual([172, 64]);
    expect(byName.get('token_embd.weight')!.offset).toBe(g.dataOffset);
  });

  it('gutenberg-16m-q8_0: llama, Q8_0 weights, F32 norms, tied, gpt2 tokenizer', async () => {
    const g = await readGGUF(path.join(FIX, 'models', 'gutenberg-16m-q8_0.gguf'));
    const m = g.metadata;
    expect(m['llama.embedding_length']).toBe(384);
    expect(m['llama.block_count']).toBe(8);
    expect(m['llama.attention.head_count_kv']).toBe(2);
    expect(m['tokenizer.ggml.model']).toBe('gpt2');
    expect(m['tokenizer.ggml.pre']).toBe('gpt-2');
    expect(m['tokenizer.ggml.add_bos_token']).toBe(true);
    expect((m['tokenizer.ggml.tokens'] as string[])[0]).toBe('<|endoftext|>');
    expect((m['tokenizer.ggml.merges'] as string[])[0]).toBe('Ġ t');
    expect(g.tensors).toHaveLength(2 + 8 * 9);
    for (const t of g.tensors) expect(t.type).toBe(t.shape.length === 1 ? DType.F32 : DType.Q8_0);
    expect(g.tensors.find((t) => t.name === 'output.weight')).toBeUndefined();
  });

  it.each([
    ['tiny-llama-f32.gguf', DType.F32],
    ['tiny-llama-f16.gguf', DType.F16],
    ['tiny-llama-q8_0.gguf', DType.Q8_0],
    ['tiny-llama-q4_0.gguf', DType.Q4_0],
    ['tiny-llama-q4_k.gguf', DType.Q4_K],
    ['tiny-llama-q6_k.gguf', DType.Q6_K],
  ])('%s holds %i weights', (file, type) => {
    const g = readGGUFSync(path.join(FIX, 'random', file));
    expect(g.metadata['llama.embedding_length']).toBe(256);
    const q = g.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!;
    expect(q.shape).toEqual([256, 256]);
    expect(q.type).toBe(type);
  });

  it('qwen2 has q/k/v biases, qwen3 q/k norms', () => {
    const q2 = readGGUFSync(path.join(FIX, 'random', 'tiny-qwen2-q8_0.gguf'));
    expect(q2.metadata['general.architecture']).toBe('qwen2');
    expect(q2.tensors.find((t) => t.name === 'blk.1.attn_k.bias')!.shape).toEqual([128]);
    const q3 = readGGUFSync(path.join(FIX, 'random', 'tiny-qwen3-f16.gguf'));
    expect(q3.metadata['general.architecture']).toBe('qwen3');
    expect(q3.tensors.find((t) => t.name === 'blk.0.attn_q_norm.weight')!.shape).toEqual([64]);
  });
});

describe('value types', () => {
  it('decodes every scalar and array type, nested arrays and UTF-8', () => {
    const { header } = encodeGGUFHeader({
      metadata: {
        u8: typed(GGUFValueType.UINT8, 255),
        i8: typed(GGUFValueType.INT8, -128),
        u16: typed(GGUFValueType.UINT16, 65535),
        i16: typed(GGUFValueType.INT16, -32768),
        u32: typed(GGUFValueType.UINT32, 4294967295),
        i32: typed(GGUFValueType.INT32, -2147483648),
        f32: typed(GGUFValueType.FLOAT32, 0.5),
        f64: typed(GGUFValueType.FLOAT64, Math.PI),
        u64: 18446744073709551615n,
        i64: -9223372036854775808n,
        t: true,
        f: false,
        s: 'héllo ✓ 𝄞',
        au8: new Uint8Array([1, 2]),
        ai8: new Int8Array([-1]),
        au16: new Uint16Array([7]),
        ai16: new Int16Array([-7]),
        au32: new Uint32Array([9]),
        ai32: new Int32Array([-9]),
        af32: new Float32Array([1.5]),
        af64: new Float64Array([2.5]),
        au64: new BigUint64Array([1n << 63n]),
        ai64: new BigInt64Array([-1n]),
        abool: [true, false, true],
        astr: ['a', 'é', '', 'x'.repeat(300), '𝄞'],
        nested: [new Int32Array([1, 2]), new Int32Array([]), ['x']],
        deep: [[[new Uint8Array([3])]]],
      },
      tensors: [],
    });
    const g = parseGGUFBuffer(header);
    const m = g.metadata;
    expect([m.u8, m.i8, m.u16, m.i16, m.u32, m.i32, m.f32, m.f64]).toEqual([
      255,
      -128,
      65535,
      -32768,
      4294967295,
      -2147483648,
      0.5,
      Math.PI,
    ]);
    expect(m.u64).toBe(18446744073709551615n);
    expect(m.i64).toBe(-9223372036854775808n);
    expect([m.t, m.f, m.s]).toEqual([true, false, 'héllo ✓ 𝄞']);
    expect(m.au8).toEqual(new Uint8Array([1, 2]));
    expect(m.ai8).toEqual(new Int8Array([-1]));
    expect(m.au16).toEqual(new Uint16Array([7]));
    expect(m.ai16).toEqual(new Int16Array([-7]));
    expect(m.au32).toEqual(new Uint32Array([9]));
    expect(m.ai32).toEqual(new Int32Array([-9]));
    expect(m.af32).toEqual(new Float32Array([1.5]));
    expect(m.af64).toEqual(new Float64Array([2.5]));
    expect(m.au64).toEqual(new BigUint64Array([1n << 63n]));
    expect(m.ai64).toEqual(new BigInt64Array([-1n]));
    expect(m.abool).toEqual([true, false, true]);
    expect(m.astr).toEqual(['a', 'é', '', 'x'.repeat(300), '𝄞']);
    expect(m.nested).toEqual([new Int32Array([1, 2]), new Int32Array([]), ['x']]);
    expect(m.deep).toEqual([[[new Uint8Array([3])]]]);
    expect(g.metadataTypes.f32).toBe(GGUFValueType.FLOAT32);
    expect(g.metadataTypes.nested).toBe(GGUFValueType.ARRAY);
  });

  it('decodes invalid UTF-8 in values as U+FFFD (keys must be valid)', () => {
    const { header } = encodeGGUFHeader({ metadata: { s: 'ab', arr: ['ok', 'cd'] }, tensors: [] });
    const buf = Buffer.from(header);
    const at = buf.indexOf('ab', 0, 'latin1');
    buf[at] = 0xff;
    const at2 = buf.indexOf('cd', 0, 'latin1');
    buf[at2] = 0xc3; // truncated 2-byte sequence
    const m = parseGGUFBuffer(buf).metadata;
    expect(m.s).toBe('\ufffdb');
    expect(m.arr).toEqual(['ok', '\ufffdd']);
  });

  it('reads a 150k-entry string array (speed: npm run bench:tokenizer measures vocab loads)', () => {
    const tokens = Array.from({ length: 150_000 }, (_, i) =>
      i % 3 === 0 ? `Ġtok${i}` : i % 3 === 1 ? `w${i}` : `日本${i}`,
    );
    const { header } = encodeGGUFHeader({ metadata: { 'tokenizer.ggml.tokens': tokens }, tensors: [] });
    parseGGUFBuffer(header); // warm up
    const t0 = performance.now();
    const g = parseGGUFBuffer(header);
    const ms = performance.now() - t0;
    expect(g.metadata['tokenizer.ggml.tokens']).toEqual(tokens);
    // A hang guard only: timed unit tests are noise on a shared machine.
    expect(ms).toBeLessThan(5000);
  });

  it('reads the header in chunks, not the whole file', async () => {
    const file = path.join(FIX, 'models', 'gutenberg-16m-q8_0.gguf');
    const spy = jest.spyOn(fs.promises, 'open');
    let read = 0;
    try {
      const real = spy.getMockImplementation() ?? fs.promises.open;
      spy.mockRestore();
      const fh = await real(file, 'r');
      const origRead = fh.read.bind(fh);
      (fh as unknown as { read: unknown }).read = async (...args: Parameters<typeof fh.read>) => {
        const r = await (origRead as (...a: unknown[]) => Promise<{ bytesRead: number }>)(...args);
        read += r.bytesRead;
        return r;
      };
      jest.spyOn(fs.promises, 'open').mockResolvedValueOnce(fh);
      const g = await readGGUF(file);
      expect(g.tensors).toHaveLength(74);
    } finally {
      jest.restoreAllMocks();
    }
    expect(read).toBeGreaterThan(0);
    expect(read).toBeLessThan(2 * 1024 * 1024); // header is 273 KB; the file 17 MB
  });
});
