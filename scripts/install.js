// npm's install step: use the prebuilt binary when one matches this machine (no compiler needed),
// else build from source with node-gyp. A failed build ends with one clear message naming what is
// missing and the tail of the compiler's output (the whole log is kept in a file), not gyp's wall.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { nativeAdvice } = require('./native-advice');

const root = path.join(__dirname, '..');
const say = (lines) => process.stderr.write(lines.map((l) => `minimacllm: ${l}\n`).join(''));

/** The prebuilt or already built addon, when one matches and loads here. */
function usableBinary() {
  try {
    const file = require('node-gyp-build').resolve(root);
    require(file);
    return file;
  } catch {
    return undefined;
  }
}

function fromSourceRequested(env) {
  const v = env.npm_config_build_from_source;
  return v === 'true' || v === 'minimacllm' || env.MINIMACLLM_BUILD_FROM_SOURCE === '1';
}

/** node-gyp as npm provides it (npm_config_node_gyp), else the one on PATH. */
function nodeGyp(args) {
  const bundled = process.env.npm_config_node_gyp;
  return bundled ? [process.execPath, [bundled, ...args]] : ['node-gyp', args];
}

function build() {
  const log = path.join(os.tmpdir(), `minimacllm-build-${process.pid}.log`);
  const out = fs.openSync(log, 'w');
  const [cmd, args] = nodeGyp(['rebuild']);
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', out, out], shell: process.platform === 'win32' });
    child.on('error', (e) => {
      fs.writeSync(out, `\n${cmd}: ${e.message}\n`);
      resolve({ ok: false, log });
    });
    child.on('close', (code) => resolve({ ok: code === 0, log }));
  }).finally(() => fs.closeSync(out));
}

/** The lines of a build log that say what went wrong (the compiler's errors, else gyp's complaint), at most `max`. */
function errorLines(log, max = 12) {
  const lines = fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const tool = lines.filter(
    (l) => !/^gyp (info|verb|WARN|ERR!)/.test(l) && /error|not found|No such file|cannot|fatal/i.test(l),
  );
  const gyp = lines.filter(
    (l) => /^gyp ERR!/.test(l) && !/^gyp ERR! (stack|System|command|cwd|node -v|node-gyp -v|not ok)/.test(l),
  );
  return (tool.length > 0 ? tool : gyp.length > 0 ? gyp : lines).slice(-max);
}

async function main() {
  if (process.platform === 'win32') {
    // Nothing to build: say so, and let the pure-TypeScript parts (GGUF, tokenizers) install.
    say(nativeAdvice({ probe: false }));
    return 0;
  }
  if (!fromSourceRequested(process.env)) {
    const file = usableBinary();
    if (file) return 0;
  }
  const r = await build();
  if (r.ok) return 0;
  const details = errorLines(r.log);
  process.stderr.write(`\n${details.map((l) => `  | ${l}`).join('\n')}\n\n`);
  say([...nativeAdvice(), `The build's full output: ${r.log}`]);
  return 1;
}

if (require.main === module) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (e) => {
      say([`install failed: ${e && e.message}`]);
      process.exitCode = 1;
    },
  );
}

module.exports = { usableBinary, errorLines };
