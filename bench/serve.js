// @ts-check
/**
 * Parallel sequences: aggregate decode throughput and latency at 1 vs N
 * concurrent generations on one model (maxSequences / --parallel = the largest
 * concurrency), greedy, each request its own prompt of token ids, every request
 * generating exactly --gen tokens (end-of-generation banned). Per concurrency
 * level: aggregate tok/s (generated tokens / wall time, prefill included),
 * decode tok/s (tokens after the last request's first token / the time since),
 * TTFT p50/p99 (request → first token) and ITL p50/p99 (gaps between a
 * request's tokens). Prints the load average with the numbers (the machine is
 * shared).
 *
 *   npm run build:ts && npm run bench:serve -- [--model smol-q8_0|llama1b-q4_0|PATH]
 *       [--concurrency 1,8] [--prompt 64] [--gen 64] [--threads N] [--http]
 *       [--compare llama-server [--llama-server PATH] [--llama-server-arg=FLAG ...]] [--json]
 *
 * --http runs the same requests through `minimacllm serve`'s server (in this
 * process, loopback, streaming SSE with fetch) instead of model.stream().
 *
 * --compare llama-server runs the same request mix against two fresh server
 * processes, one after the other: `minimacllm serve` and llama.cpp's
 * llama-server (built under bench/llama.cpp, see bench/README.md), both on
 * loopback with the same GGUF, --parallel N, the same context per slot and
 * threads, and the same requests (POST /v1/completions, token-id prompt,
 * temperature 0, max_tokens = --gen, ignore_eos, stream with usage).
 */
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { ensureModel, PRESETS } = require('./models');

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'smol-q8_0' },
    concurrency: { type: 'string', default: '1,8' },
    prompt: { type: 'string', default: '64' },
    gen: { type: 'string', default: '64' },
    threads: { type: 'string' },
    http: { type: 'boolean', default: false },
    compare: { type: 'string' },
    'llama-server': { type: 'string', default: path.join(__dirname, 'llama.cpp', 'build', 'bin', 'llama-server') },
    // More llama-server flags, one per use (e.g. --llama-server-arg=--poll --llama-server-arg=0).
    'llama-server-arg': { type: 'string', multiple: true, default: [] },
    json: { type: 'boolean', default: false },
  },
});

const levels = values.concurrency.split(',').map(Number);
const promptLen = Number(values.prompt);
const gen = Number(values.gen);
if (levels.some((c) => !Number.isInteger(c) || c < 1) || !(promptLen >= 1) || !(gen >= 1))
  throw new Error('--concurrency, --prompt and --gen must be positive integers');
if (values.compare !== undefined && values.compare !== 'llama-server')
  throw new Error(`--compare takes "llama-server", got "${values.compare}"`);
const maxSequences = Math.max(...levels);
// Context per sequence (slot): the prompt, the generated tokens and a margin.
const ctxPerSlot = Math.max(256, promptLen + gen + 8);

/** @param {number[]} xs @param {number} p */
function pct(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const loadavg = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/** A request's prompt: `promptLen` token ids, different for every `seed`. @param {number} vocab @param {number} seed */
const promptOf = (vocab, seed) =>
  Array.from({ length: promptLen }, (_, k) => 1 + ((seed * 7919 + k * 104729) % (vocab - 1)));

/**
 * One streamed completion over HTTP: the arrival time of every generated
 * token at the client, and the server's usage. A chunk may carry more than one
 * token: llama-server sends nothing for a token whose text ends inside a UTF-8
 * character (random-weight vocabularies make many such) and tells, with
 * timings_per_token, how many tokens it has generated (timings.predicted_n);
 * the chunk's tokens all arrive with it. Ours sends every token's complete
 * characters at once (one chunk per token), then at the end any text it held
 * back (no new token): its chunks count one token each up to usage's count.
 * @param {string} url @param {number[]} prompt
 */
async function httpRequest(url, prompt) {
  const t0 = performance.now();
  /** @type {number[]} */
  const chunkTimes = [];
  /** @type {(number | undefined)[]} */
  const chunkCounts = []; // tokens generated when the chunk was sent (llama-server), else undefined
  /** @type {{ prompt_tokens: number, completion_tokens: number } | undefined} */
  let usage;
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      prompt,
      max_tokens: gen,
      temperature: 0,
      ignore_eos: true, // random weights may pick end-of-generation early
      timings_per_token: true, // llama-server: tokens generated so far in every chunk (ours ignores it)
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  if (!res.ok || !res.body) throw new Error(`POST ${url}/v1/completions: ${res.status} ${await res.text()}`);
  const dec = new TextDecoder();
  let rest = ''; // an event may arrive split over reads
  // @ts-ignore: a web ReadableStream is async-iterable in Node
  for await (const chunk of res.body) {
    const lines = (rest + dec.decode(chunk, { stream: true })).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('data: {')) continue;
      const c = JSON.parse(line.slice(6));
      if (c.error) throw new Error(`stream error: ${JSON.stringify(c.error)}`);
      const counted = c.timings?.predicted_n;
      // A token's text, or (llama-server) a count of the tokens generated so far, its last chunk's included.
      if (c.choices?.[0]?.text || counted !== undefined) {
        chunkTimes.push(performance.now());
        chunkCounts.push(counted);
      }
      if (c.usage) usage = c.usage;
    }
  }
  const tokens = usage?.completion_tokens ?? chunkTimes.length;
  /** @type {number[]} */
  const times = []; // [tokens] arrival of each generated token
  /** @type {number[]} */
  const gaps = []; // inter-token latency: a chunk's gap since the previous one, shared by its tokens
  chunkTimes.forEach((t, i) => {
    const upTo = Math.min(tokens, chunkCounts[i] ?? times.length + 1);
    const d = upTo - times.length;
    if (i > 0 && d > 0) for (let j = 0; j < d; j++) gaps.push((t - (chunkTimes[i - 1] ?? t)) / d);
    while (times.length < upTo) times.push(t);
  });
  return { t0, times, gaps, chunks: chunkTimes.length, tokens, promptTokens: usage?.prompt_tokens };
}

/**
 * Runs every concurrency level; `request(seed)` is one generation.
 * @param {(seed: number) => Promise<{ t0: number, times: number[], gaps?: number[], chunks?: number, tokens: number, promptTokens?: number }>} request
 */
async function runLevels(request) {
  await Promise.all(Array.from({ length: Math.min(2, maxSequences) }, (_, i) => request(100000 + i))); // warm-up
  const rows = [];
  /** @type {string[]} */
  const notes = [];
  for (const c of levels) {
    const t0 = performance.now();
    // Prompts differ per level too: no engine reuses a cached prefix.
    const runs = await Promise.all(Array.from({ length: c }, (_, i) => request(c * 1000 + i)));
    const wall = performance.now() - t0;
    const tokens = runs.reduce((n, r) => n + r.tokens, 0);
    const ttft = runs.map((r) => (r.times[0] ?? NaN) - r.t0);
    const itl = runs.flatMap((r) => r.gaps ?? r.times.slice(1).map((t, k) => t - (r.times[k] ?? t)));
    const lastFirst = Math.max(...runs.map((r) => r.times[0] ?? 0));
    const end = Math.max(...runs.map((r) => r.times[r.times.length - 1] ?? 0));
    const after = runs.reduce((n, r) => n + r.times.filter((t) => t > lastFirst).length, 0);
    const short = runs.filter((r) => r.tokens !== gen).length;
    if (short) notes.push(`${c} concurrent: ${short} of ${c} requests generated other than ${gen} tokens`);
    const badPrompt = runs.filter((r) => r.promptTokens !== undefined && r.promptTokens !== promptLen).length;
    if (badPrompt) notes.push(`${c} concurrent: ${badPrompt} prompts were not counted as ${promptLen} tokens`);
    const chunks = runs.reduce((n, r) => n + (r.chunks ?? r.times.length), 0);
    if (chunks !== tokens) notes.push(`${c} concurrent: ${chunks} text chunks for ${tokens} tokens`);
    const unseen = runs.reduce((n, r) => n + r.tokens - r.times.length, 0);
    if (unseen) notes.push(`${c} concurrent: ${unseen} tokens without an arrival time (left out of TTFT / ITL)`);
    rows.push({
      concurrency: c,
      tokens,
      aggregateTokPerS: (tokens * 1000) / wall,
      decodeTokPerS: end > lastFirst ? (after * 1000) / (end - lastFirst) : NaN,
      ttftP50: pct(ttft, 50),
      ttftP99: pct(ttft, 99),
      itlP50: pct(itl, 50),
      itlP99: pct(itl, 99),
    });
  }
  return { rows, notes };
}

/** A free loopback port (closed again before the server binds it). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** @type {Set<import('node:child_process').ChildProcess>} */
const children = new Set();
// A server never outlives the benchmark: errors, Ctrl-C and normal exit all end it.
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM']))
  process.once(sig, () => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(130);
  });

/**
 * Starts a server process and waits for GET /health to answer 200.
 * @param {string} name @param {string} cmd @param {string[]} args @param {number} port
 */
async function startServer(name, cmd, args, port) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  /** @type {string[]} */
  const tail = []; // its last output lines, for the error message
  const keep = (/** @type {Buffer} */ b) => {
    tail.push(...b.toString().split('\n').filter(Boolean));
    tail.splice(0, Math.max(0, tail.length - 30));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  /** @type {string | undefined} */
  let exited;
  child.once('exit', (code, signal) => {
    exited = `exited (${signal ?? code})`;
    children.delete(child);
  });
  child.once('error', (e) => (exited = `failed to start: ${e.message}`));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (exited) throw new Error(`${name} ${exited}:\n${tail.join('\n')}`);
    try {
      const r = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      if (r.ok) break; // llama-server answers 503 while it loads
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not answer /health within 180 s:\n${tail.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
    async stop() {
      if (exited) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(t);
    },
  };
}

const f = (/** @type {number} */ x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');

/** @param {{ concurrency: number, decodeTokPerS: number }[]} rows */
function scaling(rows) {
  const one = rows.find((r) => r.concurrency === 1);
  return rows
    .filter((r) => one && r.concurrency > 1)
    .map(
      (r) =>
        `${r.concurrency} concurrent: ${f(r.decodeTokPerS / (one?.decodeTokPerS ?? NaN), 2)}× the decode tok/s of 1`,
    );
}

async function compare(file, threads) {
  const mm = require('../dist/index.js');
  const bin = values['llama-server'];
  if (!fs.existsSync(bin))
    throw new Error(`no llama-server at ${bin}: build it as bench/README.md says, or pass --llama-server PATH`);
  const tokens = mm.readGGUFSync(file).metadata['tokenizer.ggml.tokens'];
  if (!Array.isArray(tokens)) throw new Error(`${file} has no tokenizer.ggml.tokens`);
  const vocab = tokens.length;
  const common = { file, threads, parallel: maxSequences, ctxPerSlot };
  const engines = [
    {
      name: 'minimacllm',
      cmd: process.execPath,
      args: (/** @type {number} */ port) => [
        path.join(__dirname, '..', 'dist', 'cli', 'main.js'),
        'serve',
        ...['--model', file, '--backend', 'cpu', '--threads', String(threads), '--ctx', String(ctxPerSlot)],
        ...['--parallel', String(maxSequences), '--host', '127.0.0.1', '--port', String(port), '--quiet'],
      ],
    },
    {
      name: 'llama-server',
      cmd: bin,
      // -c is the whole KV cache, split over the slots (--no-kv-unified): ctxPerSlot each. No RAM prompt
      // cache (--cache-ram 0): every prompt is new, saving idle slots would only add work.
      args: (/** @type {number} */ port) => [
        ...['-m', file, '-t', String(threads), '-tb', String(threads), '-c', String(ctxPerSlot * maxSequences)],
        ...['--parallel', String(maxSequences), '--no-kv-unified', '--cache-ram', '0', '--no-webui'],
        ...['--host', '127.0.0.1', '--port', String(port), ...(values['llama-server-arg'] ?? [])],
      ],
    },
  ];
  const loadBefore = loadavg();
  /** @type {Record<string, { rows: any[], notes: string[] }>} */
  const results = {};
  for (const e of engines) {
    const port = /** @type {number} */ (await freePort());
    const server = await startServer(e.name, e.cmd, e.args(port), port);
    try {
      results[e.name] = await runLevels((seed) => httpRequest(server.url, promptOf(vocab, seed)));
    } finally {
      await server.stop();
    }
  }
  const load = loadavg();
  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ model: values.model, promptLen, gen, ...common, loadBefore, load, engines: results }, null, 2)}\n`,
    );
    return;
  }
  console.log(
    `${values.model}: prompt ${promptLen}, ${gen} generated per request, over HTTP; --parallel ${maxSequences}, ` +
      `${ctxPerSlot} tokens of context per slot, ${threads} threads; load average ${loadBefore} before, ${load} after`,
  );
  console.log('| engine | concurrent | aggregate tok/s | decode tok/s | TTFT p50 / p99 ms | ITL p50 / p99 ms |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const e of engines)
    for (const r of results[e.name]?.rows ?? [])
      console.log(
        `| ${e.name} | ${r.concurrency} | ${f(r.aggregateTokPerS)} | ${f(r.decodeTokPerS)} | ${f(r.ttftP50, 0)} / ${f(r.ttftP99, 0)} | ${f(r.itlP50)} / ${f(r.itlP99)} |`,
      );
  for (const e of engines) {
    for (const line of scaling(results[e.name]?.rows ?? [])) console.log(`${e.name}: ${line}`);
    for (const n of results[e.name]?.notes ?? []) console.log(`${e.name}: note: ${n}`);
  }
  const [ours, theirs] = engines.map((e) => results[e.name]?.rows ?? []);
  for (const r of ours ?? []) {
    const o = theirs?.find((x) => x.concurrency === r.concurrency);
    if (o)
      console.log(
        `${r.concurrency} concurrent: minimacllm / llama-server = ${f(r.aggregateTokPerS / o.aggregateTokPerS, 2)}× aggregate, ` +
          `${f(r.decodeTokPerS / o.decodeTokPerS, 2)}× decode tok/s`,
      );
  }
}

async function main() {
  const mm = require('../dist/index.js');
  const file = values.model in PRESETS ? ensureModel(values.model) : values.model;
  if (values.compare) {
    // Both engines get the same thread count: ours by default uses the physical cores.
    const threads = values.threads ? Number(values.threads) : mm.cpuInfo().physicalCores;
    await compare(file, threads);
    return;
  }
  const model = await mm.loadModel(file, {
    backend: 'cpu',
    contextSize: ctxPerSlot,
    maxSequences,
    quiet: true,
    ...(values.threads ? { threads: Number(values.threads) } : {}),
  });
  const eog = model.tokenizer.eogIds;
  // Random-weight models may pick end-of-generation early: every request generates `gen` tokens.
  /** @param {Float32Array} l */
  const noEos = (l) => {
    for (const id of eog) l[id] = -Infinity;
  };
  const vocab = model.info.vocabSize;

  let server, url;
  if (values.http) {
    server = mm.createServer(model, { port: 0, parallel: maxSequences, maxTokens: gen });
    url = (await server.listen()).url;
  }

  /** One request in this process: token arrival times. @param {number} seed */
  async function request(seed) {
    if (url) return httpRequest(url, promptOf(vocab, seed));
    const t0 = performance.now();
    /** @type {number[]} */
    const times = [];
    for await (const c of model.stream(promptOf(vocab, seed), {
      temperature: 0,
      maxTokens: gen,
      logitsProcessor: noEos,
    }))
      if (c.token >= 0) times.push(performance.now());
    return { t0, times, tokens: times.length };
  }

  const { rows, notes } = await runLevels(request);
  const load = loadavg();
  if (server) await server.close();
  await model.dispose();
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ model: values.model, promptLen, gen, load, rows, notes }, null, 2)}\n`);
    return;
  }
  console.log(
    `${values.model}: prompt ${promptLen}, ${gen} generated per request${values.http ? ', over HTTP' : ''}; load average ${load}`,
  );
  console.log('| concurrent | aggregate tok/s | decode tok/s | TTFT p50 / p99 ms | ITL p50 / p99 ms |');
  console.log('| ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows)
    console.log(
      `| ${r.concurrency} | ${f(r.aggregateTokPerS)} | ${f(r.decodeTokPerS)} | ${f(r.ttftP50, 0)} / ${f(r.ttftP99, 0)} | ${f(r.itlP50)} / ${f(r.itlP99)} |`,
    );
  for (const line of scaling(rows)) console.log(line);
  for (const n of notes) console.log(`note: ${n}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
