/**
 * Issue 11, arguments: token array-likes with bad lengths (item 13), the
 * kernel API's argument checks — null data, SharedArrayBuffer views, detached
 * buffers, claimed sizes far beyond the data (item 14) — and errors that used
 * to escape as raw TypeErrors. Every failure is a MiniMacLLMError with a code.
 */
import { Backend } from '../lib/backend';
import { MiniMacLLMError } from '../lib/errors';
import { loadModel, type Model } from '../lib/model/model';
import { native } from '../lib/native';
import * as ops from '../lib/ops';
import { fixture } from './helpers/model-refs';

let model: Model;
beforeAll(async () => {
  model = await loadModel(fixture('models', 'stories260K.gguf'), { backend: 'cpu', threads: 1, contextSize: 64 });
});
afterAll(() => model.dispose());

/** `code: message` of what `fn` throws or rejects with (a MiniMacLLMError), or 'no error'. */
async function failure(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof MiniMacLLMError)) return `raw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`;
    return `${e.code}: ${e.message}`;
  }
  return 'no error';
}

/** A Float32Array whose ArrayBuffer has been transferred away. */
function detachedF32(n: number): Float32Array {
  const a = new Float32Array(n);
  structuredClone(a.buffer, { transfer: [a.buffer] });
  return a;
}

function shared<T extends Float32Array | Uint8Array | Int32Array>(a: T): T {
  const sab = new SharedArrayBuffer(a.byteLength);
  const c = new (a.constructor as new (b: SharedArrayBuffer) => T)(sab);
  c.set(a);
  return c;
}

describe('13: token array-likes with a bad length are ERR_INVALID_ARG', () => {
  const bad: Array<[string, ArrayLike<number>]> = [
    ['-1', { length: -1 }],
    ['NaN', { length: NaN }],
    ['2^32', { length: 2 ** 32 }],
    ['1.5', { length: 1.5, 0: 1 }],
    ['a string', { length: '3' } as unknown as ArrayLike<number>],
  ];
  test.each(bad)('length %s: evaluate() rejects instead of returning stale logits', async (_, tokens) => {
    await model.createContext({ contextSize: 16 }).evaluate([1, 2, 3]);
    expect(await failure(() => model.createContext({ contextSize: 16 }).evaluate(tokens))).toMatch(
      /^ERR_INVALID_ARG: tokens/,
    );
  });
  test.each(bad)('length %s: generate() rejects instead of running without a prompt', async (_, tokens) => {
    expect(await failure(() => model.generate(tokens, { maxTokens: 2 }))).toMatch(/^ERR_INVALID_ARG: tokens/);
  });
  test('holes and non-numbers in an array-like are named', async () => {
    expect(await failure(() => model.generate({ length: 2, 0: 1 }, { maxTokens: 1 }))).toMatch(
      /^ERR_INVALID_ARG: tokens\[1\] = undefined/,
    );
  });
});

describe('14: kernel API arguments', () => {
  const cols = 64;
  const x = new Float32Array(cols).fill(1);
  const wF32 = new Float32Array(2 * cols).map((_, i) => (i % 7) / 7);

  test('matmul with w.data null (or missing) is ERR_INVALID_ARG naming w.data, not zeros', async () => {
    for (const data of [null, undefined, 'abc', [1, 2]]) {
      expect(
        await failure(() => ops.matmul(x, { data: data as unknown as Float32Array, type: 'F32', rows: 2, cols })),
      ).toMatch(/^ERR_INVALID_ARG: w\.data must be a typed array/);
    }
  });

  test('SharedArrayBuffer views work like ordinary ones (ops, quantize, dequantize, upload, graph steps)', () => {
    const want = ops.matmul(x, { data: wF32, type: 'F32', rows: 2, cols });
    expect(ops.matmul(shared(x), { data: shared(wF32), type: 'F32', rows: 2, cols })).toEqual(want);
    const q = ops.quantize('Q8_0', wF32, cols);
    expect(ops.quantize('Q8_0', shared(wF32), cols)).toEqual(q);
    expect(ops.dequantize('Q8_0', shared(q), 2 * cols)).toEqual(ops.dequantize('Q8_0', q, 2 * cols));
    expect(ops.rmsNorm(shared(x), cols)).toEqual(ops.rmsNorm(x, cols));
    expect(ops.getRows({ data: shared(wF32), type: 'F32', rows: 2, cols }, shared(new Int32Array([1])))).toEqual(
      wF32.subarray(cols),
    );
    const be = Backend.create('cpu', { threads: 1 });
    try {
      const buf = be.allocate(cols * 4);
      be.upload(buf, 0, shared(x));
      const back = shared(new Float32Array(cols));
      be.download(buf, 0, back);
      expect(back).toEqual(x);
    } finally {
      void be.dispose();
    }
  });

  test('detached buffers are ERR_INVALID_ARG naming the argument, in TS and natively', async () => {
    expect(await failure(() => ops.matmul(detachedF32(cols), { data: wF32, type: 'F32', rows: 2, cols }))).toMatch(
      /^ERR_INVALID_ARG: x is a view of a detached ArrayBuffer/,
    );
    expect(await failure(() => ops.matmul(x, { data: detachedF32(2 * cols), type: 'F32', rows: 2, cols }))).toMatch(
      /^ERR_INVALID_ARG: w\.data is a view of a detached ArrayBuffer/,
    );
    expect(await failure(() => ops.rmsNorm(x, cols, { weight: detachedF32(cols) }))).toMatch(
      /^ERR_INVALID_ARG: weight is a view of a detached ArrayBuffer/,
    );
    expect(await failure(() => ops.quantize('Q8_0', detachedF32(cols), cols))).toMatch(/^ERR_INVALID_ARG: data/);
    expect(() => native().quantize(8, detachedF32(cols), cols)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG', message: 'src is a view of a detached ArrayBuffer' }),
    );
    const bytes = new Uint8Array(34);
    structuredClone(bytes.buffer, { transfer: [bytes.buffer] });
    expect(() => native().dequantize(8, bytes, 32)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG' }));
    const be = native().createBackend('cpu', { threads: 1 });
    try {
      const buf = be.allocate(256);
      expect(() => be.upload(buf, 0, detachedF32(4))).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG', message: 'data is a view of a detached ArrayBuffer' }),
      );
    } finally {
      void be.dispose();
    }
  });

  test('claimed rows of 2^31 with a small buffer fail before anything is allocated', async () => {
    const t0 = performance.now();
    expect(await failure(() => ops.matmul(x, { data: wF32, type: 'F32', rows: 2 ** 31, cols }))).toMatch(
      /^ERR_INVALID_ARG: w\.data has 512 bytes, 2147483648 rows of 64 f32 elements need/i,
    );
    expect(await failure(() => ops.matmul(x, { data: wF32, type: 'Q4_0', rows: 2 ** 40, cols: 2 ** 20 }))).toMatch(
      /^ERR_INVALID_ARG: .*more than/,
    );
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});

describe('unclear errors become coded errors', () => {
  const f = new Float32Array(64).fill(1);
  test.each([
    ['rmsNorm eps Symbol', () => ops.rmsNorm(f, 64, { eps: Symbol('eps') as unknown as number })],
    ['rmsNorm options null', () => ops.rmsNorm(f, 64, null as never)],
    ['matmul options null', () => ops.matmul(f, { data: f, type: 'F32', rows: 1, cols: 64 }, null as never)],
    ['matmul w null', () => ops.matmul(f, null as never)],
    ['softmax scale bigint', () => ops.softmax(f, 64, { scale: 2n as never })],
    ['softmax causal string', () => ops.softmax(f, 64, { causal: 'yes' as never })],
    ['rope options null', () => ops.rope(f, new Int32Array(1), null as never)],
    ['attention options undefined', () => ops.attention(f, f, f, undefined as never)],
    ['storeRows cache null', () => ops.storeRows(f, null as never, 0)],
    ['typeInfo Symbol', () => ops.typeInfo(Symbol('t') as never)],
    ['typeInfo "constructor"', () => ops.typeInfo('constructor' as never)],
    ['matrixBytes NaN rows', () => ops.matrixBytes('F32', NaN, 4)],
    ['renderChat options null', () => model.renderChat([{ role: 'user', content: 'x' }], null as never)],
    ['chatTokens options null', () => model.chatTokens([{ role: 'user', content: 'x' }], null as never)],
    ['createContext null', () => model.createContext(null as never)],
    ['evaluate options null', () => model.createContext({ contextSize: 4 }).evaluate([1], null as never)],
  ])('%s', async (_, fn) => {
    expect(await failure(fn)).toMatch(/^ERR_INVALID_ARG: /);
  });
});
