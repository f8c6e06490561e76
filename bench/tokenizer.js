#!/usr/bin/env node
// @ts-check
/**
 * Tokenizer benchmark (npm run bench:tokenizer; needs `npm run build:ts` first).
 * Prints: prose throughput per vocabulary, linearity on pathological inputs
 * (256 KB vs 1 MB), and vocabulary load times.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

let lib;
try {
  lib = require('../dist/index.js');
} catch (e) {
  console.error('bench/tokenizer.js needs the compiled build: run `npm run build:ts` first.\n' + String(e));
  process.exit(1);
}
const { Tokenizer, loadTokenizer, readGGUFSync } = lib;

const FIX = path.join(__dirname, '..', 'test', 'fixtures', 'tokenizer');
const vocab = (name) => path.join(FIX, 'vocab', `ggml-vocab-${name}.gguf`);
const MB = 1024 * 1024;

function ms(f) {
  const t0 = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
function best(f, reps) {
  let b = Infinity;
  for (let i = 0; i < reps; i++) b = Math.min(b, ms(f));
  return b;
}
function table(title, rows) {
  console.log(`\n${title}`);
  const cols = Object.keys(rows[0]);
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (vals) => '| ' + vals.map((v, i) => String(v).padEnd(w[i])).join(' | ') + ' |';
  console.log(line(cols));
  console.log('|' + w.map((x) => '-'.repeat(x + 2)).join('|') + '|');
  for (const r of rows) console.log(line(cols.map((c) => r[c])));
}

/** Deterministic random text. */
function rng(seed) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}
function randomUnicode(bytes, seed) {
  const r = rng(seed);
  const parts = [];
  let n = 0;
  while (n < bytes) {
    let cp;
    const k = r();
    if (k < 0.3) cp = 0x20 + Math.floor(r() * 0x5f);
    else if (k < 0.6) cp = 0xa0 + Math.floor(r() * (0xd7ff - 0xa0));
    else if (k < 0.7) cp = 0xe000 + Math.floor(r() * 0x1ff0);
    else cp = 0x10000 + Math.floor(r() * 0x2ffff);
    const ch = String.fromCodePoint(cp);
    parts.push(ch);
    n += Buffer.byteLength(ch);
  }
  return parts.join('');
}
function sized(unit, bytes) {
  const s = unit.repeat(Math.ceil(bytes / Buffer.byteLength(unit)));
  return s;
}

async function main() {
  const prose1 = fs.readFileSync(path.join(__dirname, 'data', 'pride-and-prejudice-ch1-10.txt'), 'utf8');
  const prose = prose1.repeat(Math.ceil((4 * MB) / Buffer.byteLength(prose1)));

  // Load times (fresh process state matters little after the first; report the first and the best).
  const loads = [];
  for (const [name, file] of [
    ['qwen2 (151,669 tokens)', vocab('qwen2')],
    ['llama-bpe (128,256 tokens)', vocab('llama-bpe')],
    ['llama-spm (32,000 tokens)', vocab('llama-spm')],
  ]) {
    let read = 0,
      build = 0;
    const first = ms(() => {
      let md;
      read = ms(() => (md = readGGUFSync(file).metadata));
      build = ms(() => Tokenizer.fromGGUFMetadata(md));
    });
    const md = readGGUFSync(file).metadata;
    const bestBuild = best(() => Tokenizer.fromGGUFMetadata(md), 3);
    // The merge table is built on the first tokenize() call: time that too.
    const firstTokenize = best(() => Tokenizer.fromGGUFMetadata(md).tokenize('Hello world'), 2) - bestBuild;
    loads.push({
      vocabulary: name,
      source: 'GGUF',
      'first load ms': first.toFixed(0),
      'read ms': read.toFixed(0),
      'build ms': build.toFixed(0),
      'best build ms': bestBuild.toFixed(0),
      '+ first tokenize ms': firstTokenize.toFixed(0),
    });
  }
  for (const [name, dir] of [
    ['qwen2 (151,669 tokens)', 'qwen2'],
    ['llama3 (128,256 tokens)', 'llama3'],
  ]) {
    const t0 = process.hrtime.bigint();
    await loadTokenizer(path.join(FIX, 'hf', dir));
    const t = Number(process.hrtime.bigint() - t0) / 1e6;
    const json = JSON.parse(fs.readFileSync(path.join(FIX, 'hf', dir, 'tokenizer.json'), 'utf8'));
    const b = best(() => Tokenizer.fromTokenizerJson(json), 2);
    const ft = best(() => Tokenizer.fromTokenizerJson(json).tokenize('Hello world'), 2) - b;
    loads.push({
      vocabulary: name,
      source: 'tokenizer.json',
      'first load ms': t.toFixed(0),
      'read ms': '-',
      'build ms': '-',
      'best build ms': b.toFixed(0),
      '+ first tokenize ms': ft.toFixed(0),
    });
  }
  table('Vocabulary load (target: 150k-token vocabulary < 300 ms)', loads);

  const toks = {
    'llama-bpe (Llama 3, 128k)': Tokenizer.fromGGUFMetadata(readGGUFSync(vocab('llama-bpe')).metadata),
    'qwen2 (152k)': Tokenizer.fromGGUFMetadata(readGGUFSync(vocab('qwen2')).metadata),
    'gpt-2 (50k)': Tokenizer.fromGGUFMetadata(readGGUFSync(vocab('gpt-2')).metadata),
    'llama-spm (Llama 2, 32k)': Tokenizer.fromGGUFMetadata(readGGUFSync(vocab('llama-spm')).metadata),
  };

  const rows = [];
  for (const [name, tok] of Object.entries(toks)) {
    const text = name.startsWith('llama-spm') ? prose.slice(0, MB) : prose; // SentencePiece has no word cache: 1 MB is plenty
    const bytes = Buffer.byteLength(text);
    tok.tokenize(text.slice(0, 100000)); // warm up
    let n = 0;
    const t = best(() => (n = tok.tokenize(text).length), 2);
    rows.push({
      vocabulary: name,
      input: `${(bytes / MB).toFixed(1)} MB prose`,
      tokens: n,
      ms: t.toFixed(0),
      'MB/s': (bytes / MB / (t / 1000)).toFixed(1),
    });
  }
  table('English prose (Pride and Prejudice ch. 1-10, repeated; target: Llama 3 >= 5 MB/s)', rows);

  const inputs = {
    'one repeated char': (b) => sized('a', b),
    spaces: (b) => sized(' ', b),
    digits: (b) => sized('0123456789', b),
    // A different seed per size, so the 256 KB text is not a (cached) prefix of the 1 MB one.
    'random Unicode': (b) => randomUnicode(b, b),
    'newline + spaces': (b) => sized('\n  ', b),
  };
  const lin = [];
  /** @type {Array<[string, import('../dist/index.js').Tokenizer]>} */
  const vocabularies = [
    ['llama-bpe', toks['llama-bpe (Llama 3, 128k)']],
    ['qwen2', toks['qwen2 (152k)']],
    ['llama-spm', toks['llama-spm (Llama 2, 32k)']],
  ];
  for (const [tname, tok] of vocabularies) {
    for (const [iname, make] of Object.entries(inputs)) {
      const small = make(256 * 1024);
      const big = make(MB);
      const ts = best(() => tok.tokenize(small), 2);
      const tb = best(() => tok.tokenize(big), 2);
      lin.push({
        vocabulary: tname,
        input: iname,
        '256 KB ms': ts.toFixed(0),
        '1 MB ms': tb.toFixed(0),
        'ratio (4 = linear)': (tb / ts).toFixed(2),
      });
    }
  }
  table('Pathological inputs: 256 KB vs 1 MB', lin);
  console.log(
    `\nnode ${process.version}, ${require('node:os').cpus().length} cores (${require('node:os').cpus()[0].model})`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
