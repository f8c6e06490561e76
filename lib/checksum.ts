/**
 * SHA-256 verification of model files (SECURITY.md: verify before loading).
 * Streams the file, so memory stays flat for multi-GB models.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { AbortError, ChecksumError, InvalidArgumentError, IOError } from './errors';
import { openRegularFile } from './regular-file';

/** Hex SHA-256 of the file at `path`. */
export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  if (signal?.aborted) throw new AbortError();
  const hash = createHash('sha256');
  const { fh } = await openRegularFile(path);
  let stream: fs.ReadStream;
  try {
    stream = fh.createReadStream({ highWaterMark: 1 << 20 });
    for await (const chunk of stream) {
      if (signal?.aborted) {
        stream.destroy();
        throw new AbortError();
      }
      hash.update(chunk as Buffer);
    }
  } catch (e) {
    if (e instanceof AbortError) throw e;
    throw new IOError(`cannot read ${path}: ${(e as Error).message}`, { cause: e });
  } finally {
    await fh.close().catch(() => undefined);
  }
  return hash.digest('hex');
}

/** Throws ERR_CHECKSUM unless the file's SHA-256 is `expectedHex` (64 hex digits, any case). */
export async function verifySha256(path: string, expectedHex: string, signal?: AbortSignal): Promise<void> {
  if (typeof expectedHex !== 'string' || !/^[0-9a-fA-F]{64}$/.test(expectedHex)) {
    throw new InvalidArgumentError(
      `sha256 must be 64 hexadecimal digits, got ${typeof expectedHex === 'string' ? JSON.stringify(expectedHex.slice(0, 80)) : typeof expectedHex}`,
    );
  }
  const actual = await sha256File(path, signal);
  if (actual !== expectedHex.toLowerCase()) {
    throw new ChecksumError(`${path}: sha256 is ${actual}, expected ${expectedHex.toLowerCase()}`);
  }
}
