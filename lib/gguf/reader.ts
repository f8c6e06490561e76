/**
 * readGGUF / readGGUFSync: read a GGUF header from disk in growing chunks
 * (never the tensor data) and parse it with parser.ts. readGGUF parses in
 * slices of a few milliseconds, letting the event loop turn in between.
 */
import * as fs from 'node:fs';
import { InvalidArgumentError, IOError } from '../errors';
import { openRegularFile, openRegularFileSync } from '../regular-file';
import {
  type ByteSource,
  DEFAULT_LIMITS,
  type GGUFFile,
  type GGUFParseLimits,
  NeedMoreBytes,
  parseGGUF,
  parseGGUFSteps,
  type SliceClock,
} from './parser';

export type { GGUFFile, GGUFTensorInfo, GGUFParseLimits } from './parser';

const FIRST_CHUNK = 256 * 1024;
/** Longest a readGGUF parse runs before letting the event loop turn. */
const SLICE_MS = 8;

/**
 * A growing prefix of the file, read into one buffer of the largest size a
 * header may have (uninitialized memory costs nothing until read into, and
 * nothing is ever copied to grow it); `target` picks how much to have loaded
 * to cover `end`.
 */
class Window {
  readonly buf: Buffer;
  loaded = 0;
  constructor(
    readonly fileSize: number,
    limits: GGUFParseLimits,
  ) {
    this.buf = Buffer.allocUnsafe(Math.max(0, Math.min(fileSize, limits.maxHeaderBytes)));
  }
  target(end: number): number {
    return Math.min(this.buf.length, Math.max(end, this.loaded * 2, FIRST_CHUNK));
  }
}

class SyncSource extends Window implements ByteSource {
  constructor(
    private readonly fd: number,
    fileSize: number,
    limits: GGUFParseLimits,
    private readonly path: string,
  ) {
    super(fileSize, limits);
  }
  ensure(end: number): void {
    const size = this.target(end);
    while (this.loaded < size) {
      let n: number;
      try {
        n = fs.readSync(this.fd, this.buf, this.loaded, size - this.loaded, this.loaded);
      } catch (e) {
        throw new IOError(`cannot read ${this.path}: ${(e as Error).message}`, { cause: e });
      }
      if (n === 0) throw new IOError(`${this.path} shrank while being read`);
      this.loaded += n;
    }
  }
}

class AsyncSource extends Window implements ByteSource {
  ensure(end: number): void {
    throw new NeedMoreBytes(end);
  }
  async load(fh: fs.promises.FileHandle, end: number, path: string): Promise<void> {
    const size = this.target(end);
    while (this.loaded < size) {
      let n: number;
      try {
        ({ bytesRead: n } = await fh.read(this.buf, this.loaded, size - this.loaded, this.loaded));
      } catch (e) {
        throw new IOError(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
      }
      if (n === 0) throw new IOError(`${path} shrank while being read`);
      this.loaded += n;
    }
  }
}

/** Reads and validates the header of the GGUF file at `path`, synchronously. */
export function readGGUFSync(path: string, limits: GGUFParseLimits = DEFAULT_LIMITS): GGUFFile {
  checkLimits(limits);
  const { fd, stats } = openRegularFileSync(path);
  try {
    return parseGGUF(new SyncSource(fd, stats.size, limits, path), limits);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads and validates the header of the GGUF file at `path`. A cheap skim of
 * the structure (restarted after each chunk read; chunks double) finds where
 * the header ends; then one full parse decodes it.
 */
export async function readGGUF(path: string, limits: GGUFParseLimits = DEFAULT_LIMITS): Promise<GGUFFile> {
  checkLimits(limits);
  const { fh, stats: st } = await openRegularFile(path);
  try {
    const src = new AsyncSource(st.size, limits);
    await src.load(fh, Math.min(st.size, FIRST_CHUNK), path);
    const clock: SliceClock = { deadline: 0 };
    for (;;) {
      try {
        await sliced(parseGGUFSteps(src, limits, true, clock), clock);
        return await sliced(parseGGUFSteps(src, limits, false, clock), clock);
      } catch (e) {
        if (!(e instanceof NeedMoreBytes)) throw e;
        await src.load(fh, e.end, path);
      }
    }
  } finally {
    await fh.close();
  }
}

function checkLimits(limits: unknown): asserts limits is GGUFParseLimits {
  const m = (limits as Partial<GGUFParseLimits> | null)?.maxHeaderBytes;
  if (limits === null || typeof limits !== 'object' || typeof m !== 'number' || !Number.isSafeInteger(m) || m < 0)
    throw new InvalidArgumentError('limits must be { maxHeaderBytes: a non-negative integer }');
}

/** Runs parse steps in slices of SLICE_MS, yielding to the event loop between them. */
async function sliced<T>(steps: Generator<void, T, void>, clock: SliceClock): Promise<T> {
  for (;;) {
    clock.deadline = performance.now() + SLICE_MS;
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Parses a GGUF header held in memory (`bytes` = the file, or its first part with `fileSize` the full size). */
export function parseGGUFBuffer(
  bytes: Uint8Array,
  fileSize = bytes.byteLength,
  limits: GGUFParseLimits = DEFAULT_LIMITS,
): GGUFFile {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('bytes must be a Uint8Array');
  if (typeof fileSize !== 'number' || !Number.isSafeInteger(fileSize) || fileSize < 0)
    throw new InvalidArgumentError('fileSize must be a non-negative integer');
  checkLimits(limits);
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const src = {
    fileSize,
    buf,
    loaded: Math.min(buf.length, fileSize),
    ensure(end: number): void {
      throw new IOError(`header needs byte ${end}, only ${buf.length} given`);
    },
  };
  return parseGGUF(src, limits);
}
