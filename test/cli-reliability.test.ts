/**
 * Issue 11, the CLI: a closed stdout (`| head`) ends generation quietly
 * (item 4), a FIFO as --model is ERR_IO (item 10), and convert never loses
 * data (item 18): no overwrite without --force, never over an input, the
 * temporary file removed on errors and signals. Runs dist/cli/main.js as
 * users do (built by `npm test`'s pretest; built here when missing).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fixture } from './helpers/model-refs';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const HF = fixture('models', 'gutenberg-16m-hf');
let dir: string;

beforeAll(() => {
  if (!fs.existsSync(path.join(root, 'dist', 'cli', 'stdout.js')))
    execFileSync('npm', ['run', 'build:ts'], { cwd: root, stdio: 'ignore' });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-cli-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const run = (args: string[], timeout = 60000): { status: number | null; stdout: string; stderr: string } => {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

const posix = process.platform !== 'win32';

(posix ? test : test.skip)('4: `generate -n 3000 Once | head -c 10` ends quietly, no EPIPE stack trace', () => {
  const errFile = path.join(dir, 'stderr.txt');
  const t0 = Date.now();
  const r = spawnSync(
    'sh',
    ['-c', `"${process.execPath}" "${cli}" generate -n 3000 --backend cpu Once 2>"${errFile}" | head -c 10`],
    { encoding: 'utf8', timeout: 60000 },
  );
  expect(r.status).toBe(0);
  expect(r.stdout).toBe('Onceupon a'.slice(0, 10));
  const stderr = fs.readFileSync(errFile, 'utf8');
  expect(stderr).not.toMatch(/EPIPE|Error|at .*\.js/);
  expect(Date.now() - t0).toBeLessThan(30000);
});

(posix ? test : test.skip)('4: the exit status is 0 and generation stops when the reader goes away', async () => {
  const child = spawn(process.execPath, [cli, 'generate', '-n', '2000', '--backend', 'cpu', 'Once'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout.once('data', () => child.stdout.destroy());
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect(status).toBe(0);
  expect(stderr).not.toMatch(/EPIPE|Error|at .*\.js/);
});

(posix ? test : test.skip)('10: --model pointing at a FIFO is ERR_IO, never a hang', () => {
  const fifo = path.join(dir, 'model.fifo');
  execFileSync('mkfifo', [fifo]);
  const r = run(['generate', '--model', fifo, 'x'], 20000);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/ERR_IO: .*FIFO/);
  expect(run(['inspect', fifo], 20000).stderr).toMatch(/ERR_IO: /);
});

describe('18: convert never loses data', () => {
  const model = (): string => {
    const d = fs.mkdtempSync(path.join(dir, 'hf-'));
    fs.cpSync(HF, d, { recursive: true });
    return d;
  };
  const snapshot = (d: string): Record<string, string> =>
    Object.fromEntries(
      fs
        .readdirSync(d)
        .sort()
        .map((f) => [
          f,
          fs.readFileSync(path.join(d, f)).toString('base64').slice(0, 64) + fs.statSync(path.join(d, f)).size,
        ]),
    );

  test('an existing output is not replaced without --force', () => {
    const out = path.join(dir, 'exists.gguf');
    fs.writeFileSync(out, 'precious');
    const r = run(['convert', HF, out, '--type', 'f16']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/exists.*--force/);
    expect(fs.readFileSync(out, 'utf8')).toBe('precious');
    const f = run(['convert', HF, out, '--type', 'f16', '--force', '--quiet']);
    expect(f.stderr).toBe('');
    expect(f.status).toBe(0);
    expect(fs.readFileSync(out).subarray(0, 4).toString()).toBe('GGUF');
  });

  test("the model's own files are never written, even with --force (also through a symlink or hard link)", () => {
    const d = model();
    const before = snapshot(d);
    for (const target of ['model-00001-of-00003.safetensors', 'config.json', 'tokenizer.json']) {
      const r = run(['convert', d, path.join(d, target), '--force']);
      expect(r.status).toBe(2); // a usage error: the output names one of the inputs
      expect(r.stderr).toMatch(/input/);
    }
    fs.symlinkSync(path.join(d, 'config.json'), path.join(dir, 'link.gguf'));
    expect(run(['convert', d, path.join(dir, 'link.gguf'), '--force']).stderr).toMatch(/input/);
    fs.linkSync(path.join(d, 'tokenizer.json'), path.join(dir, 'hard.gguf'));
    expect(run(['convert', d, path.join(dir, 'hard.gguf'), '--force']).stderr).toMatch(/input/);
    expect(snapshot(d)).toEqual(before);
    expect(fs.readdirSync(d).filter((f) => f.includes('tmp'))).toEqual([]);
  });

  test('a failed conversion leaves no temporary file and the old output intact', () => {
    const d = model();
    fs.writeFileSync(path.join(d, 'tokenizer.json'), '{ not json');
    const out = path.join(dir, 'failed', 'out.gguf');
    fs.mkdirSync(path.dirname(out));
    fs.writeFileSync(out, 'old');
    const r = run(['convert', d, out, '--force']);
    expect(r.status).toBe(1);
    expect(fs.readdirSync(path.dirname(out))).toEqual(['out.gguf']);
    expect(fs.readFileSync(out, 'utf8')).toBe('old');
  });

  (posix ? test.each(['SIGINT', 'SIGTERM'] as const) : test.skip.each(['SIGINT', 'SIGTERM'] as const))(
    '%s during a conversion removes the temporary file',
    async (signal) => {
      const outDir = fs.mkdtempSync(path.join(dir, 'sig-'));
      const out = path.join(outDir, 'out.gguf');
      // Stopped the moment the temporary file appears (inotify), then interrupted and resumed:
      // the signal lands mid-conversion however fast the machine is.
      const appeared = new Promise<void>((resolve) => {
        const w = fs.watch(outDir, () => {
          w.close();
          child.kill('SIGSTOP');
          resolve();
        });
      });
      const child = spawn(process.execPath, [cli, 'convert', HF, out, '--type', 'q8_0'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      await appeared;
      expect(fs.readdirSync(outDir).length).toBe(1);
      child.kill(signal);
      child.kill('SIGCONT');
      const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(status).toBe(signal === 'SIGINT' ? 130 : 143);
      expect(stderr).toMatch(/interrupted/);
      expect(fs.readdirSync(outDir)).toEqual([]);
    },
  );
});
