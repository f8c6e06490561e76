/**
 * Split GGUF sets (`*-0000N-of-0000M.gguf`) load as one model: a 3-part set written here from
 * stories260K generates exactly what the single file does; broken sets are ERR_BAD_MODEL / ERR_IO.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MiniMacLLMError } from '../lib/errors';
import { readGGUFSync } from '../lib/gguf/reader';
import { parseSplitName, splitFileName } from '../lib/gguf/split';
import { describeGGUFSync, describeModel } from '../lib/model/description';
import { loadModel } from '../lib/model/model';
import { writeSplitGGUF } from './helpers/gguf-split';
import { fixture } from './helpers/model-refs';

const source = fixture('models', 'stories260K.gguf');
let dir: string;
let parts: string[];
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mml-split-'));
  parts = writeSplitGGUF(source, path.join(dir, 'stories'), 3);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(MiniMacLLMError);
    return `${(e as MiniMacLLMError).code}: ${(e as Error).message}`;
  }
  return 'resolved';
};

test('split file names', () => {
  expect(parseSplitName('/m/a-b-00002-of-00003.gguf')).toEqual({ prefix: '/m/a-b', no: 2, count: 3 });
  expect(parseSplitName('a-00004-of-00003.gguf')).toBeUndefined();
  expect(parseSplitName('a.gguf')).toBeUndefined();
  expect(splitFileName('x/m', 1, 12)).toBe('x/m-00001-of-00012.gguf');
});

test('the parts hold the tensors, the first the metadata', () => {
  const whole = readGGUFSync(source);
  const g = parts.map((p) => readGGUFSync(p));
  expect(g.map((p) => p.tensors.length).reduce((a, b) => a + b)).toBe(whole.tensors.length);
  expect(g.every((p) => p.tensors.length > 0)).toBe(true);
  expect(g[0]!.metadata['tokenizer.ggml.tokens']).toBeDefined();
  expect(g[1]!.metadata['tokenizer.ggml.tokens']).toBeUndefined();
  expect(g[2]!.metadata['split.no']).toBe(2);
});

test('any part describes the whole set', async () => {
  const whole = describeGGUFSync(source);
  for (const p of [parts[0]!, parts[2]!]) {
    const d = await describeModel(p);
    expect(d.files).toEqual(parts);
    expect(d.source).toBe(parts[0]);
    expect(d.tensors.size).toBe(whole.tensors.size);
    expect(d.fileBytes).toBe(parts.reduce((n, f) => n + fs.statSync(f).size, 0));
    expect(new Set([...d.tensors.values()].map((t) => t.file)).size).toBe(3);
    expect(d.hparams).toEqual(whole.hparams);
  }
  expect(describeGGUFSync(parts[1]!).files).toEqual(parts);
});

test('a split set generates exactly what the single file does', async () => {
  const opts = { backend: 'cpu' as const, contextSize: 128, quiet: true };
  const [a, b] = await Promise.all([loadModel(source, opts), loadModel(parts[1]!, opts)]);
  try {
    expect(b.info.fileBytes).toBeGreaterThan(a.info.fileBytes);
    const ga = await a.generate('Once upon a time', { maxTokens: 24, temperature: 0 });
    const gb = await b.generate('Once upon a time', { maxTokens: 24, temperature: 0 });
    expect(gb.tokens).toEqual(ga.tokens);
  } finally {
    await Promise.all([a.dispose(), b.dispose()]);
  }
});

test('broken sets are refused with the reason', async () => {
  const bad = fs.mkdtempSync(path.join(dir, 'bad-'));
  const p = writeSplitGGUF(source, path.join(bad, 'm'), 3);
  // a missing part
  fs.renameSync(p[2]!, `${p[2]}.away`);
  expect(await codeOf(describeModel(p[0]!))).toMatch(/^ERR_IO: cannot open .*m-00003-of-00003\.gguf/);
  // parts out of order
  fs.renameSync(p[1]!, p[2]!);
  fs.renameSync(`${p[2]}.away`, p[1]!);
  expect(await codeOf(describeModel(p[0]!))).toMatch(/^ERR_BAD_MODEL: .*split\.no is 2, expected 1/);
  // a part renamed without its suffix
  const lone = path.join(bad, 'renamed.gguf');
  fs.copyFileSync(p[0]!, lone);
  expect(await codeOf(describeModel(lone))).toMatch(/^ERR_BAD_MODEL: renamed\.gguf is part of a 3-part split GGUF/);
});
