/**
 * What a command-line user notices first: --version, --help on stdout with 0, usage errors on stderr
 * with 2, runtime errors as one `code: message` line with 1 (the stack only with --verbose), colours
 * only when allowed, no Metal notice off a Mac. Runs dist/cli/main.js as users do.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const version = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;

beforeAll(() => {
  if (!fs.existsSync(cli)) execFileSync('npm', ['run', 'build:ts'], { cwd: root, stdio: 'ignore' });
});

const run = (
  args: string[],
  env: Record<string, string | undefined> = {},
): { status: number | null; stdout: string; stderr: string } => {
  const base: Record<string, string | undefined> = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined };
  delete base['MINIMACLLM_QUIET'];
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', env: { ...base, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

test('--version and -v print the version on stdout', () => {
  for (const flag of ['--version', '-v'])
    expect(run([flag])).toEqual({ status: 0, stdout: `${version}\n`, stderr: '' });
});

test('--help goes to stdout with exit 0; a missing or unknown command is a usage error (stderr, 2)', () => {
  const help = run(['--help']);
  expect(help.status).toBe(0);
  expect(help.stderr).toBe('');
  expect(help.stdout).toMatch(/^usage: minimacllm <command>/);
  expect(help.stdout).toMatch(/--version/);
  expect(help.stdout).toMatch(/exit status: 0 done, 1 failed .*, 2 usage error/);
  const sub = run(['generate', '--help']);
  expect([sub.status, sub.stderr]).toEqual([0, '']);
  expect(sub.stdout).toMatch(/^usage: minimacllm generate/);
  expect(run(['help', 'generate']).stdout).toBe(sub.stdout);
  const none = run([]);
  expect([none.status, none.stdout]).toEqual([2, '']);
  expect(none.stderr).toMatch(/a command is required[^]*usage:/);
  const unknown = run(['frobnicate']);
  expect([unknown.status, unknown.stdout]).toEqual([2, '']);
  expect(unknown.stderr).toMatch(/^minimacllm: unknown command "frobnicate"/);
  expect(run(['--frob']).stderr).toMatch(/unknown option "--frob"/);
});

test('bad options are usage errors: stderr, exit 2, a pointer to --help', () => {
  for (const args of [['generate', '--bogus'], ['generate', 'x', '--max-tokens=-3'], ['perplexity']]) {
    const r = run(args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(new RegExp(`^minimacllm ${args[0]}: .+\\n(.*\\n)*see: minimacllm ${args[0]} --help\\n$`));
  }
});

test('runtime errors: one `code: message` line, exit 1; the stack only with --verbose', () => {
  const missing = path.join(os.tmpdir(), `minimacllm-missing-${process.pid}.gguf`);
  const r = run(['inspect', missing]);
  expect(r.status).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^minimacllm inspect: ERR_[A-Z_]+: .*minimacllm-missing/);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  const v = run(['--verbose', 'inspect', missing]);
  expect(v.status).toBe(1);
  expect(v.stderr).toMatch(/^minimacllm inspect: ERR_[A-Z_]+: /);
  expect(v.stderr).toMatch(/\n\s+at /);
  // --verbose is global: it may also follow the command.
  expect(run(['inspect', missing, '--verbose']).stderr).toMatch(/\n\s+at /);
});

const ESC = String.fromCharCode(27);
test('colours only when allowed: never in a pipe, never under NO_COLOR, FORCE_COLOR forces them', () => {
  const missing = path.join(os.tmpdir(), `minimacllm-missing-${process.pid}.gguf`);
  expect(run(['inspect', missing]).stderr).not.toContain(`${ESC}[`);
  expect(run(['inspect', missing], { FORCE_COLOR: '1' }).stderr).toContain(`${ESC}[31mERR_`);
  expect(run(['inspect', missing], { FORCE_COLOR: '1', NO_COLOR: '1' }).stderr).not.toContain(`${ESC}[`);
});

(process.platform === 'darwin' ? test.skip : test)(
  'no Metal notice off a Mac; --verbose shows the library notices',
  () => {
    const r = run(['generate', 'Once', '-n', '4', '--threads', '1', '--quiet']);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const v = run(['generate', 'Once', '-n', '4', '--threads', '1', '--quiet', '--verbose']);
    expect(v.status).toBe(0);
    expect(v.stderr).toMatch(/^minimacllm: backend auto: using the CPU backend\n/m);
    expect(v.stderr).toMatch(/^minimacllm: loaded .* on cpu with 1 threads/m);
    expect(v.stderr).not.toMatch(/backend: 'cpu'/);
  },
);

test('chat keeps going when the conversation outgrows --ctx: the oldest turns go, said once', () => {
  const lines = Array.from({ length: 8 }, (_, i) => `Tell me story number ${i + 1} about a cat and a dog.`);
  const r = spawnSync(
    process.execPath,
    [cli, 'chat', '--ctx', '96', '-n', '24', '--temperature', '0', '--threads', '1', '--system', 'Be brief.'],
    { cwd: root, encoding: 'utf8', input: `${lines.join('\n')}\n`, env: { ...process.env, MINIMACLLM_QUIET: '1' } },
  );
  expect(r.stderr.match(/outgrew the context \(96 tokens\); dropping its oldest turns/g)).toHaveLength(1);
  expect(r.status).toBe(0);
  expect(r.stdout.split('> ').length - 1).toBe(9); // every message answered, then the prompt for the next
  // A message too long by itself still ends the chat, with the error's code.
  const long = spawnSync(process.execPath, [cli, 'chat', '--ctx', '16', '--threads', '1'], {
    cwd: root,
    encoding: 'utf8',
    input: `${'once upon a time '.repeat(20)}\n`,
    env: { ...process.env, MINIMACLLM_QUIET: '1' },
  });
  expect(long.status).toBe(1);
  expect(long.stderr).toMatch(/^minimacllm chat: ERR_CONTEXT_OVERFLOW: /);
});

test('perplexity shows its progress: plain lines in a pipe (no colours), the result on stdout', () => {
  const r = run([
    'perplexity',
    '--file',
    path.join(root, 'test', 'fixtures', 'reference', 'pride-and-prejudice-ch1-10.txt'),
    '--ctx',
    '64',
    '--windows',
    '2',
    '--threads',
    '1',
  ]);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/^perplexity: \d+\.\d{4} \(2 windows/);
  expect(r.stderr).toMatch(/^perplexity \[2\/2\] 100% .* ppl \d+\.\d{4}$/m);
  expect(r.stderr).not.toContain(`${ESC}[`);
});

test('convert shows its progress as plain lines in a pipe, nothing with --quiet', () => {
  const hf = path.join(root, 'test', 'fixtures', 'models', 'gutenberg-16m-hf');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-convert-progress-'));
  try {
    const r = run(['convert', hf, path.join(dir, 'a.gguf'), '--type', 'f16']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/^convert \[(\d+)\/\1\] 100% .*\nwrote .*a\.gguf\n$/m);
    expect(r.stderr).not.toContain(`${ESC}[`);
    const q = run(['convert', hf, path.join(dir, 'b.gguf'), '--type', 'f16', '--quiet']);
    expect([q.status, q.stderr]).toEqual([0, '']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
