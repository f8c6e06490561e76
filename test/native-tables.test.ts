/**
 * One source of truth: the native tables (exported by the addon as
 * `tables`) against what lib/ spells in TypeScript — tensor types (lib/native.ts
 * DType, lib/gguf/types.ts GGML_TYPES, which format parsing keeps without the
 * addon), op names and op parameters (lib/backend.ts) — and the addon's
 * version against package.json. The kernel names the Metal plans can dispatch
 * are checked against kernels/ in metal-syntax.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OP_NAMES, OP_PARAM_NAMES } from '../lib/backend';
import { GGML_TYPES } from '../lib/gguf/types';
import { DType, native } from '../lib/native';

const tables = native().tables;

test('tensor types: ids, names (ggml spelling, upper-cased in TS), block geometry', () => {
  const nativeTypes = tables.types.map((t) => [t.id, t.name.toUpperCase(), t.blockSize, t.typeSize, t.isQuantized]);
  expect(
    Object.entries(DType)
      .map(([name, id]) => [id, name])
      .sort((a, b) => Number(a[0]) - Number(b[0])),
  ).toEqual(nativeTypes.map((t) => [t[0], t[1]]));
  expect([...GGML_TYPES].map(([id, t]) => [id, t.name, t.blockSize, t.typeSize, t.isQuantized])).toEqual(nativeTypes);
  // ggml's own names, e.g. q4_K (ggml_type_name), in every native message
  expect(tables.types.find((t) => t.id === DType.Q4_K)?.name).toBe('q4_K');
  expect(native().typeInfo(DType.Q6_K)?.name).toBe('q6_K');
});

test('op names and parameters', () => {
  expect(tables.ops.map((o) => o.name)).toEqual([...OP_NAMES]);
  expect(tables.params.map((p) => p.name)).toEqual([...OP_PARAM_NAMES]);
  const params = new Set(tables.params.map((p) => p.name));
  for (const op of tables.ops) {
    for (const p of op.params) expect(`${op.name}.${p}: ${params.has(p)}`).toBe(`${op.name}.${p}: true`);
    expect(op.minSrc).toBeGreaterThanOrEqual(1);
    expect(op.maxSrc).toBeGreaterThanOrEqual(op.minSrc);
  }
  expect(tables.ops.find((o) => o.name === 'rope')?.params).toEqual([
    'nHead',
    'headDim',
    'nRot',
    'ropeMode',
    'freqBase',
    'freqScale',
    'attnFactor',
  ]);
  expect(Object.isFrozen(tables)).toBe(true);
});

test("the addon's version is package.json's", () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  expect(native().version).toBe(pkg.version);
});

test('native/binding includes no backend header (it reaches the CPU and GPU code through native/core)', () => {
  const dir = path.join(__dirname, '..', 'native', 'binding');
  for (const f of fs.readdirSync(dir)) {
    const src = fs.readFileSync(path.join(dir, f), 'utf8');
    const bad = [...src.matchAll(/#include\s+"(\.\.\/(?:cpu|metal|metal_sim)\/[^"]+)"/g)].map((m) => m[1]);
    expect(`${f}: ${bad.join(', ')}`).toBe(`${f}: `);
  }
});
