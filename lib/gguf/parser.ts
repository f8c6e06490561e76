/**
 * GGUF header parser (versions 2 and 3). It runs over a byte window that a
 * ByteSource fills from the file on demand, and checks every count, length and
 * offset against the real file size before allocating or reading anything:
 * model files are untrusted input.
 *
 * The parse is a generator that can pause in every loop whose length the file
 * controls (strings, arrays, keys, tensors): readGGUF runs it in slices of a
 * few milliseconds with the event loop turning in between, so a header of
 * millions of strings never blocks the main thread for long. The synchronous
 * entry points run it straight through.
 */
import { isUtf8 } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';
import { BadModelError, UnsupportedError } from '../errors';
import {
  GGML_TYPES,
  GGUF_VALUE_MIN_SIZE,
  GGUF_VALUE_TYPE_NAMES,
  GGUFValueType,
  type GGUFValue,
  ggmlTypeName,
} from './types';

export interface GGUFTensorInfo {
  name: string;
  /** ggml type id (see DType). */
  type: number;
  /** ggml order: shape[0] is the row length. */
  shape: number[];
  /** Absolute byte offset of the tensor data in the file. */
  offset: number;
  bytes: number;
}

export interface GGUFFile {
  version: number;
  metadata: Record<string, GGUFValue>;
  /** Stored value type of every metadata key (ARRAY for arrays); lets a writer round-trip numbers. */
  metadataTypes: Record<string, number>;
  tensors: GGUFTensorInfo[];
  /** Absolute offset of the tensor data section. */
  dataOffset: number;
  alignment: number;
  fileSize: number;
}

export interface GGUFParseLimits {
  /** Largest header (metadata + tensor infos) accepted; protects against memory exhaustion. */
  maxHeaderBytes: number;
}
export const DEFAULT_LIMITS: GGUFParseLimits = { maxHeaderBytes: 256 * 1024 * 1024 };

/** Bytes [0, loaded) of the file, extendable on request. */
export interface ByteSource {
  readonly fileSize: number;
  readonly buf: Buffer;
  readonly loaded: number;
  /** Makes bytes [0, end) available, or throws NeedMoreBytes (async sources). */
  ensure(end: number): void;
}

/** Thrown by an async ByteSource: load up to `end` and parse again. */
/** Thrown by a windowed byte source when a read passes the bytes loaded so far. */
export class NeedMoreBytes extends Error {
  constructor(readonly end: number) {
    super(`need bytes up to ${end}`);
  }
}

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
const TWO32 = 4294967296;
/**
 * Cap on the JS values a header may make us create: keys, strings, booleans
 * and nested arrays together. Each costs far more memory than its bytes, and
 * a live array of millions of them makes every full garbage collection pause
 * the main thread for tens of milliseconds. The largest real vocabularies
 * (tokens + merges) hold well under a million strings.
 */
export const MAX_HEADER_VALUES = 1 << 21;
const MAX_NESTED_ARRAYS = 1 << 16;
/** Longest metadata key or tensor name (llama.cpp allows 64-byte tensor names; keys are short). */
const MAX_NAME_BYTES = 1 << 16;
/** Strings longer than this are decoded in pieces of this size, pausing in between. */
const DECODE_PIECE = 1 << 20;
/** Typed arrays are copied in pieces of this many bytes. */
const COPY_PIECE = 1 << 23;
/** Short strings decoded at once, at most (a run of them is one native decode). */
const MAX_RUN = 4096;

/** When a sliced parse should pause: `deadline` is set by the driver before each slice. */
export interface SliceClock {
  deadline: number;
}

/** A parse step: yields (undefined) where it may pause, returns the value. */
type Steps<T> = Generator<void, T, void>;

/** Runs a generator to its end without pausing. */
export function runSteps<T>(g: Steps<T>): T {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
}

type TypedArrayCtor = {
  new (length: number): ArrayBufferView & { length: number };
  BYTES_PER_ELEMENT: number;
};
const TYPED_ARRAY: Partial<Record<number, TypedArrayCtor>> = {
  [GGUFValueType.UINT8]: Uint8Array,
  [GGUFValueType.INT8]: Int8Array,
  [GGUFValueType.UINT16]: Uint16Array,
  [GGUFValueType.INT16]: Int16Array,
  [GGUFValueType.UINT32]: Uint32Array,
  [GGUFValueType.INT32]: Int32Array,
  [GGUFValueType.FLOAT32]: Float32Array,
  [GGUFValueType.FLOAT64]: Float64Array,
  [GGUFValueType.UINT64]: BigUint64Array,
  [GGUFValueType.INT64]: BigInt64Array,
};

class Parser {
  pos = 0;
  private strings = 0;
  private nested = 0;
  private readonly limit: number;

  constructor(
    private readonly src: ByteSource,
    limits: GGUFParseLimits,
    /** Skim: only walk the structure (to find where the header ends); values are left empty. */
    private readonly skim: boolean,
    /** Present for a sliced parse: where to pause. */
    private readonly clock: SliceClock | undefined,
  ) {
    this.limit = Math.min(src.fileSize, limits.maxHeaderBytes);
  }

  /** Counts `n` more JS values (keys, strings, booleans, arrays) against MAX_HEADER_VALUES. */
  values(n: number, what: string): void {
    this.strings += n;
    if (this.strings > MAX_HEADER_VALUES)
      throw new BadModelError(`${what}: more than ${MAX_HEADER_VALUES} strings and other values in the header`);
  }

  /** Whether this slice's time is up (never, for a synchronous parse). */
  due(): boolean {
    return this.clock !== undefined && performance.now() >= this.clock.deadline;
  }

  /** Checks that `n` more bytes exist (file, header cap), then loads them. */
  need(n: number, what: string): void {
    const end = this.pos + n;
    if (end > this.src.fileSize) {
      throw new BadModelError(
        `GGUF truncated: ${what} at byte ${this.pos} needs ${n} bytes, file has ${this.src.fileSize}`,
      );
    }
    if (end > this.limit) {
      throw new BadModelError(`GGUF header larger than ${this.limit} bytes while reading ${what}`);
    }
    if (end > this.src.loaded) this.src.ensure(end);
  }

  /** Bytes left in the file after the cursor. */
  get remaining(): number {
    return this.src.fileSize - this.pos;
  }

  u8(what: string): number {
    this.need(1, what);
    return this.src.buf[this.pos++]!;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.src.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  /** A u64 count/length as a number; values past 2^53 come back as approximations (they exceed any file anyway). */
  u64n(what: string): number {
    this.need(8, what);
    const lo = this.src.buf.readUInt32LE(this.pos);
    const hi = this.src.buf.readUInt32LE(this.pos + 4);
    this.pos += 8;
    return hi * TWO32 + lo;
  }
  /** Exact decimal text of the u64 at `at` (already loaded), for messages. */
  u64text(at: number): string {
    return this.src.buf.readBigUInt64LE(at).toString();
  }

  /** A key or tensor name: valid UTF-8 of at most MAX_NAME_BYTES (decoded even when skimming). */
  name(what: string): string {
    const at = this.pos;
    const len = this.u64n(`${what} length`);
    if (len > MAX_NAME_BYTES) {
      throw new BadModelError(`${what}: ${this.u64text(at)} bytes is longer than the ${MAX_NAME_BYTES} allowed`);
    }
    this.need(len, what);
    const s = this.decode(this.pos, this.pos + len, what, true);
    this.pos += len;
    return s;
  }

  /** A string value (invalid UTF-8 becomes U+FFFD); long ones are decoded in pieces, pausing in between. */
  *string(what: string): Steps<string> {
    const at = this.pos;
    const len = this.u64n(`${what} length`);
    if (len > this.remaining) {
      throw new BadModelError(`${what}: string of ${this.u64text(at)} bytes exceeds the file`);
    }
    this.need(len, what);
    const start = this.pos;
    this.pos += len;
    if (this.skim) return '';
    if (len <= DECODE_PIECE) return this.decode(start, start + len, what, false);
    const decoder = new StringDecoder('utf8');
    const parts: string[] = [];
    for (let p = start; p < start + len; p += DECODE_PIECE) {
      if (this.due()) yield;
      parts.push(decoder.write(this.src.buf.subarray(p, Math.min(p + DECODE_PIECE, start + len))));
    }
    parts.push(decoder.end());
    return parts.join('');
  }

  private decode(a: number, b: number, what: string, strict: boolean): string {
    const buf = this.src.buf;
    if (strict && !isUtf8(buf.subarray(a, b))) throw new BadModelError(`${what}: not valid UTF-8`);
    return buf.toString('utf8', a, b);
  }

  /**
   * A string array, in two passes: walk the lengths (bounds-checking and loading
   * the bytes), then decode. A native decode per string costs ~100 ns, so runs
   * of strings shorter than 128 bytes (whose length bytes are all ASCII, so no
   * UTF-8 sequence can straddle two strings) are decoded at once, when valid
   * UTF-8, and cut with substring. Other strings are decoded one by one,
   * invalid sequences becoming U+FFFD.
   */
  private *stringArray(count: number, what: string): Steps<string[]> {
    const start = this.pos;

    for (let i = 0; i < count; i++) {
      if ((i & 0x3ff) === 0 && this.due()) yield;
      // Hot loop: messages are only built on the slow path (they would dominate).
      const at = this.pos;
      let len: number;
      if (at + 8 <= this.src.loaded) {
        len = this.src.buf.readUInt32LE(at) + this.src.buf.readUInt32LE(at + 4) * TWO32;
        this.pos += 8;
      } else {
        len = this.u64n(`${what}[${i}] length`);
      }
      if (len > this.remaining)
        throw new BadModelError(`${what}[${i}]: string of ${this.u64text(at)} bytes exceeds the file`);
      if (this.pos + len > this.src.loaded) this.need(len, `${what}[${i}]`);
      this.pos += len;
    }
    if (this.skim) return [];
    const buf = this.src.buf;
    const out: string[] = new Array<string>(count);
    let q = start;
    let i = 0;
    while (i < count) {
      if (this.due()) yield;
      // Find the run of short strings [i, j) spanning bytes [q, r).
      let j = i;
      let r = q;
      const stop = Math.min(count, i + MAX_RUN);
      while (j < stop && buf.readUInt32LE(r) < 0x80) {
        r += 8 + buf[r]!;
        j++;
      }
      if (j - i > 1 && isUtf8(buf.subarray(q, r))) {
        this.cutRun(out, i, j, q, r);
        i = j;
        q = r;
      } else {
        // A long string (or a short run not worth it / not valid UTF-8).
        const end = Math.max(j, i + 1);
        for (; i < end; i++) {
          const len = buf.readUInt32LE(q); // < 2^32: checked against the file above
          if (len > DECODE_PIECE) {
            const end = this.pos;
            this.pos = q;
            out[i] = yield* this.string(`${what}[${i}]`);
            this.pos = end;
          } else {
            out[i] = buf.toString('utf8', q + 8, q + 8 + len);
          }
          q += 8 + len;
        }
      }
    }
    return out;
  }

  /** Decodes strings [i, j) lying in bytes [q, r), a valid UTF-8 run of short strings. */
  private cutRun(out: string[], i: number, j: number, q: number, r: number): void {
    const buf = this.src.buf;
    const region = buf.toString('utf8', q, r);
    let c = 0; // UTF-16 index in `region` of byte q
    for (; i < j; i++) {
      const len = buf[q]!;
      q += 8;
      const ca = c + 8;
      c = ca;
      const stop = q + len;
      for (; q < stop; q++) {
        const b = buf[q]!;
        // one unit per code point start, two for 4-byte sequences (surrogate pairs)
        if ((b & 0xc0) !== 0x80) c += b >= 0xf0 ? 2 : 1;
      }
      out[i] = region.substring(ca, c);
    }
  }

  /** Any value; strings and arrays may pause. */
  *value(type: number, what: string, depth: number): Steps<GGUFValue> {
    if (type === GGUFValueType.STRING) {
      this.values(1, what);
      return yield* this.string(what);
    }
    if (type === GGUFValueType.ARRAY) return yield* this.array(what, depth);
    return this.scalar(type, what);
  }

  /** A value of a fixed-size type. */
  scalar(type: number, what: string): GGUFValue {
    const buf = this.src.buf;
    let v: GGUFValue;
    switch (type) {
      case GGUFValueType.UINT8:
        return this.u8(what);
      case GGUFValueType.INT8:
        this.need(1, what);
        v = buf.readInt8(this.pos);
        break;
      case GGUFValueType.UINT16:
        this.need(2, what);
        v = buf.readUInt16LE(this.pos);
        break;
      case GGUFValueType.INT16:
        this.need(2, what);
        v = buf.readInt16LE(this.pos);
        break;
      case GGUFValueType.UINT32:
        return this.u32(what);
      case GGUFValueType.INT32:
        this.need(4, what);
        v = buf.readInt32LE(this.pos);
        break;
      case GGUFValueType.FLOAT32:
        this.need(4, what);
        v = buf.readFloatLE(this.pos);
        break;
      case GGUFValueType.FLOAT64:
        this.need(8, what);
        v = buf.readDoubleLE(this.pos);
        break;
      case GGUFValueType.UINT64:
        this.need(8, what);
        v = buf.readBigUInt64LE(this.pos);
        break;
      case GGUFValueType.INT64:
        this.need(8, what);
        v = buf.readBigInt64LE(this.pos);
        break;
      case GGUFValueType.BOOL: {
        const b = this.u8(what);
        if (b > 1) throw new BadModelError(`${what}: bool byte ${b} at ${this.pos - 1} is neither 0 nor 1`);
        return b === 1;
      }
      default:
        throw new BadModelError(`${what}: unknown value type ${type} at byte ${this.pos - 4}`);
    }
    this.pos += GGUF_VALUE_MIN_SIZE[type]!;
    return v;
  }

  *array(what: string, depth: number): Steps<GGUFValue> {
    if (depth > 8) throw new BadModelError(`${what}: arrays nested deeper than 8 levels`);
    const elemType = this.u32(`${what} array type`);
    const minSize = GGUF_VALUE_MIN_SIZE[elemType];
    if (minSize === undefined) {
      throw new BadModelError(`${what}: unknown array element type ${elemType} at byte ${this.pos - 4}`);
    }
    const at = this.pos;
    const count = this.u64n(`${what} array length`);
    // Checked before anything is allocated: even the smallest elements must fit in the file.
    if (count * minSize > this.remaining) {
      throw new BadModelError(
        `${what}: array of ${this.u64text(at)} elements exceeds the file (${GGUF_VALUE_TYPE_NAMES[elemType]} elements from byte ${this.pos}, file has ${this.src.fileSize} bytes)`,
      );
    }
    const Ctor = TYPED_ARRAY[elemType];
    if (Ctor) {
      const nbytes = count * Ctor.BYTES_PER_ELEMENT;
      this.need(nbytes, what);
      if (this.skim) {
        this.pos += nbytes;
        return [];
      }
      const out = new Ctor(count);
      // Copy, not view: the window buffer is reused and its offsets are unaligned.
      const bytes = new Uint8Array(out.buffer, out.byteOffset, nbytes);
      for (let p = 0; p < nbytes; p += COPY_PIECE) {
        if (this.due()) yield;
        const n = Math.min(COPY_PIECE, nbytes - p);
        bytes.set(this.src.buf.subarray(this.pos + p, this.pos + p + n), p);
      }
      this.pos += nbytes;
      return out as unknown as GGUFValue;
    }
    if (elemType === GGUFValueType.BOOL) {
      this.values(count, what);
      this.need(count, what);
      if (this.skim) {
        this.pos += count;
        return [];
      }
      const out: boolean[] = new Array<boolean>(count);
      const buf = this.src.buf;
      for (let i = 0; i < count; i++) {
        if ((i & 0xffff) === 0 && this.due()) yield;
        const b = buf[this.pos + i]!;
        if (b > 1) throw new BadModelError(`${what}[${i}]: bool byte ${b} is neither 0 nor 1`);
        out[i] = b === 1;
      }
      this.pos += count;
      return out;
    }
    if (elemType === GGUFValueType.STRING) {
      this.values(count, what);
      return yield* this.stringArray(count, what);
    }
    // Nested arrays.
    this.nested += count;
    if (this.nested > MAX_NESTED_ARRAYS)
      throw new BadModelError(`${what}: more than ${MAX_NESTED_ARRAYS} nested arrays`);
    this.values(count, what);
    const out: GGUFValue[] = new Array<GGUFValue>(count);
    for (let i = 0; i < count; i++) {
      if (this.due()) yield;
      out[i] = yield* this.array(`${what}[${i}]`, depth + 1);
    }
    return out;
  }
}

/** Parses the header; throws BadModelError / UnsupportedError, or NeedMoreBytes from an async source. */
export function parseGGUF(src: ByteSource, limits: GGUFParseLimits = DEFAULT_LIMITS, skim = false): GGUFFile {
  return runSteps(parseGGUFSteps(src, limits, skim, undefined));
}

/**
 * The parse as steps: pauses (yields) whenever `clock.deadline` has passed, in
 * every loop a file can make long; without a clock it never pauses.
 */
export function* parseGGUFSteps(
  src: ByteSource,
  limits: GGUFParseLimits,
  skim: boolean,
  clock: SliceClock | undefined,
): Steps<GGUFFile> {
  const p = new Parser(src, limits, skim, clock);
  const fileSize = src.fileSize;
  if (fileSize < 4) throw new BadModelError(`not a GGUF file: only ${fileSize} bytes`);
  const magic = p.u32('magic');
  if (magic !== GGUF_MAGIC)
    throw new BadModelError(`not a GGUF file: bad magic 0x${magic.toString(16).padStart(8, '0')}`);
  const version = p.u32('version');
  if (version !== 2 && version !== 3) {
    // A big-endian file (written on s390x and the like) shows a byte-swapped version.
    if (version === 0x02000000 || version === 0x03000000)
      throw new BadModelError('big-endian GGUF files are not supported');
    throw new BadModelError(`unsupported GGUF version ${version} (supported: 2, 3)`);
  }
  const tcAt = p.pos;
  const tensorCount = p.u64n('tensor count');
  const kvAt = p.pos;
  const kvCount = p.u64n('metadata count');
  // Smallest tensor info: 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset) bytes.
  if (tensorCount * 24 > p.remaining) {
    throw new BadModelError(`tensor count ${p.u64text(tcAt)} exceeds the file`);
  }
  // Smallest key/value: 8 (key length) + 1 (key) + 4 (type) + 1 (u8 value) bytes.
  if (kvCount * 14 > p.remaining) {
    throw new BadModelError(`metadata count ${p.u64text(kvAt)} exceeds the file`);
  }

  const metadata: Record<string, GGUFValue> = Object.create(null) as Record<string, GGUFValue>;
  const metadataTypes: Record<string, number> = Object.create(null) as Record<string, number>;
  for (let i = 0; i < kvCount; i++) {
    if (p.due()) yield;
    const key = p.name(`metadata key #${i}`);
    p.values(1, `metadata key "${key}"`);
    if (key.length === 0) throw new BadModelError(`metadata key #${i} is empty`);
    if (key in metadata) throw new BadModelError(`duplicate metadata key "${key}"`);
    const type = p.u32(`metadata key "${key}" type`);
    metadataTypes[key] = type;
    metadata[key] =
      type === GGUFValueType.STRING || type === GGUFValueType.ARRAY
        ? yield* p.value(type, `metadata key "${key}"`, 0)
        : p.scalar(type, `metadata key "${key}"`);
  }

  let alignment = 32;
  if ('general.alignment' in metadata) {
    const a = metadata['general.alignment'];
    if (metadataTypes['general.alignment'] !== GGUFValueType.UINT32 || typeof a !== 'number') {
      throw new BadModelError(`general.alignment must be a u32`);
    }
    if (a === 0 || (a & (a - 1)) !== 0) throw new BadModelError(`general.alignment ${a} is not a power of two`);
    alignment = a;
  }

  const raw: Array<{ name: string; type: number; shape: number[]; rel: number; bytes: number }> = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    if (p.due()) yield;
    const name = p.name(`tensor #${i} name`);
    if (names.has(name)) throw new BadModelError(`duplicate tensor name "${name}"`);
    names.add(name);
    const what = `tensor "${name}"`;
    const nDims = p.u32(`${what} dimension count`);
    if (nDims < 1 || nDims > 4) throw new BadModelError(`${what}: ${nDims} dimensions (1 to 4 allowed)`);
    const shape: number[] = [];
    let elems = 1n;
    for (let d = 0; d < nDims; d++) {
      const at = p.pos;
      const n = p.u64n(`${what} dimension ${d}`);
      // Any dimension above the file size is impossible even for 1-bit weights... unless another is 0.
      if (n > Number.MAX_SAFE_INTEGER)
        throw new BadModelError(`${what}: dimension ${d} = ${p.u64text(at)} is too large`);
      shape.push(n);
      elems *= BigInt(n);
    }
    const type = p.u32(`${what} type`);
    const traits = GGML_TYPES.get(type);
    if (!traits) throw new UnsupportedError(`${what}: unsupported tensor type ${ggmlTypeName(type)}`);
    if (shape[0]! % traits.blockSize !== 0) {
      throw new BadModelError(
        `${what}: row length ${shape[0]} is not a multiple of the ${traits.name} block size ${traits.blockSize}`,
      );
    }
    const bytesBig = (elems / BigInt(traits.blockSize)) * BigInt(traits.typeSize);
    if (bytesBig > BigInt(fileSize)) {
      throw new BadModelError(
        `${what}: shape [${shape.join(', ')}] ${traits.name} needs ${bytesBig} bytes, more than the file`,
      );
    }
    const relAt = p.pos;
    const rel = p.u64n(`${what} offset`);
    if (rel > fileSize) throw new BadModelError(`${what}: data offset ${p.u64text(relAt)} is past the end of the file`);
    if (rel % alignment !== 0)
      throw new BadModelError(`${what}: data offset ${rel} is not a multiple of the alignment ${alignment}`);
    raw.push({ name, type, shape, rel, bytes: Number(bytesBig) });
  }

  const headerEnd = p.pos;
  // A vocab-only file may end without the padding; keep dataOffset inside the file then.
  const aligned = Math.ceil(headerEnd / alignment) * alignment;
  const dataOffset = raw.length === 0 ? Math.min(aligned, fileSize) : aligned;
  const tensors: GGUFTensorInfo[] = [];
  const dataSize = fileSize - dataOffset;
  for (const t of raw) {
    if (t.bytes > 0 && (dataSize < 0 || t.rel + t.bytes > dataSize)) {
      throw new BadModelError(
        `tensor "${t.name}": data [${dataOffset + t.rel}, ${dataOffset + t.rel + t.bytes}) is outside the file (${fileSize} bytes)`,
      );
    }
    tensors.push({ name: t.name, type: t.type, shape: t.shape, offset: dataOffset + t.rel, bytes: t.bytes });
  }
  const byOffset = tensors.filter((t) => t.bytes > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1]!;
    const cur = byOffset[i]!;
    if (cur.offset < prev.offset + prev.bytes)
      throw new BadModelError(`tensors "${prev.name}" and "${cur.name}" overlap`);
  }
  return { version, metadata, metadataTypes, tensors, dataOffset, alignment, fileSize };
}
