/**
 * The strict kernel check (test/helpers/msl-strict.ts): the embedded Metal
 * library (scripts/embed-kernels.js, what newLibraryWithSource compiles on a
 * Mac) checked by clang against MSL's rules — real address spaces, half as
 * _Float16, MSL's attribute set and parameter types, no double / new / delete /
 * virtual / exceptions / goto / RTTI / function pointers / recursion /
 * address-space casts / non-constant program-scope variables — and every
 * deliberately wrong kernel in test/metal-strict/bad/ rejected with the
 * diagnostic its first line names, so the check is shown to fail.
 *
 * Needs clang 15 or newer (.ci/run installs clang-16); skipped with a message
 * otherwise. About 5 s.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findClang, strictCheck, type Diagnostic } from './helpers/msl-strict';

const root = path.join(__dirname, '..');
const badDir = path.join(__dirname, 'metal-strict', 'bad');
const clang = findClang();
if (!clang)
  console.warn('metal-strict: clang 15+ not found; the strict MSL check is skipped (apt-get install clang-16)');
const maybe = clang ? test : test.skip;

const show = (d: Diagnostic[]): string => d.map((x) => `[${x.pass}] ${x.message}`).join('\n');

maybe('the embedded kernel library passes the strict MSL check', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-strict-'));
  try {
    const out = path.join(dir, 'kernels.metal');
    const r = spawnSync('node', [path.join(root, 'scripts/embed-kernels.js'), '--metal', out], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const src = fs.readFileSync(out, 'utf8');
    expect(src).toContain('MM_MATMUL_KERNELS(q4_0, DqQ4_0)');
    expect(show(strictCheck(clang!, src, 'kernels.metal'))).toBe('');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const bad = fs
  .readdirSync(badDir)
  .filter((f) => f.endsWith('.metal'))
  .sort();

maybe.each(bad)('rejects bad/%s', (f) => {
  const src = fs.readFileSync(path.join(badDir, f), 'utf8');
  const want = /^\/\/ expect: (.*)$/m.exec(src)?.[1];
  expect(want).toBeDefined();
  const diags = strictCheck(clang!, src, f);
  expect(diags.length).toBeGreaterThan(0);
  expect(show(diags)).toMatch(new RegExp(want!));
});

test('there are wrong kernels for every rule', () => {
  expect(bad.length).toBeGreaterThanOrEqual(20);
});
