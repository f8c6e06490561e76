/**
 * model.embed() against llama.cpp: tiny-qwen3-embed-mean-f16 (qwen3.pooling_type = 1)
 * and its pooled embeddings from llama.cpp (node-llama-cpp's getEmbeddingFor, not
 * normalized) for 3 texts: cosine >= 0.999 on the CPU and under metal-sim (the
 * issue's bar; measured 0.99999+), and the unnormalized vectors within 1e-3 * max|v|.
 * The fixture lists each text's tokens without BOS, but llama.cpp evaluated BOS first
 * (the model's add_bos_token; measured: with BOS cosine 1.00000, without 0.76-0.89), as
 * embed(text) does.
 * Pooling modes against each other: 'none' gives every token's vector, whose mean /
 * first / last rows are the 'mean' / 'cls' / 'last' vectors.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel, type Model } from '../lib/model/model';
import { fixture, readJson } from './helpers/model-refs';

interface EmbCase {
  text: string;
  tokens: number[];
  embedding: number[];
}
const FILE = fixture('embed', 'tiny-qwen3-embed-mean-f16.gguf');
const cases = readJson<{ cases: EmbCase[] }>('embed', 'tiny-qwen3-embed-mean-f16.emb.json').cases;

const cosine = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let ab = 0,
    aa = 0,
    bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
};
const norm = (a: ArrayLike<number>): number => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));

async function expectLlamaCpp(model: Model): Promise<void> {
  for (const c of cases) {
    expect(model.tokenize(c.text)).toEqual([1, ...c.tokens]);
    const v = await model.embed(c.text);
    expect(v).toHaveLength(256);
    expect(Math.abs(norm(v) - 1)).toBeLessThan(1e-5);
    expect(cosine(v, c.embedding)).toBeGreaterThanOrEqual(0.999);
  }
}

test("metal-sim: llama.cpp's pooled embeddings, cosine >= 0.999 (the pool node runs on the CPU)", async () => {
  const model = await loadModel(FILE, { backend: 'metal-sim', threads: 2 });
  try {
    await expectLlamaCpp(model);
  } finally {
    await model.dispose();
  }
});

describe('embed on the CPU', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(FILE, { backend: 'cpu', threads: 2 });
  });
  afterAll(() => model.dispose());

  test("llama.cpp's pooled embeddings: cosine >= 0.999, unit length by default", async () => {
    await expectLlamaCpp(model);
    for (const c of cases) {
      const raw = await model.embed([1, ...c.tokens], { normalize: false });
      const m = Math.max(...c.embedding.map(Math.abs));
      for (let i = 0; i < raw.length; i++) expect(Math.abs(raw[i]! - c.embedding[i]!)).toBeLessThan(1e-3 * m);
    }
  });

  test('several inputs give one vector each; texts are tokenized as tokenize() does', async () => {
    const vs = await model.embed(cases.map((c) => [1, ...c.tokens]));
    expect(vs).toHaveLength(cases.length);
    for (const [i, c] of cases.entries()) expect(cosine(vs[i]!, c.embedding)).toBeGreaterThanOrEqual(0.999);
    const [t] = await model.embed([cases[0]!.text]);
    const same = await model.embed(model.tokenize(cases[0]!.text));
    expect(Array.from(t!)).toEqual(Array.from(same));
  });

  test("pooling 'none' holds every token's vector; mean, cls and last pool it", async () => {
    const ids = cases[1]!.tokens;
    const all = await model.embed(ids, { pooling: 'none', normalize: false });
    expect(all).toHaveLength(ids.length * 256);
    const row = (r: number): Float32Array => all.subarray(r * 256, (r + 1) * 256);
    const mean = new Float64Array(256);
    for (let r = 0; r < ids.length; r++) for (let c = 0; c < 256; c++) mean[c]! += row(r)[c]! / ids.length;
    const got = await model.embed(ids, { pooling: 'mean', normalize: false });
    for (let c = 0; c < 256; c++) expect(Math.abs(got[c]! - mean[c]!)).toBeLessThan(1e-5);
    expect(Array.from(await model.embed(ids, { pooling: 'cls', normalize: false }))).toEqual(Array.from(row(0)));
    expect(Array.from(await model.embed(ids, { pooling: 'last', normalize: false }))).toEqual(
      Array.from(row(ids.length - 1)),
    );
    const unit = await model.embed(ids, { pooling: 'none' });
    for (const r of [0, 5, ids.length - 1])
      expect(Math.abs(norm(unit.subarray(r * 256, (r + 1) * 256)) - 1)).toBeLessThan(1e-5);
  });
});

test('bad inputs and options are ERR_INVALID_ARG; embed after dispose is ERR_DISPOSED', async () => {
  const model = await loadModel(FILE, { backend: 'cpu' });
  await expect(model.embed([])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  await expect(model.embed('a', { pooling: 'max' as 'mean' })).rejects.toMatchObject({
    code: 'ERR_INVALID_ARG',
    message: 'pooling must be one of mean, cls, last, none, got "max"',
  });
  await expect(model.embed('a', { normalize: 1 as unknown as boolean })).rejects.toMatchObject({
    code: 'ERR_INVALID_ARG',
  });
  await expect(model.embed([1, 99999])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  await expect(model.embed([{}] as unknown as string[])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  await model.dispose();
  await expect(model.embed('a')).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
});

describe('minimacllm embed (dist/cli/main.js)', () => {
  const root = path.join(__dirname, '..');
  const cli = path.join(root, 'dist', 'cli', 'main.js');
  beforeAll(() => {
    if (!fs.existsSync(path.join(root, 'dist', 'cli', 'embed.js')))
      execFileSync('npm', ['run', 'build:ts'], { cwd: root, stdio: 'ignore' });
  });
  const run = (args: string[], input?: string): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [cli, 'embed', '--model', FILE, '--backend', 'cpu', ...args], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, MINIMACLLM_QUIET: '1' },
      ...(input !== undefined && { input }),
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  test('prints a JSON vector per text, from arguments or stdin lines', () => {
    const one = run([cases[0]!.text]);
    expect(one.status).toBe(0);
    const v = JSON.parse(one.stdout) as number[];
    expect(cosine(v, cases[0]!.embedding)).toBeGreaterThanOrEqual(0.999);
    const two = run([], `${cases[0]!.text}\n${cases[2]!.text}\n`);
    expect(two.status).toBe(0);
    const vs = JSON.parse(two.stdout) as number[][];
    expect(vs).toHaveLength(2);
    expect(cosine(vs[1]!, cases[2]!.embedding)).toBeGreaterThanOrEqual(0.999);
    const raw = JSON.parse(run(['--no-normalize', cases[2]!.text]).stdout) as number[];
    expect(Math.abs(norm(raw) - norm(cases[2]!.embedding))).toBeLessThan(1e-3 * norm(raw));
  });

  test('a bad --pooling is an error naming the choices', () => {
    const r = run(['--pooling', 'max', 'x']);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--pooling must be one of mean, cls, last, none/);
  });
});
