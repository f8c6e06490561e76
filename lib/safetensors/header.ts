/**
 * Safetensors header reader: an 8-byte little-endian JSON length, the JSON
 * header, then the data section. Everything in the header is untrusted: the
 * length is checked against the file and a cap before reading, and every
 * tensor's dtype, shape and byte range is validated (shape × dtype size ==
 * range, ranges inside the data section, no overlaps).
 */
import * as fs from 'node:fs';
import { BadModelError, IOError, UnsupportedError } from '../errors';
import { openRegularFile, openRegularFileSync } from '../regular-file';

/** Bytes per element of every safetensors dtype. */
export const SAFETENSORS_DTYPE_SIZE: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

export interface SafetensorsTensor {
  name: string;
  dtype: string;
  /** Row-major, as stored (shape[last] is the row length). */
  shape: number[];
  /** Absolute byte offset of the data in the file. */
  offset: number;
  bytes: number;
}

export interface SafetensorsHeader {
  tensors: SafetensorsTensor[];
  metadata: Record<string, string>;
  /** Absolute offset of the data section. */
  dataOffset: number;
  fileSize: number;
}

/** JSON headers beyond this are refused (the reference implementation uses the same cap). */
export const MAX_HEADER_BYTES = 100_000_000;

function bad(file: string, msg: string): BadModelError {
  return new BadModelError(`${file}: ${msg}`);
}

/** Validates the parsed JSON header of `file` (fileSize bytes, JSON of `jsonBytes`). */
export function parseSafetensorsHeader(file: string, json: Buffer, fileSize: number): SafetensorsHeader {
  const dataOffset = 8 + json.length;
  let parsed: unknown;
  try {
    parsed = JSON.parse(json.toString('utf8'));
  } catch (e) {
    throw bad(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw bad(file, 'header is not a JSON object');
  const dataSize = fileSize - dataOffset;
  const metadata: Record<string, string> = Object.create(null) as Record<string, string>;
  const tensors: SafetensorsTensor[] = [];
  for (const [name, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(file, '__metadata__ is not an object');
      for (const [mk, mv] of Object.entries(v as Record<string, unknown>)) {
        if (typeof mv !== 'string') throw bad(file, `__metadata__.${mk} is not a string`);
        metadata[mk] = mv;
      }
      continue;
    }
    const what = `tensor "${name}"`;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(file, `${what} is not an object`);
    const { dtype, shape, data_offsets: range } = v as Record<string, unknown>;
    if (typeof dtype !== 'string') throw bad(file, `${what}: dtype is not a string`);
    const size = SAFETENSORS_DTYPE_SIZE[dtype];
    if (size === undefined) throw new UnsupportedError(`${file}: ${what}: unknown dtype "${dtype}"`);
    if (
      !Array.isArray(shape) ||
      shape.length > 8 ||
      !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)
    ) {
      throw bad(file, `${what}: shape ${JSON.stringify(shape)} is not a list of up to 8 non-negative integers`);
    }
    if (
      !Array.isArray(range) ||
      range.length !== 2 ||
      !range.every((x) => Number.isSafeInteger(x) && (x as number) >= 0) ||
      (range[0] as number) > (range[1] as number)
    ) {
      throw bad(file, `${what}: data_offsets ${JSON.stringify(range)} is not [begin, end]`);
    }
    const [begin, end] = range as [number, number];
    if (end > dataSize)
      throw bad(
        file,
        `${what}: data_offsets [${begin}, ${end}] exceed the data section (${Math.max(0, dataSize)} bytes)`,
      );
    let elems = 1;
    for (const d of shape as number[]) elems *= d; // each ≤ 2^53 and the product is checked against `end` below
    if (elems * size !== end - begin) {
      throw bad(
        file,
        `${what}: shape [${(shape as number[]).join(', ')}] × ${dtype} is ${elems * size} bytes, data_offsets span ${end - begin}`,
      );
    }
    tensors.push({ name, dtype, shape: shape as number[], offset: dataOffset + begin, bytes: end - begin });
  }
  const sorted = tensors.filter((t) => t.bytes > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!;
    const cur = sorted[i]!;
    if (cur.offset < prev.offset + prev.bytes) throw bad(file, `tensors "${prev.name}" and "${cur.name}" overlap`);
  }
  return { tensors, metadata, dataOffset, fileSize };
}

function headerLength(file: string, prefix: Buffer, fileSize: number): number {
  if (fileSize < 8) throw bad(file, `not a safetensors file: only ${fileSize} bytes`);
  const n = prefix.readBigUInt64LE(0);
  if (n > BigInt(fileSize - 8)) throw bad(file, `header length ${n} exceeds the file (${fileSize} bytes)`);
  if (n > BigInt(MAX_HEADER_BYTES)) throw bad(file, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte cap`);
  if (n < 2n) throw bad(file, `header length ${n} is too small`);
  return Number(n);
}

function ioError(file: string, e: unknown): IOError {
  return e instanceof BadModelError || e instanceof UnsupportedError || e instanceof IOError
    ? e
    : new IOError(`cannot read ${file}: ${(e as Error).message}`, { cause: e });
}

function readExactly(fd: number, buf: Buffer, pos: number, file: string): void {
  let done = 0;
  while (done < buf.length) {
    const n = fs.readSync(fd, buf, done, buf.length - done, pos + done);
    if (n === 0) throw new IOError(`${file} shrank while being read`);
    done += n;
  }
}

/** Reads and validates the header of a .safetensors file, synchronously. */
export function readSafetensorsHeaderSync(file: string): SafetensorsHeader {
  const { fd, stats } = openRegularFileSync(file);
  try {
    const size = stats.size;
    const prefix = Buffer.alloc(8);
    if (size >= 8) readExactly(fd, prefix, 0, file);
    const n = headerLength(file, prefix, size);
    const json = Buffer.alloc(n);
    readExactly(fd, json, 8, file);
    return parseSafetensorsHeader(file, json, size);
  } catch (e) {
    throw ioError(file, e);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads and validates the header of a .safetensors file. */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  const { fh, stats } = await openRegularFile(file);
  try {
    const size = stats.size;
    const prefix = Buffer.alloc(8);
    if (size >= 8) await readFully(fh, prefix, 0, file);
    const n = headerLength(file, prefix, size);
    const json = Buffer.alloc(n);
    await readFully(fh, json, 8, file);
    return parseSafetensorsHeader(file, json, size);
  } catch (e) {
    throw ioError(file, e);
  } finally {
    await fh.close();
  }
}

async function readFully(fh: fs.promises.FileHandle, buf: Buffer, pos: number, file: string): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, pos + done);
    if (bytesRead === 0) throw new IOError(`${file} shrank while being read`);
    done += bytesRead;
  }
}
