/**
 * The published tarball (`npm pack`): only what users need (no native tests, Metal stub headers,
 * test fixtures or source maps), what install needs (the install script, its advice, the sources
 * for a fallback build, the prebuilds), and types that resolve for require and import alike
 * (@arethetypeswrong/cli reports no problems). The install-from-tarball check with a real
 * `npm install` and generation is scripts/check-package.js (`npm run check:package`, run by .ci/run).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..');
let tmp: string;
let tgz: string;
let files: string[];

beforeAll(() => {
  if (!fs.existsSync(path.join(root, 'dist', 'index.d.mts')))
    execFileSync('npm', ['run', 'build:ts'], { cwd: root, stdio: 'ignore' });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-pack-'));
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], {
    cwd: root,
    encoding: 'utf8',
  });
  const [info] = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tgz = path.join(tmp, info!.filename);
  files = info!.files.map((f) => f.path);
}, 60000);
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the tarball holds what users need and nothing else', () => {
  for (const f of [
    'package.json',
    'README.md',
    'dist/index.js',
    'dist/index.mjs',
    'dist/index.d.ts',
    'dist/index.d.mts',
    'dist/cli/main.js',
    'models/stories260K.gguf',
    'scripts/install.js',
    'scripts/native-advice.js',
    'binding.gyp',
    'native/core/graph.cc',
    'kernels/matmul.metal',
  ])
    expect(files).toContain(f);
  const unwanted = files.filter((f) =>
    /^(test|bench|docs|lib)\/|^native\/(test|metal\/stubs|metal_sim\/selftest)\/|fixtures|\.map$|\.tgz$/.test(f),
  );
  expect(unwanted).toEqual([]);
  // Every prebuild there is ships.
  const prebuilds = path.join(root, 'prebuilds');
  for (const p of fs.existsSync(prebuilds) ? fs.readdirSync(prebuilds) : [])
    for (const f of fs.readdirSync(path.join(prebuilds, p))) expect(files).toContain(`prebuilds/${p}/${f}`);
});

test('arethetypeswrong finds no problems (import gets .d.mts types, require .d.ts)', () => {
  const attw = path.join(root, 'node_modules', '.bin', 'attw');
  let out: string;
  try {
    out = execFileSync(attw, [tgz, '--format', 'json'], { encoding: 'utf8' });
  } catch (e) {
    out = (e as { stdout?: string }).stdout ?? '';
  }
  const report = JSON.parse(out) as { analysis: { problems: unknown[] }; problems?: unknown };
  expect(report.analysis.problems).toEqual([]);
}, 60000);
