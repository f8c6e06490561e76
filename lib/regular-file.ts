/**
 * Opening files that must be regular files (model files, JSON configs).
 * Opening a FIFO for reading blocks until a writer appears, and a character
 * device can be read forever: both are refused with ERR_IO before anything
 * is read. The file is opened non-blocking (which changes nothing for a
 * regular file) and checked with fstat on the open descriptor, so no rename
 * between a check and the open can slip another kind of file in.
 */
import * as fs from 'node:fs';
import { InvalidArgumentError, IOError } from './errors';

// Windows has no O_NONBLOCK (and no FIFOs at file paths).
const FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0);

/** A path argument: a non-empty string (Buffers and URLs are not accepted by the public API). */
export function checkPath(path: unknown, what = 'path'): string {
  if (typeof path !== 'string' || path.length === 0)
    throw new InvalidArgumentError(`${what} must be a non-empty string`);
  if (path.includes('\0')) throw new InvalidArgumentError(`${what} must not contain NUL characters`);
  return path;
}

function openError(path: string, e: unknown): IOError {
  return new IOError(`cannot open ${path}: ${(e as Error).message}`, { cause: e });
}

function notRegular(path: string, st: fs.Stats): IOError {
  const kind = st.isFIFO()
    ? 'a FIFO'
    : st.isDirectory()
      ? 'a directory'
      : st.isCharacterDevice() || st.isBlockDevice()
        ? 'a device'
        : st.isSocket()
          ? 'a socket'
          : 'not a regular file';
  return new IOError(`${path} is ${kind === 'not a regular file' ? kind : `${kind}, not a regular file`}`);
}

/** Opens `path` for reading; ERR_IO unless it is a regular file. Returns the handle and its stats. */
export async function openRegularFile(path: string): Promise<{ fh: fs.promises.FileHandle; stats: fs.Stats }> {
  checkPath(path);
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(path, FLAGS);
  } catch (e) {
    throw openError(path, e);
  }
  try {
    const stats = await fh.stat();
    if (!stats.isFile()) throw notRegular(path, stats);
    return { fh, stats };
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw e instanceof IOError ? e : openError(path, e);
  }
}

/** Synchronous openRegularFile: a file descriptor (close it) and its stats. */
export function openRegularFileSync(path: string): { fd: number; stats: fs.Stats } {
  checkPath(path);
  let fd: number;
  try {
    fd = fs.openSync(path, FLAGS);
  } catch (e) {
    throw openError(path, e);
  }
  try {
    const stats = fs.fstatSync(fd);
    if (!stats.isFile()) throw notRegular(path, stats);
    return { fd, stats };
  } catch (e) {
    fs.closeSync(fd);
    throw e instanceof IOError ? e : openError(path, e);
  }
}

/** The whole regular file at `path` as UTF-8 text, refusing files over `maxBytes` (`tooBig` makes that error). */
export async function readRegularTextFile(
  path: string,
  maxBytes: number,
  tooBig: (size: number) => Error,
): Promise<string> {
  const { fh, stats } = await openRegularFile(path);
  try {
    if (stats.size > maxBytes) throw tooBig(stats.size);
    try {
      return await fh.readFile({ encoding: 'utf8' });
    } catch (e) {
      throw new IOError(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
}
