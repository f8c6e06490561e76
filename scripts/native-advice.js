// What to tell a user whose machine has no working native addon: shared by the install script
// (scripts/install.js) and the run-time ERR_NATIVE_UNAVAILABLE error (lib/native.ts). Plain
// CommonJS, no dependencies: it runs before anything is built.
'use strict';
const { spawnSync } = require('node:child_process');

const SUPPORTED = 'minimacllm runs on macOS (arm64, x64) and Linux (x64, arm64; glibc)';

/** Whether `cmd args` runs (a tool is installed). */
function runs(cmd, args) {
  try {
    const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 10000, shell: false });
    return r.status === 0;
  } catch {
    return false;
  }
}

/** The build tools node-gyp needs that this machine lacks (names a user can act on). */
function missingTools(platform = process.platform, env = process.env) {
  const missing = [];
  const python = env.npm_config_python || env.PYTHON;
  if (!(python ? runs(python, ['--version']) : runs('python3', ['--version']) || runs('python', ['--version'])))
    missing.push('Python 3');
  if (!runs('make', ['--version'])) missing.push('make');
  const cxx = env.CXX;
  if (!(cxx ? runs(cxx, ['--version']) : ['c++', 'g++', 'clang++'].some((c) => runs(c, ['--version']))))
    missing.push('a C++17 compiler');
  if (platform === 'darwin' && !runs('xcode-select', ['-p'])) missing.push('the Xcode command-line tools');
  return missing;
}

/**
 * The advice, as lines: what is unsupported or missing and what to run. `runtime`: said when the
 * addon fails to load (the build may never have run); `probe: false` skips looking for tools.
 */
function nativeAdvice({ platform = process.platform, arch = process.arch, probe = true, runtime = false } = {}) {
  if (platform === 'win32') {
    return [
      `Windows is not supported: ${SUPPORTED}.`,
      'On Windows, use WSL 2 (a Linux distribution) where minimacllm installs a prebuilt binary.',
    ];
  }
  const lines = [
    runtime
      ? `No prebuilt binary of minimacllm matches ${platform}-${arch}, and none was built: the install script did ` +
        'not run (npm --ignore-scripts; pnpm: allow it with `pnpm approve-builds`) or its build failed.'
      : `No prebuilt binary of minimacllm matches ${platform}-${arch}, and building one from source failed.`,
  ];
  const needs =
    platform === 'darwin'
      ? 'the Xcode command-line tools (xcode-select --install), which bring make and clang; and Python 3'
      : 'Python 3, make and a C++17 compiler (g++ >= 9 or clang >= 10; e.g. apt-get install python3 make g++)';
  lines.push(`Building needs ${needs}.`);
  if (probe) {
    const missing = missingTools(platform);
    if (missing.length > 0) lines.push(`Missing here: ${missing.join(', ')}.`);
  }
  lines.push('Then run: npm rebuild minimacllm');
  return lines;
}

module.exports = { nativeAdvice, missingTools, SUPPORTED };
