#!/usr/bin/env node
// Checks (or with --fix, applies) .clang-format on native/ and kernels/ with clang-format 16, the
// version whose output the tree is formatted with. Other versions format slightly differently, so
// without clang-format 16 the check is skipped with a notice (.ci/run installs it).
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');

const fix = process.argv.includes('--fix');
const candidates = ['clang-format-16', 'clang-format'];
const exe = candidates.find((c) => {
  const r = spawnSync(c, ['--version'], { encoding: 'utf8' });
  return r.status === 0 && /version 16\./.test(r.stdout);
});
if (!exe) {
  console.warn(
    'native-format: clang-format 16 not found; native formatting not checked (apt-get install clang-format-16)',
  );
  process.exit(0);
}
const files = execFileSync(
  'git',
  ['ls-files', 'native/*.cc', 'native/*.h', 'native/*.mm', 'native/*.inc', 'kernels/*'],
  {
    encoding: 'utf8',
  },
)
  .split('\n')
  .filter((f) => /\.(cc|h|mm|inc|metal)$/.test(f));
const r = spawnSync(exe, fix ? ['-i', ...files] : ['--dry-run', '--Werror', ...files], { stdio: 'inherit' });
if (r.status !== 0) {
  console.error('native-format: run `npm run format` to apply .clang-format');
  process.exit(1);
}
