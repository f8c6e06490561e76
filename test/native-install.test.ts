/**
 * Installing without a working addon: the install step's message when the build fails (a real
 * node-gyp run with the compiler missing), and ERR_NATIVE_UNAVAILABLE (never ERR_INTERNAL) at run
 * time when no binary was built (npm --ignore-scripts, pnpm without approved builds), with the same
 * advice, while the pure-TypeScript parts keep working.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const root = path.join(__dirname, '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { nativeAdvice } = require('../scripts/native-advice.js') as {
  nativeAdvice: (o?: { platform?: string; arch?: string; probe?: boolean; runtime?: boolean }) => string[];
};

let tmp: string;
beforeAll(() => {
  if (!fs.existsSync(path.join(root, 'dist', 'index.js')))
    execFileSync('npm', ['run', 'build:ts'], { cwd: root, stdio: 'ignore' });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-install-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of the package as an install leaves it, without build/ or prebuilds/. */
function unbuiltPackage(name: string, parts: string[]): string {
  const dir = path.join(tmp, name);
  for (const p of ['package.json', 'scripts/native-advice.js', 'scripts/install.js', ...parts])
    fs.cpSync(path.join(root, p), path.join(dir, p), { recursive: true });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

test('advice names what is missing; Windows is stated unsupported', () => {
  const linux = nativeAdvice({ platform: 'linux', arch: 'riscv64', probe: false }).join('\n');
  expect(linux).toMatch(/No prebuilt binary of minimacllm matches linux-riscv64/);
  expect(linux).toMatch(/Python 3, make and a C\+\+17 compiler/);
  expect(linux).toMatch(/npm rebuild minimacllm/);
  expect(nativeAdvice({ platform: 'darwin', arch: 'arm64', probe: false }).join('\n')).toMatch(
    /Xcode command-line tools \(xcode-select --install\)/,
  );
  expect(nativeAdvice({ platform: 'win32', probe: false }).join('\n')).toMatch(/Windows is not supported.*\n.*WSL 2/);
  expect(nativeAdvice({ runtime: true, probe: false }).join('\n')).toMatch(/--ignore-scripts.*pnpm approve-builds/);
});

test('without a binary: ERR_NATIVE_UNAVAILABLE with the advice; GGUF reading still works', () => {
  const dir = unbuiltPackage('no-addon', ['dist']);
  const script = `
    const m = require(${JSON.stringify(dir)});
    const f = m.readGGUFSync(${JSON.stringify(path.join(root, 'models', 'stories260K.gguf'))});
    const out = { tensors: f.tensors.length };
    try { m.cpuInfo(); } catch (e) { out.first = { code: e.code, name: e.name, message: e.message }; }
    m.loadModel(${JSON.stringify(path.join(root, 'models', 'stories260K.gguf'))}).catch((e) => {
      out.load = e.code;
      process.stdout.write(JSON.stringify(out));
    });`;
  const r = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as {
    tensors: number;
    first: { code: string; name: string; message: string };
    load: string;
  };
  expect(r.tensors).toBeGreaterThan(0);
  expect(r.first.code).toBe('ERR_NATIVE_UNAVAILABLE');
  expect(r.first.name).toBe('NativeUnavailableError');
  expect(r.first.message).toMatch(/^the native addon cannot be loaded \(/);
  expect(r.first.message).toMatch(/none was built: the install script did not run \(npm --ignore-scripts/);
  expect(r.first.message).toMatch(/npm rebuild minimacllm/);
  expect(r.load).toBe('ERR_NATIVE_UNAVAILABLE');
});

test('a prebuilt binary the system cannot load: ERR_NATIVE_UNAVAILABLE advising a build from source', () => {
  const dir = unbuiltPackage('bad-prebuild', ['dist']);
  const prebuild = path.join(dir, 'prebuilds', `${process.platform}-${process.arch}`);
  fs.mkdirSync(prebuild, { recursive: true });
  fs.writeFileSync(path.join(prebuild, 'minimacllm.node'), 'not a shared library');
  const script = `
    try { require(${JSON.stringify(dir)}).cpuInfo(); } catch (e) { process.stdout.write(JSON.stringify({ code: e.code, message: e.message })); }`;
  const r = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as {
    code: string;
    message: string;
  };
  expect(r.code).toBe('ERR_NATIVE_UNAVAILABLE');
  expect(r.message).toMatch(/this system cannot load it/);
  expect(r.message).toMatch(/npm rebuild minimacllm --build-from-source/);
});

/** npm's own node-gyp, as npm gives it to install scripts. */
function npmNodeGyp(): string | undefined {
  if (process.env['npm_config_node_gyp']) return process.env['npm_config_node_gyp'];
  const npm = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim();
  if (!npm) return undefined;
  const p = path.join(path.dirname(fs.realpathSync(npm)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  return fs.existsSync(p) ? p : undefined;
}
const nodeDir = path.resolve(process.execPath, '..', '..');
const canBuild = npmNodeGyp() !== undefined && fs.existsSync(path.join(nodeDir, 'include', 'node', 'node_api.h'));
if (!canBuild) console.warn("native-install: npm's node-gyp or the node headers not found; install failure not tested");

(canBuild ? test : test.skip)(
  'a failed build ends with one clear message naming the missing compiler, not gyp output',
  () => {
    const dir = unbuiltPackage('no-compiler', ['binding.gyp', 'native', 'kernels']);
    const r = spawnSync(process.execPath, [path.join(dir, 'scripts', 'install.js')], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 120000,
      env: {
        ...process.env,
        npm_config_node_gyp: npmNodeGyp(),
        npm_config_nodedir: nodeDir,
        CXX: '/nonexistent/c++',
        CC: '/nonexistent/cc',
        LINK: '/nonexistent/c++',
      },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/minimacllm: No prebuilt binary of minimacllm matches .*building one from source failed/);
    expect(r.stderr).toMatch(/minimacllm: Missing here: a C\+\+17 compiler\./);
    expect(r.stderr).toMatch(/minimacllm: Then run: npm rebuild minimacllm/);
    const log = /The build's full output: (\S+)/.exec(r.stderr)?.[1];
    expect(log && fs.existsSync(log)).toBe(true);
    expect(fs.readFileSync(log!, 'utf8')).toMatch(/gyp/);
    expect(r.stderr.split('\n').length).toBeLessThan(25);
    expect(r.stderr).not.toMatch(/gyp ERR! stack/);
    fs.rmSync(log!, { force: true });
  },
  130000,
);
