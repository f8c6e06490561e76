/**
 * The published entry points: CommonJS (`require`) and ES modules (`import`)
 * both load the compiled package and share one module instance.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  exports: { '.': { import: { types: string; default: string }; require: { types: string; default: string } } };
  bin: Record<string, string>;
  engines: { node: string };
};

test('package.json points at built files', () => {
  const { import: esm, require: cjs } = pkg.exports['.'];
  for (const f of [esm.default, esm.types, cjs.default, cjs.types])
    expect(fs.existsSync(path.join(root, f))).toBe(true);
  // Each condition's types match its format: .d.mts for the ES module, .d.ts for CommonJS.
  expect([esm.types, cjs.types]).toEqual(['./dist/index.d.mts', './dist/index.d.ts']);
  expect(pkg.engines.node).toBe('>=20');
});

test('require() and import give the same API', () => {
  const script = `
    const cjs = require(${JSON.stringify(root)});
    import(${JSON.stringify(path.join(root, pkg.exports['.'].import.default))}).then((esm) => {
      const names = ['matmul', 'Backend', 'readGGUF', 'MiniMacLLMError', 'quantize'];
      for (const n of names) {
        if (typeof cjs[n] !== 'function') throw new Error('cjs lacks ' + n);
        if (esm[n] !== cjs[n]) throw new Error('esm.' + n + ' differs from cjs');
      }
      const y = esm.matmul(new Float32Array([1, 2]), { data: new Float32Array([3, 4, 5, 6]), type: 'F32', rows: 2, cols: 2 });
      process.stdout.write(JSON.stringify(Array.from(y)));
    });`;
  const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  expect(JSON.parse(out)).toEqual([11, 17]);
});
