/**
 * Kernel-API argument fuzzing: every op of lib/ops.ts (and the addon's
 * quantize/dequantize/upload/download) with random shapes and types, and one
 * argument at a time replaced by a hostile value, a buffer of the wrong size or
 * type, a SharedArrayBuffer view or a detached one. A valid call must succeed;
 * any call may fail only with a coded MiniMacLLMError.
 */
import { Backend } from '../../lib/backend';
import { callNative } from '../../lib/errors';
import { native } from '../../lib/native';
import * as ops from '../../lib/ops';
import { describe, detached, hostileValue, type Rng } from './rng';
import type { FuzzSuite } from './suite';

const QUANT = ['F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K'] as const;
const QUANTIZABLE = ['F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1'] as const;

const floats = (r: Rng, n: number): Float32Array => Float32Array.from({ length: n }, () => r.next() * 4 - 2);

/** Replaces `args[k]` (or a key of an object argument) by something hostile, half the time. */
function corrupt(r: Rng, args: unknown[]): string {
  if (r.chance(0.35)) return 'valid';
  const k = r.int(0, args.length - 1);
  const a = args[k];
  if (a !== null && typeof a === 'object' && !ArrayBuffer.isView(a) && r.chance(0.6)) {
    const keys = Object.keys(a);
    const key = keys.length > 0 && r.chance(0.8) ? r.pick(keys) : r.pick(['eps', 'backend', 'nPast', 'bogus']);
    const v = r.chance(0.3) ? sizeVariant(r, (a as Record<string, unknown>)[key]) : hostileValue(r);
    args[k] = { ...a, [key]: v };
    return `arg ${k}.${key} = ${describe(v)}`;
  }
  const v = r.chance(0.4) ? sizeVariant(r, a) : hostileValue(r);
  args[k] = v;
  return `arg ${k} = ${describe(v)}`;
}

/** A near miss of `v`: off-by-one lengths, other element types, shared or detached buffers, huge numbers. */
function sizeVariant(r: Rng, v: unknown): unknown {
  if (typeof v === 'number') return r.pick([v + 1, v - 1, v * 2, 0, -v, v + 0.5, 2 ** 31, 2 ** 40]);
  if (ArrayBuffer.isView(v)) {
    const n = (v as unknown as { length: number }).length;
    return r.pick([
      () => new Float32Array(Math.max(0, n - 1)),
      () => new Float32Array(n + 1),
      () => new Uint8Array(n),
      () => new Int32Array(n),
      () => new Float64Array(n),
      () => {
        const s = new Float32Array(new SharedArrayBuffer(n * 4));
        s.set(v instanceof Float32Array ? v : []);
        return s;
      },
      () => detached(),
      () => new Float32Array(new ArrayBuffer(n * 4 + 4), 4, n),
    ])();
  }
  return hostileValue(r);
}

type Call = { desc: string; fn: () => unknown; valid?: boolean };

function kernelCall(r: Rng, be: Backend): Call {
  const n = r.int(1, 4);
  const backend = r.pick([undefined, be, 'cpu', 'metal-sim'] as const);
  const op = r.pick([
    'matmul',
    'getRows',
    'rmsNorm',
    'rope',
    'softmax',
    'attention',
    'swiglu',
    'add',
    'mul',
    'storeRows',
    'quantize',
    'dequantize',
    'typeInfo',
    'matrixBytes',
  ] as const);
  let args: unknown[];
  let fn: (a: unknown[]) => unknown;
  switch (op) {
    case 'matmul': {
      const type = r.pick(QUANT);
      const t = ops.typeInfo(type);
      const cols = t.blockSize * r.int(1, 2);
      const rows = r.int(1, 5);
      const data = type === 'F32' ? floats(r, rows * cols) : new Uint8Array(ops.matrixBytes(type, rows, cols));
      args = [
        floats(r, n * cols),
        { data, type, rows, cols },
        { backend, ...(r.chance(0.3) ? { bias: floats(r, rows) } : {}) },
      ];
      fn = (a) => ops.matmul(a[0] as never, a[1] as never, a[2] as never);
      break;
    }
    case 'getRows': {
      const type = r.pick(QUANT);
      const cols = ops.typeInfo(type).blockSize;
      const rows = r.int(1, 6);
      const data = type === 'F32' ? floats(r, rows * cols) : new Uint8Array(ops.matrixBytes(type, rows, cols));
      const ids = Int32Array.from({ length: n }, () => r.int(0, rows - 1));
      args = [{ data, type, rows, cols }, ids, { backend }];
      fn = (a) => ops.getRows(a[0] as never, a[1] as never, a[2] as never);
      break;
    }
    case 'rmsNorm': {
      const cols = r.int(1, 40);
      args = [
        floats(r, n * cols),
        cols,
        { backend, eps: r.pick([undefined, 1e-6, 0]), weight: r.chance(0.5) ? floats(r, cols) : undefined },
      ];
      fn = (a) => ops.rmsNorm(a[0] as never, a[1] as never, a[2] as never);
      break;
    }
    case 'rope': {
      const nHead = r.int(1, 3);
      const headDim = 2 * r.int(1, 8);
      args = [
        floats(r, n * nHead * headDim),
        Int32Array.from({ length: n }, () => r.int(0, 100)),
        { backend, nHead, headDim, mode: r.pick(['normal', 'neox']), freqBase: r.pick([undefined, 10000, 1e6]) },
      ];
      fn = (a) => ops.rope(a[0] as never, a[1] as never, a[2] as never);
      break;
    }
    case 'softmax': {
      const cols = r.int(1, 20);
      args = [
        floats(r, n * cols),
        cols,
        { backend, scale: r.pick([undefined, 0.5]), causal: r.chance(0.5), nPast: r.int(0, 3) },
      ];
      fn = (a) => ops.softmax(a[0] as never, a[1] as never, a[2] as never);
      break;
    }
    case 'attention': {
      const nKvHead = r.int(1, 2);
      const nHead = nKvHead * r.int(1, 2);
      const headDim = 2 * r.int(1, 8);
      const nPast = r.int(0, 4);
      const kv = (nPast + n) * nKvHead * headDim;
      const f16 = r.chance(0.5);
      const cache = (): Float32Array | Uint16Array => (f16 ? new Uint16Array(kv).fill(0x3c00) : floats(r, kv));
      args = [floats(r, n * nHead * headDim), cache(), cache(), { backend, nHead, nKvHead, headDim, nPast }];
      fn = (a) => ops.attention(a[0] as never, a[1] as never, a[2] as never, a[3] as never);
      break;
    }
    case 'swiglu':
    case 'add':
    case 'mul': {
      const cols = r.int(1, 16);
      const b = op !== 'swiglu' && r.chance(0.4) ? floats(r, cols) : floats(r, n * cols);
      args =
        op === 'swiglu'
          ? [floats(r, n * cols), floats(r, n * cols), { backend }]
          : [floats(r, n * cols), b, cols, { backend }];
      fn = (a) =>
        op === 'swiglu'
          ? ops.swiglu(a[0] as never, a[1] as never, a[2] as never)
          : ops[op](a[0] as never, a[1] as never, a[2] as never, a[3] as never);
      break;
    }
    case 'storeRows': {
      const cols = 2 * r.int(1, 8);
      const rows = r.int(n, n + 4);
      const type = r.pick(['F32', 'F16', 'BF16'] as const);
      args = [
        floats(r, n * cols),
        { data: new Uint8Array(ops.matrixBytes(type, rows, cols)), type, rows, cols },
        r.int(0, rows - n),
        { backend },
      ];
      fn = (a) => ops.storeRows(a[0] as never, a[1] as never, a[2] as never, a[3] as never);
      break;
    }
    case 'quantize': {
      const type = r.pick(QUANTIZABLE);
      const row = ops.typeInfo(type).blockSize * r.int(1, 2);
      args = [type, floats(r, row * n), row];
      fn = (a) => ops.quantize(a[0] as never, a[1] as never, a[2] as never);
      break;
    }
    case 'dequantize': {
      const type = r.pick(QUANT);
      const count = ops.typeInfo(type).blockSize * r.int(1, 3);
      const bytes = new Uint8Array(ops.matrixBytes(type, 1, count));
      for (let i = 0; i < bytes.length; i++) bytes[i] = r.int(0, 255);
      args = [type, bytes, count];
      fn = (a) => ops.dequantize(a[0] as never, a[1] as never, a[2] as never);
      break;
    }
    case 'typeInfo': {
      const t = r.pick([...QUANT, 'Q9', 17, 99, 'constructor']);
      args = [t];
      fn = (a) => ops.typeInfo(a[0] as never);
      if (!(QUANT as readonly unknown[]).includes(t)) return { desc: `typeInfo(${describe(t)})`, fn: () => fn(args) };
      break;
    }
    case 'matrixBytes': {
      const type = r.pick(QUANT);
      args = [type, r.int(0, 9), ops.typeInfo(type).blockSize * r.int(1, 3)];
      fn = (a) => ops.matrixBytes(a[0] as never, a[1] as never, a[2] as never);
      break;
    }
  }
  const how = corrupt(r, args);
  return { desc: `${op} ${how} (n=${n}, backend=${describe(backend)})`, fn: () => fn(args), valid: how === 'valid' };
}

/** The addon's own entry points, which re-check what lib/ops.ts checked. */
function nativeCall(r: Rng): Call {
  const nb = native();
  const which = r.pick(['quantize', 'dequantize', 'upload', 'download', 'mapFile', 'typeInfo'] as const);
  const v = hostileValue(r);
  const k = r.int(0, 2);
  const pickArg = <T>(i: number, good: T): unknown => (i === k ? v : good);
  const desc = `native.${which} arg ${k} = ${describe(v)}`;
  switch (which) {
    case 'quantize':
      return {
        desc,
        fn: () =>
          callNative(() =>
            nb.quantize(pickArg(0, 8) as never, pickArg(1, new Float32Array(64)) as never, pickArg(2, 32) as never),
          ),
      };
    case 'dequantize':
      return {
        desc,
        fn: () =>
          callNative(() =>
            nb.dequantize(pickArg(0, 8) as never, pickArg(1, new Uint8Array(68)) as never, pickArg(2, 64) as never),
          ),
      };
    case 'mapFile':
      return { desc: `native.mapFile(${describe(v)})`, fn: () => callNative(() => nb.mapFile(v as never).close()) };
    case 'typeInfo':
      return { desc: `native.typeInfo(${describe(v)})`, fn: () => callNative(() => nb.typeInfo(v as never)) };
    default: {
      const be = nb.createBackend('cpu', { threads: 1 });
      return {
        desc,
        fn: async () => {
          try {
            const buf = be.allocate(256);
            callNative(() =>
              be[which](pickArg(0, buf) as never, pickArg(1, 16) as never, pickArg(2, new Float32Array(8)) as never),
            );
            buf.dispose();
          } finally {
            await be.dispose();
          }
        },
      };
    }
  }
}

export const kernelsSuite: FuzzSuite<Backend> = {
  name: 'kernels',
  count: 1500,
  batch: 750,
  caseTimeoutMs: 5000,
  setup: () => Promise.resolve(Backend.create('cpu', { threads: 1 })),
  teardown: (be) => be.dispose(),
  make(_i, r, be) {
    const c = r.chance(0.8) ? kernelCall(r, be) : nativeCall(r);
    return {
      desc: c.desc,
      valid: c.valid,
      run: async () => {
        await c.fn();
      },
    };
  },
};
