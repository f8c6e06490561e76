/**
 * GGUF v3 writer: metadata of every value type + tensors, each tensor's data
 * padded to the alignment (llama.cpp's layout). Numbers carry no GGUF type in
 * JS, so numeric scalars must be given one (`typed()` or the `types` table a
 * reader returns as `metadataTypes`); everything else is inferred.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { AbortError, InvalidArgumentError, IOError, MiniMacLLMError, showValue } from '../errors';
import { GGML_TYPES, GGUFValueType, type GGUFValue, type GGUFValueTypeId, ggmlTypeName } from './types';
import { GGUF_MAGIC } from './parser';
import { checkPath } from '../regular-file';

/** A value with an explicit GGUF type (`elementType` for arrays, when it cannot be inferred). */
export interface GGUFTypedValue {
  type: GGUFValueTypeId;
  value: GGUFValue;
  elementType?: GGUFValueTypeId;
}
export type GGUFWriteValue = GGUFValue | GGUFTypedValue;

export function typed(type: GGUFValueTypeId, value: GGUFValue, elementType?: GGUFValueTypeId): GGUFTypedValue {
  return elementType === undefined ? { type, value } : { type, value, elementType };
}

export interface GGUFWriteTensor {
  name: string;
  /** ggml type id (DType). */
  type: number;
  /** ggml order: shape[0] is the row length. */
  shape: number[];
  /** Exactly the tensor's bytes; a function is called when the tensor is written (keeps memory to one tensor). */
  data: Uint8Array | (() => Uint8Array | Promise<Uint8Array>);
}

export interface GGUFWriteInput {
  /** Written in insertion order. */
  metadata: Record<string, GGUFWriteValue>;
  /** Value types of numeric scalars by key (e.g. a reader's `metadataTypes`). */
  types?: Record<string, number>;
  tensors: GGUFWriteTensor[];
}

const TYPED_ARRAY_ELEMENT = new Map<unknown, GGUFValueTypeId>([
  [Uint8Array, GGUFValueType.UINT8],
  [Int8Array, GGUFValueType.INT8],
  [Uint16Array, GGUFValueType.UINT16],
  [Int16Array, GGUFValueType.INT16],
  [Uint32Array, GGUFValueType.UINT32],
  [Int32Array, GGUFValueType.INT32],
  [Float32Array, GGUFValueType.FLOAT32],
  [Float64Array, GGUFValueType.FLOAT64],
  [BigUint64Array, GGUFValueType.UINT64],
  [BigInt64Array, GGUFValueType.INT64],
]);

/** Growable little-endian byte sink. */
class Sink {
  buf = Buffer.alloc(1 << 16);
  n = 0;
  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.n + k));
    this.buf.copy(next, 0, 0, this.n);
    this.buf = next;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.n++] = v;
  }
  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v, this.n);
    this.n += 4;
  }
  u64(v: number | bigint): void {
    this.room(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.n);
    this.n += 8;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  string(s: string): void {
    const len = Buffer.byteLength(s, 'utf8');
    this.u64(len);
    this.room(len);
    this.n += this.buf.write(s, this.n, 'utf8');
  }
  pad(alignment: number): void {
    const k = (alignment - (this.n % alignment)) % alignment;
    this.room(k);
    this.buf.fill(0, this.n, this.n + k);
    this.n += k;
  }
}

function bad(key: string, msg: string): InvalidArgumentError {
  return new InvalidArgumentError(`metadata key "${key}": ${msg}`);
}

function isTypedValue(v: GGUFWriteValue): v is GGUFTypedValue {
  return (
    typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v) && 'type' in v && 'value' in v
  );
}

/** The GGUF type of an untyped value, or undefined for plain numbers (ambiguous). */
function inferType(v: GGUFValue): GGUFValueTypeId | undefined {
  if (typeof v === 'string') return GGUFValueType.STRING;
  if (typeof v === 'boolean') return GGUFValueType.BOOL;
  if (typeof v === 'bigint') return v < 0n ? GGUFValueType.INT64 : GGUFValueType.UINT64;
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return GGUFValueType.ARRAY;
  return undefined;
}

function elementTypeOf(key: string, v: GGUFValue, hint?: GGUFValueTypeId): GGUFValueTypeId {
  const fromClass = ArrayBuffer.isView(v) ? TYPED_ARRAY_ELEMENT.get(v.constructor) : undefined;
  if (fromClass !== undefined) return fromClass;
  if (!Array.isArray(v)) throw bad(key, 'array value expected');
  if (hint !== undefined) return hint;
  if (v.length === 0) return GGUFValueType.STRING;
  const first = v[0]!;
  if (typeof first === 'string') return GGUFValueType.STRING;
  if (typeof first === 'boolean') return GGUFValueType.BOOL;
  if (Array.isArray(first) || ArrayBuffer.isView(first)) return GGUFValueType.ARRAY;
  throw bad(key, 'arrays of numbers must be typed arrays (Float32Array, Int32Array, ...)');
}

function writeScalar(s: Sink, key: string, type: number, v: GGUFValue): void {
  const num = (): number => {
    if (typeof v !== 'number') throw bad(key, `${showValue(v)} is not a number`);
    return v;
  };
  const int = (lo: number, hi: number): number => {
    const x = num();
    if (!Number.isInteger(x) || x < lo || x > hi) throw bad(key, `${x} does not fit the value type`);
    return x;
  };
  const b = Buffer.alloc(8);
  switch (type) {
    case GGUFValueType.UINT8:
      return s.u8(int(0, 0xff));
    case GGUFValueType.INT8:
      b.writeInt8(int(-128, 127));
      return s.bytes(b.subarray(0, 1));
    case GGUFValueType.UINT16:
      b.writeUInt16LE(int(0, 0xffff));
      return s.bytes(b.subarray(0, 2));
    case GGUFValueType.INT16:
      b.writeInt16LE(int(-32768, 32767));
      return s.bytes(b.subarray(0, 2));
    case GGUFValueType.UINT32:
      return s.u32(int(0, 0xffffffff));
    case GGUFValueType.INT32:
      b.writeInt32LE(int(-(2 ** 31), 2 ** 31 - 1));
      return s.bytes(b.subarray(0, 4));
    case GGUFValueType.FLOAT32:
      b.writeFloatLE(num());
      return s.bytes(b.subarray(0, 4));
    case GGUFValueType.FLOAT64:
      b.writeDoubleLE(num());
      return s.bytes(b);
    case GGUFValueType.UINT64:
    case GGUFValueType.INT64: {
      const x = typeof v === 'bigint' ? v : BigInt(int(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER));
      try {
        if (type === GGUFValueType.UINT64) b.writeBigUInt64LE(x);
        else b.writeBigInt64LE(x);
      } catch {
        throw bad(key, `${x} does not fit the value type`);
      }
      return s.bytes(b);
    }
    case GGUFValueType.BOOL:
      if (typeof v !== 'boolean') throw bad(key, `${showValue(v)} is not a boolean`);
      return s.u8(v ? 1 : 0);
    case GGUFValueType.STRING:
      if (typeof v !== 'string') throw bad(key, `${showValue(v)} is not a string`);
      return s.string(v);
    default:
      throw bad(key, `unknown value type ${type}`);
  }
}

function writeArray(s: Sink, key: string, v: GGUFValue, hint?: GGUFValueTypeId): void {
  const elem = elementTypeOf(key, v, hint);
  s.u32(elem);
  if (ArrayBuffer.isView(v)) {
    // Typed arrays are stored as their little-endian bytes.
    s.u64((v as unknown as { length: number }).length);
    s.bytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
    return;
  }
  const arr = v as GGUFValue[];
  s.u64(arr.length);
  for (const x of arr) {
    if (elem === GGUFValueType.ARRAY) writeArray(s, key, x);
    else writeScalar(s, key, elem, x);
  }
}

function writeValue(s: Sink, key: string, v: GGUFWriteValue, types?: Record<string, number>): void {
  let type: number | undefined;
  let value: GGUFValue;
  let elementType: GGUFValueTypeId | undefined;
  if (isTypedValue(v)) {
    ({ type, value, elementType } = v);
  } else {
    value = v;
    type = types?.[key] ?? inferType(v);
  }
  if (type === undefined)
    throw bad(key, 'numbers need a value type: use typed(GGUFValueType.UINT32, n) or pass `types`');
  s.u32(type);
  if (type === GGUFValueType.ARRAY) writeArray(s, key, value, elementType);
  else writeScalar(s, key, type, value);
}

/** Alignment from general.alignment (u32 power of two), default 32. */
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);

/** The shape of a write input (its values are checked as they are encoded). */
function checkInput(input: unknown): asserts input is GGUFWriteInput {
  if (!isPlainObject(input)) throw new InvalidArgumentError('input must be an object with metadata and tensors');
  if (!isPlainObject(input.metadata)) throw new InvalidArgumentError('input.metadata must be an object');
  if (input.types !== undefined && !isPlainObject(input.types))
    throw new InvalidArgumentError('input.types must be an object');
  if (!Array.isArray(input.tensors)) throw new InvalidArgumentError('input.tensors must be an array');
  input.tensors.forEach((t: unknown, i) => {
    if (!isPlainObject(t)) throw new InvalidArgumentError(`input.tensors[${i}] must be an object`);
    if (typeof t.name !== 'string') throw new InvalidArgumentError(`input.tensors[${i}].name must be a string`);
    if (typeof t.type !== 'number') throw new InvalidArgumentError(`tensor "${t.name}": type must be a number`);
    if (!Array.isArray(t.shape)) throw new InvalidArgumentError(`tensor "${t.name}": shape must be an array`);
    if (!(t.data instanceof Uint8Array) && typeof t.data !== 'function')
      throw new InvalidArgumentError(`tensor "${t.name}": data must be a Uint8Array or a function returning one`);
  });
}

function alignmentOf(input: GGUFWriteInput): number {
  const v = input.metadata['general.alignment'];
  if (v === undefined) return 32;
  const a = isTypedValue(v) ? v.value : v;
  if (typeof a !== 'number' || !Number.isInteger(a) || a <= 0 || (a & (a - 1)) !== 0) {
    throw bad('general.alignment', `${typeof a === 'number' ? a : typeof a} is not a power of two`);
  }
  return a;
}

interface Layout {
  header: Buffer;
  alignment: number;
  bytes: number[];
}

/** Encodes the header (through the padding before tensor data) and checks the tensors. */
export function encodeGGUFHeader(input: GGUFWriteInput): Layout {
  checkInput(input);
  const alignment = alignmentOf(input);
  const s = new Sink();
  const keys = Object.keys(input.metadata);
  s.u32(GGUF_MAGIC);
  s.u32(3);
  s.u64(input.tensors.length);
  s.u64(keys.length);
  for (const key of keys) {
    s.string(key);
    writeValue(s, key, input.metadata[key]!, input.types);
  }
  const names = new Set<string>();
  const bytes: number[] = [];
  let offset = 0;
  for (const t of input.tensors) {
    if (names.has(t.name)) throw new InvalidArgumentError(`duplicate tensor name "${t.name}"`);
    names.add(t.name);
    const traits = GGML_TYPES.get(t.type);
    if (!traits) throw new InvalidArgumentError(`tensor "${t.name}": unknown tensor type ${ggmlTypeName(t.type)}`);
    if (t.shape.length < 1 || t.shape.length > 4 || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw new InvalidArgumentError(`tensor "${t.name}": bad shape [${t.shape.join(', ')}]`);
    }
    if (t.shape[0]! % traits.blockSize !== 0) {
      throw new InvalidArgumentError(
        `tensor "${t.name}": row length ${t.shape[0]} is not a multiple of ${traits.blockSize} (${traits.name})`,
      );
    }
    const n = (t.shape.reduce((a, b) => a * b, 1) / traits.blockSize) * traits.typeSize;
    s.string(t.name);
    s.u32(t.shape.length);
    for (const d of t.shape) s.u64(d);
    s.u32(t.type);
    s.u64(offset);
    bytes.push(n);
    offset += Math.ceil(n / alignment) * alignment;
  }
  s.pad(alignment);
  return { header: s.buf.subarray(0, s.n), alignment, bytes };
}

function checkData(t: GGUFWriteTensor, data: Uint8Array, n: number): Uint8Array {
  if (!(data instanceof Uint8Array) || data.byteLength !== n) {
    throw new InvalidArgumentError(
      `tensor "${t.name}": data has ${data instanceof Uint8Array ? data.byteLength : 'no'} bytes, ${ggmlTypeName(t.type)} [${t.shape.join(', ')}] needs ${n}`,
    );
  }
  return data;
}

function wrapIO(path: string, e: unknown): MiniMacLLMError {
  return e instanceof MiniMacLLMError ? e : new IOError(`cannot write ${path}: ${(e as Error).message}`, { cause: e });
}

export interface GGUFWriteOptions {
  /**
   * Replace a file already at the path (default true). With false an existing
   * file is ERR_IO and stays untouched: the finished file is linked into place,
   * which fails atomically if the name was taken meanwhile.
   */
  overwrite?: boolean;
  /** Stops the write between tensors (ERR_ABORTED); the partial file is removed. */
  signal?: AbortSignal;
}

/**
 * The temporary file a write goes to: in the output's folder (so the final
 * rename stays on one file system and is atomic), created exclusively (never
 * an existing file or a planted symlink), under a name no other write uses.
 */
function tempName(out: string): string {
  return nodePath.join(
    nodePath.dirname(out),
    `${nodePath.basename(out)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
}

function exists(out: string): IOError {
  return new IOError(`${out} exists; not replacing it`);
}

/** Moves the finished temporary file to `out`. */
function commitSync(tmp: string, out: string, overwrite: boolean): void {
  if (overwrite) return fs.renameSync(tmp, out);
  try {
    fs.linkSync(tmp, out);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw exists(out);
    // A file system without hard links: check, then rename (not atomic, the best it allows).
    if (fs.existsSync(out)) throw exists(out);
    return fs.renameSync(tmp, out);
  }
  fs.unlinkSync(tmp);
}

async function commit(tmp: string, out: string, overwrite: boolean): Promise<void> {
  if (overwrite) return fs.promises.rename(tmp, out);
  try {
    await fs.promises.link(tmp, out);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw exists(out);
    if (fs.existsSync(out)) throw exists(out);
    return fs.promises.rename(tmp, out);
  }
  await fs.promises.unlink(tmp);
}

function writeOptions(options: GGUFWriteOptions | undefined): { overwrite: boolean; signal?: AbortSignal } {
  if (options === undefined) return { overwrite: true };
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object');
  const { overwrite = true, signal } = options;
  if (typeof overwrite !== 'boolean') throw new InvalidArgumentError('overwrite must be a boolean');
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new InvalidArgumentError('signal must be an AbortSignal');
  return signal ? { overwrite, signal } : { overwrite };
}

/** Writes a GGUF file (to a temporary file in the same folder, renamed into place when complete). */
export async function writeGGUF(path: string, input: GGUFWriteInput, options?: GGUFWriteOptions): Promise<void> {
  checkPath(path);
  const { overwrite, signal } = writeOptions(options);
  const { header, alignment, bytes } = encodeGGUFHeader(input);
  if (signal?.aborted) throw new AbortError();
  const tmp = tempName(path);
  let fh: fs.promises.FileHandle | undefined;
  try {
    fh = await fs.promises.open(tmp, 'wx');
    await fh.write(header);
    const zeros = new Uint8Array(alignment);
    for (let i = 0; i < input.tensors.length; i++) {
      if (signal?.aborted) throw new AbortError();
      const t = input.tensors[i]!;
      const n = bytes[i]!;
      const data = checkData(t, typeof t.data === 'function' ? await t.data() : t.data, n);
      await fh.write(data);
      const pad = (alignment - (n % alignment)) % alignment;
      if (pad) await fh.write(zeros, 0, pad);
    }
    await fh.close();
    fh = undefined;
    if (signal?.aborted) throw new AbortError();
    await commit(tmp, path, overwrite);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await fs.promises.unlink(tmp).catch(() => undefined);
    throw wrapIO(path, e);
  }
}

/** Synchronous writeGGUF; tensor data functions must return synchronously. */
export function writeGGUFSync(path: string, input: GGUFWriteInput, options?: Omit<GGUFWriteOptions, 'signal'>): void {
  checkPath(path);
  const { overwrite } = writeOptions(options);
  const { header, alignment, bytes } = encodeGGUFHeader(input);
  const tmp = tempName(path);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx');
    fs.writeSync(fd, header);
    const zeros = new Uint8Array(alignment);
    for (let i = 0; i < input.tensors.length; i++) {
      const t = input.tensors[i]!;
      const raw = typeof t.data === 'function' ? t.data() : t.data;
      if (raw instanceof Promise)
        throw new InvalidArgumentError(`tensor "${t.name}": writeGGUFSync needs synchronous data`);
      const n = bytes[i]!;
      fs.writeSync(fd, checkData(t, raw, n));
      const pad = (alignment - (n % alignment)) % alignment;
      if (pad) fs.writeSync(fd, zeros, 0, pad);
    }
    fs.closeSync(fd);
    fd = undefined;
    commitSync(tmp, path, overwrite);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw wrapIO(path, e);
  }
}
