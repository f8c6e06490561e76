/**
 * `node -r ./test/helpers/ts-register.js script.ts`: lets child processes of
 * the tests (fuzz batches, crash-prone scenarios) run the TypeScript sources
 * directly, as jest does, instead of a possibly stale dist/. Each file is
 * transpiled once (typescript's transpileModule, no type checking) and cached
 * under the OS temp folder by a hash of its source.
 */
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const cacheDir = path.join(os.tmpdir(), `minimacllm-ts-cache-${process.getuid ? process.getuid() : 'user'}`);
fs.mkdirSync(cacheDir, { recursive: true });
let ts;

require.extensions['.ts'] = function compileTs(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const key = crypto.createHash('sha1').update(filename).update('\0').update(source).digest('hex');
  const cached = path.join(cacheDir, `${key}.js`);
  let js;
  try {
    js = fs.readFileSync(cached, 'utf8');
  } catch {
    ts = ts || require('typescript');
    js = ts.transpileModule(source, {
      fileName: filename,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
        sourceMap: false,
        inlineSourceMap: true,
      },
    }).outputText;
    const tmp = `${cached}.${process.pid}`;
    fs.writeFileSync(tmp, js);
    fs.renameSync(tmp, cached);
  }
  module._compile(js, filename);
};
