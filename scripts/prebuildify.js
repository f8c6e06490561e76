// `npm run prebuildify [-- --arch x64|arm64|all]`: N-API prebuilds into prebuilds/<platform>-<arch>/,
// which the package ships and node-gyp-build loads (no compiler on the user's machine).
//   linux x64 host: linux-x64 natively, and linux-arm64 cross-compiled with aarch64-linux-gnu-g++
//   macOS: the host's arch (the release workflow runs it on arm64 and x64 runners)
// The builds run in a staging copy of the sources, so the developer's build/ is left as it was.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const SOURCES = ['binding.gyp', 'package.json', 'native', 'kernels', 'scripts/embed-kernels.js'];

const CROSS = {
  // linux-x64 host -> linux-arm64 (Debian: apt-get install g++-aarch64-linux-gnu)
  arm64: { prefix: 'aarch64-linux-gnu-' },
};

function has(cmd) {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** The node headers of the running node (include/node), so nothing is downloaded. */
function nodeDir() {
  const dir = path.resolve(process.execPath, '..', '..');
  return fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h')) ? dir : undefined;
}

/** node-gyp as npm gives it to scripts (npm_config_node_gyp), else npm's bundled one, else PATH's. */
function nodeGyp() {
  if (process.env.npm_config_node_gyp) return process.env.npm_config_node_gyp;
  const npm = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim();
  const bundled =
    npm && path.join(path.dirname(fs.realpathSync(npm)), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  return bundled && fs.existsSync(bundled) ? bundled : 'node-gyp';
}

function stage() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-prebuildify-'));
  for (const s of SOURCES) fs.cpSync(path.join(root, s), path.join(dir, s), { recursive: true });
  fs.rmSync(path.join(dir, 'native', 'test'), { recursive: true, force: true });
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return dir;
}

function prebuild(arch, dir) {
  const env = { ...process.env };
  const args = [
    require.resolve('prebuildify/bin.js'),
    '--napi',
    '--strip',
    '--arch',
    arch,
    '--out',
    root,
    '--cwd',
    dir,
    // One build per arch (N-API: every Node >= 20 loads it), against the running node's headers.
    '--target',
    process.versions.node,
    '--node-gyp',
    nodeGyp(),
  ];
  const nd = nodeDir();
  if (nd && !env.npm_config_nodedir) env.npm_config_nodedir = nd;
  const cross = process.platform === 'linux' && arch !== process.arch ? CROSS[arch] : undefined;
  if (process.platform === 'linux' && arch !== process.arch && !cross)
    throw new Error(`no cross toolchain for ${arch}`);
  if (cross) {
    const p = cross.prefix;
    if (!has(`${p}g++`)) throw new Error(`${p}g++ is missing (apt-get install g++-aarch64-linux-gnu)`);
    Object.assign(env, { CC: `${p}gcc`, CXX: `${p}g++`, LINK: `${p}g++`, AR: `${p}ar` });
    args.push('--strip-bin', `${p}strip`);
  }
  const t0 = Date.now();
  process.stderr.write(`prebuildify: ${process.platform}-${arch}${cross ? ' (cross-compiled)' : ''}\n`);
  const r = spawnSync(process.execPath, args, { cwd: dir, env, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`prebuildify for ${arch} failed (exit ${r.status})`);
  const out = path.join(root, 'prebuilds', `${process.platform}-${arch}`);
  for (const f of fs.readdirSync(out))
    process.stderr.write(
      `  ${path.relative(root, path.join(out, f))}: ${(fs.statSync(path.join(out, f)).size / 1024).toFixed(0)} KiB, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`,
    );
}

function main() {
  const i = process.argv.indexOf('--arch');
  const want = i >= 0 ? process.argv[i + 1] : 'all';
  let arches;
  if (want === 'all') {
    arches = [process.arch];
    if (process.platform === 'linux' && process.arch === 'x64') {
      if (has('aarch64-linux-gnu-g++')) arches.push('arm64');
      else process.stderr.write('prebuildify: aarch64-linux-gnu-g++ missing: no linux-arm64 prebuild\n');
    }
  } else arches = [want];
  const dir = stage();
  try {
    for (const a of arches) prebuild(a, dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

try {
  main();
} catch (e) {
  process.stderr.write(`prebuildify: ${e.message}\n`);
  process.exitCode = 1;
}
