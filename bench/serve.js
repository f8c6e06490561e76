// @ts-check
/**
 * Parallel sequences: aggregate decode throughput and latency at 1 vs N
 * concurrent generations on one model (loadModel maxSequences = the largest
 * concurrency), greedy, each request its own prompt. Per concurrency level:
 * aggregate tok/s (generated tokens / wall time, prefill included), decode
 * tok/s (tokens after each request's first / the time from the last first
 * token to the last token), TTFT p50/p99 (request → first token) and ITL
 * p50/p99 (gaps between a request's tokens). Prints the load average with the
 * numbers (the machine is shared).
 *
 *   npm run build:ts && npm run bench:serve -- [--model smol-q8_0|llama1b-q4_0|PATH]
 *       [--concurrency 1,8] [--prompt 64] [--gen 64] [--threads N] [--http] [--json]
 *
 * --http runs the same requests through `minimacllm serve`'s server (in this
 * process, loopback, streaming SSE with fetch) instead of model.stream().
 */
'use strict';
const os = require('node:os');
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
    json: { type: 'boolean', default: false },
  },
});

const levels = values.concurrency.split(',').map(Number);
const promptLen = Number(values.prompt);
const gen = Number(values.gen);

/** @param {number[]} xs @param {number} p */
function pct(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function main() {
  const mm = require('../dist/index.js');
  const file = values.model in PRESETS ? ensureModel(values.model) : values.model;
  const maxSequences = Math.max(...levels);
  const model = await mm.loadModel(file, {
    backend: 'cpu',
    contextSize: Math.max(256, promptLen + gen + 8),
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
  /** @param {number} i */
  const promptOf = (i) => Array.from({ length: promptLen }, (_, k) => 1 + ((i * 7919 + k * 104729) % (vocab - 1)));

  let server, url;
  if (values.http) {
    server = mm.createServer(model, { port: 0, parallel: maxSequences, maxTokens: gen });
    url = (await server.listen()).url;
  }

  /** One request: token arrival times. @param {number} i */
  async function request(i) {
    const t0 = performance.now();
    const times = [];
    if (!values.http) {
      for await (const c of model.stream(promptOf(i), { temperature: 0, maxTokens: gen, logitsProcessor: noEos }))
        if (c.token >= 0) times.push(performance.now());
    } else {
      const res = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        body: JSON.stringify({ prompt: promptOf(i), max_tokens: gen, temperature: 0, stream: true }),
      });
      const dec = new TextDecoder();
      let rest = ''; // an event may arrive split over reads
      // @ts-ignore: a web ReadableStream is async-iterable in Node
      for await (const chunk of res.body) {
        const lines = (rest + dec.decode(chunk, { stream: true })).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.startsWith('data: {')) continue;
          const c = JSON.parse(line.slice(6));
          if (c.choices?.[0]?.text) times.push(performance.now()); // a token's text (not the finish / usage chunks)
        }
      }
    }
    return { t0, times };
  }

  await Promise.all(Array.from({ length: Math.min(2, maxSequences) }, (_, i) => request(1000 + i))); // warm-up
  const rows = [];
  for (const c of levels) {
    const t0 = performance.now();
    const runs = await Promise.all(Array.from({ length: c }, (_, i) => request(i)));
    const wall = performance.now() - t0;
    const tokens = runs.reduce((n, r) => n + r.times.length, 0);
    const ttft = runs.map((r) => (r.times[0] ?? NaN) - r.t0);
    const itl = runs.flatMap((r) => r.times.slice(1).map((t, k) => t - r.times[k]));
    const lastFirst = Math.max(...runs.map((r) => r.times[0] ?? 0));
    const end = Math.max(...runs.map((r) => r.times[r.times.length - 1] ?? 0));
    const after = runs.reduce((n, r) => n + r.times.filter((t) => t > lastFirst).length, 0);
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
  const load = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  if (server) await server.close();
  await model.dispose();
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ model: values.model, promptLen, gen, load, rows }, null, 2)}\n`);
    return;
  }
  const f = (/** @type {number} */ x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
  console.log(
    `${values.model}: prompt ${promptLen}, ${gen} generated per request${values.http ? ', over HTTP' : ''}; load average ${load}`,
  );
  console.log('| concurrent | aggregate tok/s | decode tok/s | TTFT p50 / p99 ms | ITL p50 / p99 ms |');
  console.log('| ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows)
    console.log(
      `| ${r.concurrency} | ${f(r.aggregateTokPerS)} | ${f(r.decodeTokPerS)} | ${f(r.ttftP50, 0)} / ${f(r.ttftP99, 0)} | ${f(r.itlP50)} / ${f(r.itlP99)} |`,
    );
  const one = rows.find((r) => r.concurrency === 1);
  for (const r of rows)
    if (one && r.concurrency > 1)
      console.log(`${r.concurrency} concurrent: ${f(r.decodeTokPerS / one.decodeTokPerS, 2)}× the decode tok/s of 1`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
