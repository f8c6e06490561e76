/**
 * The native layer under abuse: wrong types, wrong lengths, mismatched shapes,
 * huge sizes, bad indices, use after dispose. Every case must surface as a JS
 * Error with a stable code; none may crash the process or read out of bounds.
 */
import { Backend } from '../lib/backend';
import { MiniMacLLMError } from '../lib/errors';
import { native, type NativeBackend } from '../lib/native';
import * as ops from '../lib/ops';

const n = native();

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return String((e as { code?: string }).code);
  }
  return 'no error';
}

describe('module functions', () => {
  test('quantize / dequantize argument checks', () => {
    const f = new Float32Array(64);
    expect(code(() => n.quantize(8, f, 33))).toBe('ERR_INVALID_ARG'); // not a block multiple
    expect(code(() => n.quantize(8, f, 0))).toBe('ERR_INVALID_ARG');
    expect(code(() => n.quantize(8, new Float32Array(48), 32))).toBe('ERR_INVALID_ARG'); // 48 % 32
    expect(code(() => n.quantize(8, new Uint8Array(64) as unknown as Float32Array, 32))).toBe('ERR_INVALID_ARG');
    expect(code(() => n.quantize(12, f, 256))).toBe('ERR_UNSUPPORTED'); // no q4_K quantizer
    expect(code(() => n.quantize(999, f, 32))).toBe('ERR_UNSUPPORTED');
    expect(code(() => n.quantize(-1 as number, f, 32))).toBe('ERR_INVALID_ARG');
    expect(code(() => n.quantize(8, f, 2 ** 60))).toBe('ERR_INVALID_ARG');
    expect(code(() => n.quantize(8, f, 1.5))).toBe('ERR_INVALID_ARG');
    expect(code(() => n.dequantize(8, new Uint8Array(33), 32))).toBe('ERR_INVALID_ARG'); // 34 bytes needed
    expect(code(() => n.dequantize(8, new Uint8Array(34), 2 ** 40))).toBe('ERR_INVALID_ARG');
    expect(code(() => n.dequantize(2, 'abc' as unknown as Uint8Array, 32))).toBe('ERR_INVALID_ARG');
    expect(code(() => n.typeInfo('x' as unknown as number))).toBe('ERR_INVALID_ARG');
    expect(n.typeInfo(17)).toBeNull();
  });

  test('mapFile errors', () => {
    expect(code(() => n.mapFile('/nonexistent/model.gguf'))).toBe('ERR_IO');
    expect(code(() => n.mapFile('/tmp'))).toBe('ERR_IO');
    expect(code(() => n.mapFile(42 as unknown as string))).toBe('ERR_INVALID_ARG');
  });

  test('createBackend errors', () => {
    expect(code(() => n.createBackend('gpu9000', {}))).toBe('ERR_UNSUPPORTED');
    expect(code(() => n.createBackend('cpu', { threads: -1 }))).toBe('ERR_INVALID_ARG');
    expect(code(() => n.createBackend('cpu', { threads: 1e9 }))).toBe('ERR_INVALID_ARG');
    expect(code(() => Backend.create('nope' as 'cpu'))).toBe('ERR_INVALID_ARG');
  });
});

describe('backend and graph', () => {
  let be: NativeBackend;
  // get_rows over `table` ([10, 4] f32): tensor 1 the ids (i32, a row per token), tensor 2 the rows out; up to 8 tokens.
  const getRowsGraph = (table: ReturnType<NativeBackend['allocate']>) =>
    be.createGraph({
      tensors: [
        { buffer: table, offset: 0, type: 0, cols: 4, rows: 10 },
        { buffer: be.allocate(4 * 8), offset: 0, type: 26, cols: 1, rows: 0, rowsPerToken: 1 },
        { buffer: be.allocate(4 * 4 * 8), offset: 0, type: 0, cols: 4, rows: 0, rowsPerToken: 1 },
      ],
      nodes: [{ op: 'get_rows', src: [0, 1], dst: 2 }],
      maxTokens: 8,
    });
  beforeEach(() => {
    be = n.createBackend('cpu', { threads: 2 });
  });
  afterEach(() => be.dispose());

  test('allocate, upload and download bounds', () => {
    expect(code(() => be.allocate(0))).toBe('ERR_INVALID_ARG');
    expect(code(() => be.allocate(-5))).toBe('ERR_INVALID_ARG');
    expect(code(() => be.allocate(2 ** 52))).toBe('ERR_OUT_OF_MEMORY');
    const b = be.allocate(16);
    expect(code(() => be.upload(b, 8, new Float32Array(4)))).toBe('ERR_INVALID_ARG'); // 8 + 16 > 16
    expect(code(() => be.upload(b, 2 ** 50, new Uint8Array(1)))).toBe('ERR_INVALID_ARG');
    expect(code(() => be.download(b, 12, new Uint8Array(8)))).toBe('ERR_INVALID_ARG');
    expect(code(() => be.upload({} as never, 0, new Uint8Array(1)))).toBe('ERR_INVALID_ARG');
    expect(code(() => be.upload(b, 0, [1, 2] as unknown as Uint8Array))).toBe('ERR_INVALID_ARG');
  });

  test('graph specs with bad shapes and indices are rejected at creation', () => {
    const b = be.allocate(1024);
    const t = (cols: number, rows: number, extra: object = {}): object => ({
      buffer: b,
      offset: 0,
      type: 0,
      cols,
      rows,
      ...extra,
    });
    const graph = (tensors: object[], nodes: object[], maxTokens = 1): string =>
      code(() => be.createGraph({ tensors, nodes, maxTokens } as never));
    expect(graph([t(16, 0, { rowsPerToken: 1 })], [], 64)).toBe('ERR_INVALID_ARG'); // 64 rows * 64 B > 1024
    expect(graph([t(16, 4, { offset: 2 ** 40 })], [])).toBe('ERR_INVALID_ARG'); // offset outside
    expect(graph([t(16, 4, { rowStride: 8 })], [])).toBe('ERR_INVALID_ARG'); // stride < row
    expect(graph([t(16, 4, { type: 2 })], [])).toBe('ERR_INVALID_ARG'); // 16 not a q4_0 multiple
    expect(graph([t(16, 4, { type: 77 })], [])).toBe('ERR_UNSUPPORTED');
    expect(graph([t(4, 1)], [{ op: 'frobnicate', src: [0], dst: 0 }])).toBe('ERR_UNSUPPORTED');
    expect(graph([t(4, 1)], [{ op: 'add', src: [0, 5], dst: 0 }])).toBe('ERR_INVALID_ARG'); // bad index
    expect(graph([t(4, 1)], [{ op: 'add', src: [0], dst: 0 }])).toBe('ERR_INVALID_ARG'); // arity
    expect(graph([t(4, 1), t(8, 1)], [{ op: 'add', src: [0, 1], dst: 0 }])).toBe('ERR_INVALID_ARG'); // mismatch
    expect(graph([t(8, 2), t(4, 3), t(3, 2)], [{ op: 'matmul', src: [0, 1], dst: 2 }])).toBe('ERR_INVALID_ARG'); // k mismatch
    expect(
      graph(
        [t(8, 1), t(8, 1, { offset: 64 }), t(8, 1, { offset: 128 })],
        [{ op: 'attention', src: [0, 1, 2], dst: 0, params: { nHead: 3, nKvHead: 2, headDim: 8 } }],
      ),
    ).toBe('ERR_INVALID_ARG'); // GQA ratio
    // A q8_0 KV cache (native re-checks what kvType's TS checks): K and V both q8_0, whole blocks per head.
    const q8 = (nHead: number, headDim: number, vType: number): string =>
      graph(
        [t(32, 1), t(32, 2, { type: 8, offset: 128 }), t(32, 2, { type: vType, offset: 256 })],
        [{ op: 'attention', src: [0, 1, 2], dst: 0, params: { nHead, nKvHead: nHead, headDim } }],
      );
    expect(q8(1, 32, 8)).toBe('no error');
    expect(q8(1, 32, 1)).toBe('ERR_INVALID_ARG'); // q8_0 K, f16 V
    expect(q8(2, 16, 8)).toBe('ERR_INVALID_ARG'); // head_dim 16: half a block per head
    expect(graph([t(16, 1), t(16, 2, { type: 8, offset: 128 })], [{ op: 'store_rows', src: [0], dst: 1 }])).toBe(
      'ERR_INVALID_ARG',
    ); // 16 values: not a q8_0 row
    expect(graph([t(8, 1)], [{ op: 'rope', src: [0, 0], dst: 0, params: { nHead: 1, headDim: 8 } }])).toBe(
      'ERR_INVALID_ARG',
    ); // positions not i32
    expect(graph([t(4, 1)], [{ op: 'rms_norm', src: [0], dst: 0, params: { eps: 'x' } }])).toBe('ERR_INVALID_ARG');
    expect(graph([t(4, 1)], [{ op: 'rms_norm', src: [0], dst: 0, params: { eps: NaN } }])).toBe('ERR_INVALID_ARG');
    expect(graph([t(4, 1)], [], 0)).toBe('ERR_INVALID_ARG');
    expect(code(() => be.createGraph(null as never))).toBe('ERR_INVALID_ARG');
  });

  test('a mapped (read-only) buffer cannot be written', () => {
    const f = n.mapFile(__filename);
    const w = be.wrap(f, 0, 64);
    expect(code(() => be.upload(w, 0, new Uint8Array(4)))).toBe('ERR_INVALID_ARG');
    const x = be.allocate(64);
    expect(
      code(() =>
        be.createGraph({
          tensors: [
            { buffer: x, offset: 0, type: 0, cols: 4, rows: 1 },
            { buffer: w, offset: 0, type: 0, cols: 4, rows: 1 },
          ],
          nodes: [{ op: 'add', src: [0, 0], dst: 1 }],
          maxTokens: 1,
        }),
      ),
    ).toBe('ERR_INVALID_ARG');
    expect(code(() => be.wrap(f, 0, 1e12))).toBe('ERR_INVALID_ARG');
    // Views over the copy-on-write mapping may even be written without harm.
    const v = f.view(0, 8);
    v[0] = 0;
    f.close();
    expect(code(() => f.view(0, 1))).toBe('ERR_DISPOSED');
  });

  test('step arguments are checked: token count, input sizes, out-of-vocabulary ids, KV overflow', async () => {
    const g = getRowsGraph(be.allocate(4 * 10 * 4));
    expect(code(() => g.runSync({ nTokens: 9 }))).toBe('ERR_INVALID_ARG');
    expect(code(() => g.runSync({ nTokens: 0 }))).toBe('ERR_INVALID_ARG');
    expect(code(() => g.runSync({ nTokens: 2, inputs: [{ tensor: 1, data: new Int32Array(3) }] }))).toBe(
      'ERR_INVALID_ARG',
    );
    expect(code(() => g.runSync({ nTokens: 2, inputs: [{ tensor: 7, data: new Int32Array(2) }] }))).toBe(
      'ERR_INVALID_ARG',
    );
    expect(code(() => g.runSync({ nTokens: 2, outputs: [{ tensor: 2, data: new Float32Array(7) }] }))).toBe(
      'ERR_INVALID_ARG',
    );
    expect(code(() => g.runSync({ nTokens: 1, inputs: [{ tensor: 1, data: Int32Array.of(10) }] }))).toBe(
      'ERR_INVALID_ARG',
    );
    expect(code(() => g.runSync({ nTokens: 1, inputs: [{ tensor: 1, data: Int32Array.of(-1) }] }))).toBe(
      'ERR_INVALID_ARG',
    );
    await expect(
      g.run({ nTokens: 1, inputs: [{ tensor: 1, data: Int32Array.of(2 ** 31 - 1) }] }),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    const o = new Float32Array(8);
    await g.run({ nTokens: 2, inputs: [{ tensor: 1, data: Int32Array.of(3, 9) }], outputs: [{ tensor: 2, data: o }] });
    expect(Array.from(o)).toEqual(new Array(8).fill(0));

    const cache = be.allocate(4 * 4 * 3);
    const src = be.allocate(4 * 4 * 2);
    const sg = be.createGraph({
      tensors: [
        { buffer: src, offset: 0, type: 0, cols: 4, rows: 0, rowsPerToken: 1 },
        { buffer: cache, offset: 0, type: 0, cols: 4, rows: 3 },
      ],
      nodes: [{ op: 'store_rows', src: [0], dst: 1 }],
      maxTokens: 2,
    });
    expect(code(() => sg.runSync({ nTokens: 2, nPast: 2 }))).toBe('ERR_CONTEXT_OVERFLOW');
    expect(code(() => sg.runSync({ nTokens: 1, nPast: -1 }))).toBe('ERR_INVALID_ARG');
    sg.runSync({ nTokens: 2, nPast: 1 });
  });

  test('a run delivers its output rows; a target detached while the run is in flight gets nothing', async () => {
    const table = be.allocate(4 * 10 * 4);
    be.upload(
      table,
      0,
      Float32Array.from({ length: 40 }, (_, i) => i + 1),
    );
    const g = getRowsGraph(table);
    const step = (o: Float32Array) => ({
      nTokens: 2,
      inputs: [{ tensor: 1, data: Int32Array.of(3, 9) }],
      outputs: [{ tensor: 2, data: o }],
    });
    // Every byte of the step's rows arrives (the staging copy is not zero-filled: nothing may be left out).
    const o = new Float32Array(9).fill(-1);
    await g.run(step(o));
    expect(Array.from(o)).toEqual([13, 14, 15, 16, 37, 38, 39, 40, -1]);
    // Transferred away while the run is in flight: the run still resolves, writing nowhere.
    const gone = new Float32Array(8);
    const pending = g.run(step(gone));
    const moved = new Float32Array(structuredClone(gone.buffer, { transfer: [gone.buffer] }));
    await pending;
    expect(gone.length).toBe(0);
    expect(Array.from(moved)).toEqual(new Array(8).fill(0));
  });

  test('use after dispose is ERR_DISPOSED; dispose waits for in-flight runs', async () => {
    const b2 = n.createBackend('cpu', { threads: 2 });
    const K = 1024,
      M = 2048;
    const x = b2.allocate(K * 4),
      w = b2.allocate(M * K * 4),
      y = b2.allocate(M * 4);
    const g = b2.createGraph({
      tensors: [
        { buffer: x, offset: 0, type: 0, cols: K, rows: 1 },
        { buffer: w, offset: 0, type: 0, cols: K, rows: M },
        { buffer: y, offset: 0, type: 0, cols: M, rows: 1 },
      ],
      nodes: [{ op: 'matmul', src: [0, 1], dst: 2 }],
      maxTokens: 1,
    });
    const runs = [g.run({ nTokens: 1 }), g.run({ nTokens: 1 }), g.run({ nTokens: 1 })];
    const disposed = b2.dispose();
    expect(code(() => b2.allocate(4))).toBe('ERR_DISPOSED');
    expect(code(() => g.runSync({ nTokens: 1 }))).toBe('ERR_DISPOSED');
    expect(code(() => g.run({ nTokens: 1 }))).toBe('ERR_DISPOSED');
    await Promise.all(runs); // queued before dispose: they complete
    await disposed;
    await b2.dispose(); // idempotent
  });
});

describe('TS layer validation gives precise MiniMacLLMErrors', () => {
  test('ops', () => {
    const err = (fn: () => unknown): MiniMacLLMError => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(MiniMacLLMError);
        return e as MiniMacLLMError;
      }
      throw new Error('expected an error');
    };
    expect(
      err(() => ops.matmul(new Float32Array(3), { data: new Float32Array(4), type: 'F32', rows: 2, cols: 2 })).message,
    ).toMatch(/x length 3 is not a positive multiple of 2/);
    expect(
      err(() => ops.matmul(new Float32Array(4), { data: new Float32Array(3), type: 'F32', rows: 2, cols: 2 })).code,
    ).toBe('ERR_INVALID_ARG');
    expect(
      err(() => ops.matmul(new Float32Array(4), { data: new Float32Array(4), type: 'Q9' as 'F32', rows: 2, cols: 2 }))
        .message,
    ).toMatch(/unknown tensor type Q9/);
    expect(
      err(() => ops.matmul(new Float32Array(4), { data: new Float32Array(4), type: 'F32', rows: -1, cols: 2 })).message,
    ).toBe('w.rows must be a positive integer, got -1');
    expect(
      err(() => ops.getRows({ data: new Float32Array(4), type: 'F32', rows: 2, cols: 2 }, Int32Array.of(2))).code,
    ).toBe('ERR_INVALID_ARG');
    expect(err(() => ops.rope(new Float32Array(8), Int32Array.of(0), { nHead: 1, headDim: 8, nRot: 3 })).code).toBe(
      'ERR_INVALID_ARG',
    );
    expect(
      err(() =>
        ops.attention(new Float32Array(8), new Float32Array(8), new Uint16Array(8), {
          nHead: 1,
          nKvHead: 1,
          headDim: 8,
          nPast: 0,
        }),
      ).code,
    ).toBe('ERR_INVALID_ARG');
    expect(err(() => ops.softmax(new Float32Array(4), 4, { nPast: -2 })).message).toBe(
      'nPast must be a non-negative integer, got -2',
    );
  });
});
