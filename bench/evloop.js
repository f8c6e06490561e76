#!/usr/bin/env node
// @ts-check
/**
 * Event-loop blocking per public async path (npm run bench:evloop; needs `npm run build:ts` first).
 * For each path: the longest gap between ticks of a 5 ms interval (wall ms), and the most main-thread
 * CPU time used within one gap (cpu ms, Linux: /proc/self/task/<pid>/schedstat; on a loaded machine a
 * gap can be long because the process was not scheduled, which is not the code blocking). Prints the
 * load average with the table: the project's bound is 50 ms of main-thread CPU at a time.
 *
 * Inputs: Qwen2's vocabulary (151k tokens) as a tokenizer.json (11 MB) in a tiny HF folder and as GGUF
 * metadata in a tiny GGUF; 10 MB prompts of several shapes. The tiny models are written into a temp
 * folder by the test helpers (run through test/helpers/ts-register.js).
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

let lib;
try {
  lib = require('../dist/index.js');
} catch (e) {
  console.error('bench/evloop.js needs the compiled build: run `npm run build:ts` first.\n' + String(e));
  process.exit(1);
}
require('../test/helpers/ts-register.js');
// The test helpers that write the tiny models (TypeScript, through the hook above).
const helpers = path.join(__dirname, '..', 'test', 'helpers');
const { writeVocabModel, removeVocabModel } = require(path.join(helpers, 'vocab-model'));
const { writeHfQwen2Folder } = require(path.join(helpers, 'hf-vocab-model'));

const { loadModel, loadTokenizer, Tokenizer, readGGUFSync, MAX_TOKEN_ARRAY } = lib;
const FIX = path.join(__dirname, '..', 'test', 'fixtures');
const MB = 1024 * 1024;
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;

function cpuNs() {
  try {
    return Number(fs.readFileSync(SCHEDSTAT, 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

/** Runs `work`, returns { wall, cpu, total } in ms (the longest gap, its CPU, and the whole run). */
async function measure(work) {
  let lastWall = performance.now();
  let lastCpu = cpuNs();
  let wall = 0;
  let cpu = 0;
  const tick = () => {
    const w = performance.now();
    const c = cpuNs();
    wall = Math.max(wall, w - lastWall);
    cpu = Math.max(cpu, (c - lastCpu) / 1e6);
    lastWall = w;
    lastCpu = c;
  };
  const timer = setInterval(tick, 5);
  const t0 = performance.now();
  let outcome = 'ok';
  try {
    await work();
  } catch (e) {
    const err = /** @type {{ code?: string }} */ (e);
    outcome = err && err.code ? err.code : String(e);
  } finally {
    clearInterval(timer);
    tick();
  }
  return { wall, cpu, total: performance.now() - t0, outcome };
}

const rows = [];
async function row(name, work) {
  const r = await measure(work);
  const out = {
    path: name,
    'max cpu ms': r.cpu.toFixed(0),
    'max gap ms': r.wall.toFixed(0),
    'total ms': r.total.toFixed(0),
    outcome: r.outcome,
  };
  rows.push(out);
  console.log(JSON.stringify(out));
}

function prompts() {
  const prose = 'The quick brown fox, 12 jumps over the lazy dog; naïve café — ünïcödé. ';
  return [
    ['prose', prose.repeat(Math.ceil((10 * MB) / prose.length)).slice(0, 10 * MB)],
    ['one word', 'a'.repeat(10 * MB)],
    ['emoji', '🦙'.repeat(5 * MB)],
    ['newlines', '\n'.repeat(10 * MB)],
    ['CJK, no spaces', '中文没有空格的句子很长'.repeat(MB)],
  ];
}

async function main() {
  const only = process.argv[2];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-bench-evloop-'));
  const ggufFile = writeVocabModel({ vocab: 'qwen2', chatTemplate: 'Qwen-Qwen2.5-7B-Instruct.jinja' });
  const hfDir = writeHfQwen2Folder(path.join(dir, 'hf-qwen2'));
  console.log(
    `load average at start: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')} (${os.cpus().length} CPUs)`,
  );
  try {
    if (!only || only === 'load') {
      await row('loadModel: HF folder, Qwen2 tokenizer.json (11 MB)', async () => {
        const m = await loadModel(hfDir);
        await m.dispose();
      });
      await row('loadTokenizer: HF folder, Qwen2', () => loadTokenizer(path.join(FIX, 'tokenizer', 'hf', 'qwen2')));
      await row('loadModel: GGUF, Qwen2 vocabulary (151k)', async () => {
        const m = await loadModel(ggufFile);
        await m.dispose();
      });
    }
    if (!only || only === 'tokenize') {
      const gguf = await loadTokenizer(path.join(FIX, 'tokenizer', 'vocab', 'ggml-vocab-qwen2.gguf'));
      const md = readGGUFSync(path.join(FIX, 'tokenizer', 'vocab', 'ggml-vocab-qwen2.gguf')).metadata;
      const noCuts = await Tokenizer.fromGGUFMetadataAsync({ ...md, 'tokenizer.ggml.pre': 'deepseek-coder' });
      const hfQwen = await loadTokenizer(path.join(FIX, 'tokenizer', 'hf', 'qwen2'));
      const hfLlama2 = await loadTokenizer(path.join(FIX, 'tokenizer', 'hf', 'llama2'));
      const spm = await loadTokenizer(path.join(FIX, 'tokenizer', 'vocab', 'ggml-vocab-llama-spm.gguf'));
      for (const t of [gguf, noCuts, hfQwen, hfLlama2, spm]) await t.prepare();
      // Default: a number[] of at most MAX_TOKEN_ARRAY ids (more: ERR_INVALID_ARG as soon as it is known);
      // { as: 'uint32' }: a Uint32Array of any length.
      for (const [shape, text] of prompts()) {
        await row(`tokenizeAsync: GGUF qwen2, 10 MB ${shape}`, () => gguf.tokenizeAsync(text));
        await row(`tokenizeAsync as uint32: GGUF qwen2, 10 MB ${shape}`, () =>
          gguf.tokenizeAsync(text, { as: 'uint32' }),
        );
      }
      await row('tokenizeAsync: GGUF qwen2 with no cuts (deepseek-coder), 10 MB prose', () =>
        noCuts.tokenizeAsync(prompts()[0][1]),
      );
      await row('tokenizeAsync: HF qwen2, 10 MB one word', () => hfQwen.tokenizeAsync('a'.repeat(10 * MB)));
      await row('tokenizeAsync: HF llama2 (SentencePiece-like), 10 MB one word', () =>
        hfLlama2.tokenizeAsync('a'.repeat(10 * MB)),
      );
      await row('tokenizeAsync: GGUF llama-spm, 10 MB emoji', () => spm.tokenizeAsync('🦙'.repeat(5 * MB)));
      await row('tokenizeAsync as uint32: GGUF llama-spm, 10 MB emoji (21 M ids)', () =>
        spm.tokenizeAsync('🦙'.repeat(5 * MB), { as: 'uint32' }),
      );
      await row(`tokenizeAsync: GGUF qwen2, digits (${MAX_TOKEN_ARRAY} ids: a number[] at the cap)`, () =>
        gguf.tokenizeAsync('1 '.repeat(MAX_TOKEN_ARRAY / 2), { addSpecial: false }),
      );
    }
    if (!only || only === 'model') {
      const m = await loadModel(ggufFile);
      await m.tokenizer.prepare();
      for (const [shape, text] of prompts()) {
        await row(`generate: 10 MB ${shape} (ERR_CONTEXT_OVERFLOW)`, () => m.generate(text, { maxTokens: 1 }));
      }
      await row('stream: 10 MB one word', async () => {
        for await (const _ of m.stream('a'.repeat(10 * MB), { maxTokens: 1 })) void _;
      });
      await row('chat: one 10 MB message', () =>
        m.chat([{ role: 'user', content: 'b'.repeat(10 * MB) }], { maxTokens: 1 }),
      );
      await row('renderChat: one 10 MB message (synchronous)', async () => {
        m.renderChat([{ role: 'user', content: 'b'.repeat(10 * MB) }]);
      });
      await m.dispose();
      const emb = await loadModel(path.join(FIX, 'embed', 'tiny-qwen3-embed-mean-f16.gguf'));
      await row('embed: 10 MB prose (ERR_CONTEXT_OVERFLOW)', () => emb.embed(prompts()[0][1]));
      await emb.dispose();
    }
  } finally {
    removeVocabModel(ggufFile);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `\nload average at end: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  const cols = Object.keys(rows[0]);
  console.log('| ' + cols.join(' | ') + ' |');
  console.log('|' + cols.map(() => '---').join('|') + '|');
  for (const r of rows) console.log('| ' + cols.map((c) => r[c]).join(' | ') + ' |');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
