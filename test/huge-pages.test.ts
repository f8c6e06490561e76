/**
 * loadModel's hugePages (Linux): the weights read once into transparent huge
 * pages instead of through the file's 4 KB-page mapping. The same bytes, the
 * same logits; the request is honoured exactly where the system gives huge
 * pages on request, and refused options are errors.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { loadModel } from '../lib';
import { native } from '../lib/native';

const STORIES = path.join(__dirname, 'fixtures', 'models', 'stories260K.gguf');
const GUTENBERG = path.join(__dirname, 'fixtures', 'models', 'gutenberg-16m-q8_0.gguf');

/** What MappedFile::huge_pages_available() reads: Linux's THP mode "always" or "madvise". */
function thpOnRequest(): boolean {
  if (process.platform !== 'linux') return false;
  try {
    return /\[(always|madvise)\]/.test(fs.readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'));
  } catch {
    return false;
  }
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-hugepages-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('mapFileAsync: the huge-page copy holds the file byte for byte, where the system gives huge pages', async () => {
  // 5 MB + a few bytes: more than two 2 MB pages, an odd tail.
  const bytes = Buffer.alloc((5 << 20) + 13);
  for (let i = 0; i < bytes.length; i += 4096) bytes.writeUInt32LE((i * 2654435761) >>> 0, i);
  bytes[bytes.length - 1] = 0xab;
  const file = path.join(dir, 'blob.bin');
  fs.writeFileSync(file, bytes);
  const copy = await native().mapFileAsync(file, true);
  const mapped = await native().mapFileAsync(file, false);
  try {
    expect(copy.hugePages).toBe(thpOnRequest());
    expect(mapped.hugePages).toBe(false);
    expect(copy.size).toBe(bytes.length);
    expect(Buffer.from(copy.view(0, copy.size)).equals(bytes)).toBe(true);
    expect(Buffer.from(mapped.view(0, mapped.size)).equals(bytes)).toBe(true);
    // Everything was read: all of it resident.
    if (copy.hugePages) expect(copy.residentBytes()).toBeGreaterThanOrEqual(bytes.length);
  } finally {
    copy.close();
    mapped.close();
  }
  // An empty file, a missing one, a folder; a bad argument.
  const empty = path.join(dir, 'empty.bin');
  fs.writeFileSync(empty, '');
  const e = await native().mapFileAsync(empty, true);
  expect(e.size).toBe(0);
  expect(e.hugePages).toBe(false);
  e.close();
  await expect(native().mapFileAsync(path.join(dir, 'missing.bin'), true)).rejects.toMatchObject({ code: 'ERR_IO' });
  await expect(native().mapFileAsync(dir, true)).rejects.toMatchObject({ code: 'ERR_IO' });
  expect(() => native().mapFileAsync(file, 'yes' as unknown as boolean)).toThrow(
    expect.objectContaining({ code: 'ERR_INVALID_ARG' }),
  );
});

test.each([STORIES, GUTENBERG])('the same logits from huge pages and from the mapping (%s)', async (file) => {
  const paged = await loadModel(file, { backend: 'cpu', threads: 2, contextSize: 64, hugePages: true, quiet: true });
  const inPlace = await loadModel(file, { backend: 'cpu', threads: 2, contextSize: 64, hugePages: false, quiet: true });
  try {
    expect(paged.info.hugePages).toBe(thpOnRequest());
    expect(inPlace.info.hugePages).toBe(false);
    const ids = [1, 2, 3, 4, 5, 6, 7, 8];
    const a = await paged.createContext({ contextSize: 32 }).evaluate(ids);
    const b = await inPlace.createContext({ contextSize: 32 }).evaluate(ids);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    const g1 = await paged.generate('Once upon a time', { maxTokens: 12, temperature: 0 });
    const g2 = await inPlace.generate('Once upon a time', { maxTokens: 12, temperature: 0 });
    expect(g1.tokens).toEqual(g2.tokens);
  } finally {
    await Promise.all([paged.dispose(), inPlace.dispose()]);
  }
});

test('the default is the mapping in place; a non-boolean is refused', async () => {
  const cpu = await loadModel(STORIES, { backend: 'cpu', threads: 1, quiet: true });
  const sim = await loadModel(STORIES, { backend: 'metal-sim', quiet: true });
  try {
    expect(cpu.info.hugePages).toBe(false);
    expect(sim.info.hugePages).toBe(false);
  } finally {
    await Promise.all([cpu.dispose(), sim.dispose()]);
  }
  await expect(loadModel(STORIES, { hugePages: 'yes' as unknown as boolean })).rejects.toMatchObject({
    code: 'ERR_INVALID_ARG',
    message: 'hugePages must be a boolean, got "yes"',
  });
});
