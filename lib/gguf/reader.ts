/**
 * readGGUF / readGGUFSync: read a GGUF header from disk in growing chunks
 * (never the tensor data) and parse it with parser.ts.
 */
import * as fs from 'node:fs';
import { IOError } from '../errors';
import { openRegularFile, openRegularFileSync } from '../regular-file';
import {
  type ByteSource,
  DEFAULT_LIMITS,
  type GGUFFile,
  type GGUFParseLimits,
  NeedMoreBytes,
  parseGGUF,
} from './parser';

export type { GGUFFile, GGUFTensorInfo, GGUFParseLimits } from './parser';

const FIRST_CHUNK = 256 * 1024;

/** A growing prefix of the file; `grow` picks how much to have loaded to cover `end`. */
class Window {
  buf: Buffer = Buffer.alloc(0);
  loaded = 0;
  constructor(readonly fileSize: number) {}
  target(end: number): number {
    return Math.min(this.fileSize, Math.max(end, this.loaded * 2, FIRST_CHUNK));
  }
  /** Enlarges the buffer to `size`, keeping loaded bytes. */
  resize(size: number): void {
    if (size <= this.buf.length) return;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.loaded);
    this.buf = next;
  }
}

class SyncSource extends Window implements ByteSource {
  constructor(
    private readonly fd: number,
    fileSize: number,
    private readonly path: string,
  ) {
    super(fileSize);
  }
  ensure(end: number): void {
    const size = this.target(end);
    this.resize(size);
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
    this.resize(size);
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
  const { fd, stats } = openRegularFileSync(path);
  try {
    return parseGGUF(new SyncSource(fd, stats.size, path), limits);
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
  const { fh, stats: st } = await openRegularFile(path);
  try {
    const src = new AsyncSource(st.size);
    await src.load(fh, Math.min(st.size, FIRST_CHUNK), path);
    for (;;) {
      try {
        parseGGUF(src, limits, true);
        return parseGGUF(src, limits);
      } catch (e) {
        if (!(e instanceof NeedMoreBytes)) throw e;
        await src.load(fh, e.end, path);
      }
    }
  } finally {
    await fh.close();
  }
}

/** Parses a GGUF header held in memory (`bytes` = the file, or its first part with `fileSize` the full size). */
export function parseGGUFBuffer(
  bytes: Uint8Array,
  fileSize = bytes.byteLength,
  limits: GGUFParseLimits = DEFAULT_LIMITS,
): GGUFFile {
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
