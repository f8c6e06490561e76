// `npm run check:windows`: compiles native/ for Windows x64 with mingw-w64 (Debian:
// g++-mingw-w64-x86-64; the posix thread model for std::thread/std::mutex), syntax and semantics
// only (-fsyntax-only: no Windows import library for N-API is needed). It keeps the platform layer
// (file mapping via CreateFileMapping/MapViewOfFile, aligned allocation, CPU feature detection)
// compiling, though Windows is not a supported platform yet (README: Platforms). The same source
// list and flags as binding.gyp's targets for OS=='win' (no metal-sim, whose fibers are POSIX).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const CXX = process.env.MINGW_CXX || 'x86_64-w64-mingw32-g++-posix';

function gyp() {
  // binding.gyp is a Python literal: JSON plus # comments and trailing commas.
  const text = fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8').replace(/^\s*#.*$/gm, '');
  return Function(`return (${text});`)();
}

function main() {
  if (spawnSync(CXX, ['--version'], { stdio: 'ignore' }).status !== 0) {
    process.stderr.write(`check-windows: ${CXX} missing (apt-get install g++-mingw-w64-x86-64); not checked\n`);
    return 0;
  }
  const g = gyp();
  const main = g.targets.find((t) => t.target_name === 'minimacllm');
  const sources = [...g.variables.mm_cpu_sources, ...main.sources.filter((s) => !s.startsWith('<@'))];
  // The x64 kernel libraries sit under a top-level target_arch=='x64' condition.
  const x64 = (g.conditions || []).filter((c) => /target_arch=='x64'/.test(c[0])).flatMap((c) => c[1].targets || []);
  const libs = [...g.targets, ...x64].filter((t) => t.type === 'static_library');
  const nodeInclude = path.resolve(process.execPath, '..', '..', 'include', 'node');
  const common = [
    '-std=c++17',
    '-fsyntax-only',
    '-fexceptions',
    '-Wall',
    `-I${nodeInclude}`,
    `-I${require('node-addon-api').include_dir}`,
    '-DNAPI_VERSION=8',
    '-DNODE_ADDON_API_DISABLE_DEPRECATED',
    '-DMM_PACKAGE_VERSION="0.0.0"',
    '-DMM_HAVE_AVX2_KERNELS',
    '-DMM_HAVE_AVX512_KERNELS',
  ];
  const jobs = [...sources.map((s) => [s, []]), ...libs.flatMap((t) => t.sources.map((s) => [s, t.cflags_cc]))];
  let failed = 0;
  const t0 = Date.now();
  for (const [src, flags] of jobs) {
    const r = spawnSync(CXX, [...common, ...flags, src], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) {
      failed++;
      process.stderr.write(`check-windows: ${src} does not compile for Windows:\n${r.stderr}\n`);
    }
  }
  process.stdout.write(
    `check-windows: ${jobs.length - failed}/${jobs.length} native sources compile for win32-x64 with ${CXX} (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`,
  );
  return failed ? 1 : 0;
}

process.exitCode = main();
