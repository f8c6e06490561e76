/**
 * The CLI as users run it: dist/cli/main.js (built by `npm run build:ts`,
 * which `npm test` runs first; built here when missing).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture } from './helpers/model-refs';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');

beforeAll(() => {
  if (!fs.existsSync(path.join(root, 'dist', 'cli', 'generate.js')))
    execFileSync('npm', ['run', 'build:ts'], { cwd: root, stdio: 'ignore' });
});

const run = (args: string[]): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, [cli, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, MINIMACLLM_QUIET: '1' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

test('npx minimacllm generate "Once upon a time" prints a story with the embedded model', () => {
  expect(fs.existsSync(path.join(root, 'models', 'stories260K.gguf'))).toBe(true);
  const r = run(['generate', 'Once upon a time', '--max-tokens', '60', '--seed', '1']);
  expect(r.status).toBe(0);
  expect(r.stdout.startsWith('Once upon a time')).toBe(true);
  expect(r.stdout.length).toBeGreaterThan(100);
  expect(r.stderr).toMatch(/tok\/s/);
});

test('generate is greedy and reproducible with --temperature 0', () => {
  const a = run(['generate', '--temperature', '0', '-n', '30', '--backend', 'cpu', '--threads', '1']);
  const b = run(['generate', '--temperature', '0', '-n', '30', '--model', fixture('models', 'stories260K.gguf')]);
  expect(a.status).toBe(0);
  expect(a.stdout).toBe(b.stdout);
  expect(a.stdout.startsWith('Once upon a time')).toBe(true);
});

test('bad options are usage errors', () => {
  const r = run(['generate', 'x', '--max-tokens=-3']);
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/--max-tokens must be an integer >= 1/);
  expect(run(['perplexity']).stderr).toMatch(/--file is required/);
  expect(run(['help']).stdout).toMatch(/generate.*\n(.|\n)*perplexity/);
});

test('perplexity on the embedded model', () => {
  const r = run([
    'perplexity',
    '--file',
    fixture('reference', 'pride-and-prejudice-ch1-10.txt'),
    '--ctx',
    '64',
    '--windows',
    '2',
  ]);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^perplexity: \d+\.\d{4} \(2 windows of 64 tokens, 128 tokens scored/);
});

test('chat reads turns from stdin', () => {
  const r = spawnSync(process.execPath, [cli, 'chat', '-n', '20', '--seed', '1'], {
    cwd: root,
    encoding: 'utf8',
    input: 'Hello\n\n',
    env: { ...process.env, MINIMACLLM_QUIET: '1' },
  });
  expect(r.status).toBe(0);
  expect(r.stdout.startsWith('> ')).toBe(true);
});

test('--kv-type q8_0 (generate, perplexity); a bad or unsupported one is an error', () => {
  const gutenberg = fixture('models', 'gutenberg-16m-q8_0.gguf');
  const g = run(['generate', 'The old man', '-m', gutenberg, '--kv-type', 'q8_0', '--ctx', '64', '-n', '8']);
  expect(g.status).toBe(0);
  expect(g.stdout.startsWith('The old man')).toBe(true);
  const p = run([
    'perplexity',
    '-m',
    gutenberg,
    '--kv-type',
    'q8_0',
    '-f',
    fixture('reference', 'pride-and-prejudice-ch1-10.txt'),
    '--ctx',
    '64',
    '--windows',
    '2',
  ]);
  expect(p.status).toBe(0);
  expect(p.stdout).toMatch(/^perplexity: \d+\.\d{4} \(2 windows of 64 tokens/);
  const bad = run(['generate', 'x', '--kv-type', 'q4_0']);
  expect(bad.status).toBe(2);
  expect(bad.stderr).toMatch(/--kv-type must be one of f16, q8_0, f32, got "q4_0"/);
  // The embedded stories260K has head_dim 8: no whole q8_0 block per head.
  const unsupported = run(['generate', 'x', '--kv-type', 'q8_0']);
  expect(unsupported.status).toBe(1);
  expect(unsupported.stderr).toMatch(/ERR_UNSUPPORTED: kvType 'q8_0' needs head_dim a multiple of 32/);
});

test('--huge-pages: the weights in 2 MB pages, the same greedy text', () => {
  const gutenberg = fixture('models', 'gutenberg-16m-q8_0.gguf');
  const args = ['generate', 'The old man', '-m', gutenberg, '--ctx', '64', '-n', '12', '--temperature', '0'];
  const mapped = run(args);
  const paged = run([...args, '--huge-pages']);
  expect(paged.status).toBe(0);
  expect(mapped.status).toBe(0);
  expect(mapped.stdout).toBe(paged.stdout);
  expect(run(['generate', '--help']).stdout).toContain('--huge-pages');
});
