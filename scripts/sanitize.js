#!/usr/bin/env node
/**
 * `npm run test:sanitize`: builds the addon with AddressSanitizer and
 * UndefinedBehaviorSanitizer into build-sanitize/ (the normal build/ is left
 * alone) and runs the tests that feed hostile input to native code — GGUF
 * corruption, the fuzz harness, the native argument and graph fuzzers, the
 * lifecycle and file tests, the kernels — against it. An out-of-bounds read or
 * a signed overflow that a plain build survives quietly fails the run here.
 *
 * How: node-gyp builds a mirror of the native sources (so its fixed build/
 * folder is build-sanitize/src/build) with CXXFLAGS/LDFLAGS adding the
 * sanitizers; jest runs with the ASan runtime preloaded (LD_PRELOAD: it must
 * come before anything else in a process that was not linked with it — node),
 * leak detection off (node does not free everything at exit), every UBSan
 * report fatal, and MINIMACLLM_ADDON_PATH pointing lib/native.ts at the
 * sanitized addon. Child processes (CLI and fuzz batches) inherit all of it.
 *
 *   node scripts/sanitize.js                 build, then run the default tests
 *   node scripts/sanitize.js --build-only
 *   node scripts/sanitize.js test/foo.test.ts  build, then run these tests
 *
 * Linux with GCC or Clang (libasan); elsewhere it says so and exits 0.
 */
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const out = path.join(root, 'build-sanitize');
const mirror = path.join(out, 'src');
const addon = path.join(mirror, 'build', 'Release', 'minimacllm.node');

const DEFAULT_TESTS = [
  'test/gguf-corruption.test.ts',
  'test/gguf-reader.test.ts',
  'test/safetensors-header.test.ts',
  'test/native-bad-args.test.ts',
  'test/native-fuzz.test.ts',
  'test/fuzz.test.ts',
  'test/reliability-args.test.ts',
  'test/reliability-files.test.ts',
  'test/reliability-lifecycle.test.ts',
  'test/ops-core.test.ts',
  'test/ops-extremes.test.ts',
  'test/model-random.test.ts',
  'test/generate-api.test.ts',
  'test/cli-reliability.test.ts',
  'test/scheduler.test.ts',
  'test/generate-sampler.test.ts',
  'test/cpu-regroup.test.ts',
];

// -O1 after gyp's -O3: about half the compile time, and the usual level for ASan (stack traces stay readable).
const SANITIZE = [
  '-fsanitize=address,undefined',
  '-fno-sanitize-recover=undefined',
  '-fno-omit-frame-pointer',
  '-g1',
  '-O1',
];

function say(msg) {
  process.stderr.write(`sanitize: ${msg}\n`);
}

/** Copies what the addon is built from into the mirror, keeping modification times (make rebuilds what changed). */
function syncMirror() {
  const copy = (rel) => {
    const from = path.join(root, rel);
    const to = path.join(mirror, rel);
    const st = fs.statSync(from);
    if (st.isDirectory()) {
      for (const name of fs.readdirSync(from)) if (name !== 'build') copy(path.join(rel, name));
      return;
    }
    const old = fs.existsSync(to) ? fs.statSync(to) : undefined;
    if (old && old.mtimeMs === st.mtimeMs && old.size === st.size) return;
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(from, to);
    fs.utimesSync(to, st.atime, st.mtime);
  };
  // package.json: binding.gyp reads the version from it.
  for (const rel of ['binding.gyp', 'package.json', 'native', 'kernels', 'scripts/embed-kernels.js']) copy(rel);
}

function nodeGyp() {
  // npm runs scripts with its bundled node-gyp on PATH and names it in npm_config_node_gyp.
  const candidates = [
    process.env.npm_config_node_gyp,
    path.join(
      path.dirname(process.execPath),
      '..',
      'lib',
      'node_modules',
      'npm',
      'node_modules',
      'node-gyp',
      'bin',
      'node-gyp.js',
    ),
  ];
  return candidates.find((c) => c && fs.existsSync(c));
}

function build() {
  const gyp = nodeGyp();
  if (!gyp) throw new Error('node-gyp not found (run through npm: npm run test:sanitize)');
  syncMirror();
  const env = {
    ...process.env,
    CXXFLAGS: `${process.env.CXXFLAGS ?? ''} ${SANITIZE.join(' ')}`,
    CFLAGS: `${process.env.CFLAGS ?? ''} ${SANITIZE.join(' ')}`,
    LDFLAGS: `${process.env.LDFLAGS ?? ''} -fsanitize=address,undefined`,
  };
  const args = (cmd) => [
    gyp,
    cmd,
    ...(process.env.npm_config_nodedir ? [`--nodedir=${process.env.npm_config_nodedir}`] : []),
  ];
  if (
    !fs.existsSync(path.join(mirror, 'build', 'Makefile')) ||
    isNewer(path.join(mirror, 'binding.gyp'), path.join(mirror, 'build', 'Makefile'))
  ) {
    say('configuring build-sanitize/');
    execFileSync(process.execPath, args('configure'), { cwd: mirror, env, stdio: 'inherit' });
  }
  say('building the sanitized addon (make rebuilds only what changed)');
  const jobs = String(Math.max(1, require('node:os').availableParallelism?.() ?? 2));
  execFileSync(process.execPath, [...args('build'), '-j', jobs], { cwd: mirror, env, stdio: 'inherit' });
}

function isNewer(a, b) {
  return fs.statSync(a).mtimeMs > fs.statSync(b).mtimeMs;
}

/** The ASan runtime the compiler links against (what the addon expects to find loaded). */
function asanRuntime() {
  const cxx = process.env.CXX ?? 'c++';
  const p = execFileSync(cxx, ['-print-file-name=libasan.so'], { encoding: 'utf8' }).trim();
  if (!path.isAbsolute(p) || !fs.existsSync(p))
    throw new Error(`${cxx} does not know where libasan.so is (got "${p}")`);
  return fs.realpathSync(p);
}

function main() {
  if (process.platform !== 'linux') {
    say(`not supported on ${process.platform} (needs LD_PRELOAD of libasan); skipped`);
    return 0;
  }
  const argv = process.argv.slice(2);
  build();
  if (argv.includes('--build-only')) return 0;
  const tests = argv.filter((a) => !a.startsWith('--'));
  const env = {
    ...process.env,
    LD_PRELOAD: [asanRuntime(), process.env.LD_PRELOAD].filter(Boolean).join(' '),
    // Leaks: node frees little at exit. Everything else stops the process with a report.
    ASAN_OPTIONS: `detect_leaks=0:abort_on_error=1:halt_on_error=1:allow_user_segv_handler=1:${process.env.ASAN_OPTIONS ?? ''}`,
    UBSAN_OPTIONS: `halt_on_error=1:abort_on_error=1:print_stacktrace=1:${process.env.UBSAN_OPTIONS ?? ''}`,
    MINIMACLLM_ADDON_PATH: addon,
    MINIMACLLM_SANITIZED: '1',
  };
  say(`running ${tests.length > 0 ? tests.join(' ') : `${DEFAULT_TESTS.length} test files`} on the sanitized addon`);
  const jest = require.resolve('jest/bin/jest');
  const r = spawnSync(process.execPath, [jest, ...(tests.length > 0 ? tests : DEFAULT_TESTS)], {
    cwd: root,
    env,
    stdio: 'inherit',
  });
  if (r.signal) say(`jest was killed by ${r.signal}`);
  return r.status ?? 1;
}

try {
  process.exitCode = main();
} catch (e) {
  say(e.message);
  process.exitCode = 1;
}
