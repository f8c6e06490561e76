/**
 * `minimacllm pull / ls / rm` and `--model hf:…` as users run them (dist/cli/main.js in child
 * processes) against the test Hub; the download progress display on a terminal and off it;
 * two processes pulling one file; a file size limit (disk full) keeping the partial for a resume.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { downloadProgress, formatBytes } from '../lib/cli/progress';
import type { DownloadProgress } from '../lib/hub/download';
import { TestHub } from './helpers/hub-server';
import { fixture } from './helpers/model-refs';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const stories = fs.readFileSync(fixture('models', 'stories260K.gguf'));
const q8 = fs.readFileSync(fixture('random', 'tiny-llama-q8_0.gguf'));
const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

const hub = new TestHub();
let tmp: string;
let cache: string;

beforeAll(async () => {
  if (!fs.existsSync(path.join(root, 'dist', 'cli', 'pull.js')))
    execFileSync('npm', ['run', 'build:ts'], { cwd: root, stdio: 'ignore' });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mml-hubcli-'));
  await hub.start();
  hub.addRepo('cli-org/stories-GGUF', { 'stories260K-Q8_0.gguf': stories, 'tiny-llama-Q8_0-extra.gguf': q8 });
});
afterAll(async () => {
  await hub.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});
beforeEach(() => {
  cache = fs.mkdtempSync(path.join(tmp, 'cache-'));
  hub.reset();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
/** Runs the CLI asynchronously (the test Hub answers from this process). `prefix`: a shell line before it. */
function run(args: string[], opts: { env?: Record<string, string>; shell?: string } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HF_ENDPOINT: hub.endpoint,
    HF_HUB_CACHE: cache,
    HF_HOME: path.join(tmp, 'home'),
    MINIMACLLM_HUB_BACKOFF_MS: '5',
    MINIMACLLM_QUIET: '1',
    ...opts.env,
  };
  delete env['HF_TOKEN'];
  delete env['HF_HUB_OFFLINE'];
  const [file, argv] = opts.shell
    ? ['bash', ['-c', `${opts.shell}; exec "$0" "$@"`, process.execPath, cli, ...args]]
    : [process.execPath, [cli, ...args]];
  return new Promise((resolve) => {
    execFile(file, argv, { cwd: root, env, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const snapshotFile = (name: string): string => {
  const snaps = path.join(cache, 'models--cli-org--stories-GGUF', 'snapshots');
  return path.join(snaps, fs.readdirSync(snaps)[0]!, name);
};

test('pull prints the local path; progress goes to stderr as plain lines when it is not a terminal', async () => {
  const r = await run(['pull', 'hf:cli-org/stories-GGUF:Q8_0']);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe(`${snapshotFile('stories260K-Q8_0.gguf')}\n`);
  expect(fs.readFileSync(r.stdout.trim()).equals(stories)).toBe(true);
  const lines = r.stderr.trim().split('\n');
  expect(lines[0]).toMatch(/^stories260K-Q8_0\.gguf\s+\d+%/);
  expect(r.stderr).toMatch(/stories260K-Q8_0\.gguf\s+100%\s+1\.13 MiB\/1\.13 MiB/);
  expect(r.stderr).toMatch(/downloaded 1\.13 MiB/);
  expect(r.stderr).not.toMatch(/[\r\x1b]/); // eslint-disable-line no-control-regex
  // again: nothing to download
  const again = await run(['pull', 'hf:cli-org/stories-GGUF:Q8_0']);
  expect(again.stdout).toBe(r.stdout);
  expect(again.stderr).toMatch(/already in the cache/);
});

test('generate --model hf:… generates what the local file does', async () => {
  const args = ['generate', 'Once upon a time', '--temperature', '0', '-n', '20', '--backend', 'cpu'];
  // one after the other: two CPU-bound processes at once would crowd the shared cores
  const viaHub = await run([...args, '--model', 'hf:cli-org/stories-GGUF:Q8_0']);
  const local = await run([...args, '--model', fixture('models', 'stories260K.gguf')]);
  expect(viaHub.code).toBe(0);
  expect(viaHub.stdout).toBe(local.stdout);
  expect(viaHub.stderr).toMatch(/stories260K-Q8_0\.gguf\s+100%/);
  const inspect = await run(['inspect', 'hf:cli-org/stories-GGUF:Q8_0']);
  expect(inspect.code).toBe(0);
  expect(inspect.stdout).toMatch(/^GGUF llama/);
});

test('ls lists repo, revision, file, quant, size and path; rm removes; errors are one line with a code', async () => {
  expect((await run(['ls'])).stderr).toMatch(/^no models in /);
  await run(['pull', '-q', 'hf:cli-org/stories-GGUF:Q8_0']);
  const ls = await run(['ls']);
  expect(ls.code).toBe(0);
  const [header, row, ...rest] = ls.stdout.trim().split('\n');
  expect(header).toMatch(/^REPO\s+REVISION\s+FILE\s+QUANT\s+SIZE\s+PATH$/);
  expect(row!.split(/\s{2,}/)).toEqual([
    'cli-org/stories-GGUF',
    'main',
    'stories260K-Q8_0.gguf',
    'Q8_0',
    formatBytes(stories.length),
    snapshotFile('stories260K-Q8_0.gguf'),
  ]);
  expect(rest).toEqual([]);
  const json = JSON.parse((await run(['ls', '--json'])).stdout) as Array<{ source: string; size: number }>;
  expect(json).toMatchObject([{ source: 'hf:cli-org/stories-GGUF/stories260K-Q8_0.gguf', size: stories.length }]);
  const rm = await run(['rm', 'hf:cli-org/stories-GGUF:Q8_0']);
  expect(rm.code).toBe(0);
  expect(rm.stdout).toBe(`removed hf:cli-org/stories-GGUF/stories260K-Q8_0.gguf (1.13 MiB)\nfreed 1.13 MiB\n`);
  expect(fs.existsSync(path.join(cache, 'models--cli-org--stories-GGUF'))).toBe(false);
  const missing = await run(['rm', 'hf:cli-org/stories-GGUF']);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toMatch(/^minimacllm rm: ERR_NOT_FOUND: cli-org\/stories-GGUF is not in the cache .*\n$/);
  const bad = await run(['pull', 'hf:cli-org/stories-GGUF:Q2_K']);
  expect(bad.stderr).toMatch(/ERR_NOT_FOUND: no GGUF file for quant Q2_K .*it has: Q8_0\n/);
});

test('two processes pulling one file: one downloads, the other waits; the bytes are served once', async () => {
  hub.fault(stories, { type: 'slow', chunk: 128 * 1024, intervalMs: 40 });
  const [a, b] = await Promise.all([
    run(['pull', 'hf:cli-org/stories-GGUF:Q8_0']),
    run(['pull', 'hf:cli-org/stories-GGUF:Q8_0']),
  ]);
  expect([a.code, b.code]).toEqual([0, 0]);
  expect(a.stdout).toBe(b.stdout);
  expect(`${a.stderr}${b.stderr}`).toMatch(/waiting for another process downloading stories260K-Q8_0\.gguf/);
  expect(hub.servedBytes(stories)).toBe(stories.length);
  expect(fs.readFileSync(a.stdout.trim()).equals(stories)).toBe(true);
});

test('disk full (a file size limit): ERR_IO, the partial file is kept, and the next pull resumes it', async () => {
  const limited = await run(['pull', 'hf:cli-org/stories-GGUF:Q8_0'], { shell: 'ulimit -f 256' });
  expect(limited.code).toBe(1);
  expect(limited.stderr).toMatch(/ERR_IO: .*no space left/);
  const blobs = path.join(cache, 'models--cli-org--stories-GGUF', 'blobs');
  expect(fs.readdirSync(blobs)).toEqual([`${sha256(stories)}.incomplete`]);
  expect(fs.statSync(path.join(blobs, `${sha256(stories)}.incomplete`)).size).toBe(256 * 1024);
  hub.reset();
  const r = await run(['pull', 'hf:cli-org/stories-GGUF:Q8_0']);
  expect(r.code).toBe(0);
  expect(hub.requests('cdn', 'GET').map((g) => g.range)).toEqual([`bytes=${256 * 1024}-`]);
  expect(hub.servedBytes(stories)).toBe(stories.length - 256 * 1024);
  expect(fs.readFileSync(r.stdout.trim()).equals(stories)).toBe(true);
});

describe('the progress display', () => {
  const events = (n: number): DownloadProgress[] =>
    Array.from({ length: n + 1 }, (_, i) => ({
      file: 'model-Q4_K_M.gguf',
      downloadedBytes: Math.round((i / n) * 50 * 2 ** 20),
      totalBytes: 50 * 2 ** 20,
      bytesPerSecond: 5 * 2 ** 20,
      fileIndex: 1,
      fileCount: 2,
    }));
  const render = (tty: boolean, env: Record<string, string>): string => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (c: Buffer) => (text += c.toString()));
    Object.assign(out, { isTTY: tty, columns: 100 });
    const p = downloadProgress(out, env);
    for (const e of events(4)) p.onProgress(e);
    p.done();
    return text;
  };

  test('on a terminal: a redrawn bar with file, size, percent, speed, ETA, in colour unless NO_COLOR', () => {
    const color = render(true, { TERM: 'xterm' });
    expect(color).toContain('[1/2] model-Q4_K_M.gguf');
    expect(color).toContain('█');
    expect(color).toMatch(/100%\s+50\.0 MiB\/50\.0 MiB\s+5\.00 MiB\/s\s+ETA 0s/);
    expect(color).toMatch(/\x1b\[36m/); // eslint-disable-line no-control-regex
    const plain = render(true, { TERM: 'xterm', NO_COLOR: '1' });
    expect(plain).toContain('█');
    expect(plain).not.toMatch(/\x1b\[\d+(;\d+)*m/); // eslint-disable-line no-control-regex
  });

  test('off a terminal: plain lines, no bar, no escape codes', () => {
    const text = render(false, {});
    const lines = text.trim().split('\n');
    expect(lines[0]).toMatch(/^\[1\/2\] model-Q4_K_M\.gguf\s+0%\s+0 B\/50\.0 MiB\s+5\.00 MiB\/s\s+ETA 10s$/);
    expect(lines[lines.length - 1]).toMatch(/100%/);
    expect(text).not.toMatch(/[█\x1b\r]/); // eslint-disable-line no-control-regex
  });
});
