#!/usr/bin/env node
// @ts-check
/**
 * End-to-end benchmark: prefill and decode tokens/s, time to first token and
 * peak RSS, for one or more GGUFs, optionally side by side with llama.cpp.
 *
 *   npm run bench [-- --model smol-q8_0,smol-q4_0,...|PATH] [--threads 1,2]
 *                    [--prompt 512] [--gen 128] [--repeat 1] [--compare llama.cpp] [--json]
 *                    [--backend cpu|metal|metal-sim]  (minimacllm's backend; cpu by default)
 *                    [--grammar smolqwen-q8_0|PATH|off] [--grammar-rounds 5]
 *                    [--depth 4096,16384] [--sampler smolqwen-q8_0|PATH|off]
 *                    [--kv-type f16|q8_0|f32] [--huge-pages on|off]
 *
 * Models: a path, or a preset of bench/models.js (random weights, real shapes:
 * smol-q8_0 (default), smol-q4_0, smol-q4_k, smol-q4_k_m, llama1b-q4_0, gemma3-1b-q4_0,
 * phi4mini-q4_0), written once into
 * bench/.models/. Every measurement runs in a fresh child process (one engine,
 * one thread count), so peak RSS and load time are its own:
 *   load   = loadModel + context creation (ms)
 *   TTFT   = from handing over the prompt to knowing the first generated token
 *            (prefill + greedy pick), the model already loaded
 *   prefill tok/s = prompt / TTFT; decode tok/s = generated tokens after the
 *            first / their time (one token per step, greedy).
 * Both engines run their public generation API on token ids, greedy: minimacllm's
 * model.stream(ids, { temperature: 0 }), node-llama-cpp's sequence.evaluate(ids,
 * { temperature: 0 }) (until session 6 minimacllm's side was a loop of
 * context.evaluate() + an argmax in JS, which allocated a fresh logits array a token).
 * --compare llama.cpp runs node-llama-cpp (installed in bench/compare/, never a
 * dependency of minimacllm) on the same file, same prompt, same thread counts.
 * --grammar (default smolqwen-q8_0: SmolLM2-135M's body, Qwen2's 151,936-row
 * vocabulary): structured output, generate() with a JSON-schema grammar vs
 * without, same process, interleaved A/B (see bench/grammar.js).
 * --depth adds, per model, rows whose prompt is that many tokens (decode then
 * reads a KV cache that deep; 32 tokens generated).
 * --kv-type (default f16): the KV cache's type for every engine: minimacllm's
 * kvType, llama.cpp's -ctk/-ctv (node-llama-cpp's experimentalKvCacheKeyType /
 * ValueType; a quantized V cache needs llama.cpp's flash attention, so q8_0
 * turns it on there). The decode roofline counts that cache's bytes.
 * --huge-pages (default off, as loadModel): minimacllm's loadModel hugePages (on:
 * Linux reads the weights into 2 MB pages; off: the file's mapping in place, as
 * llama.cpp reads it).
 * The measured read bandwidth is taken on a buffer in huge pages where the
 * system gives them (the machine's best: the roofline's yardstick for both
 * settings), and printed beside it through 4 KB pages.
 * Next to each decode figure: the decode roofline, the tokens/s the measured
 * read bandwidth (all cores) allows when every token reads the weights once
 * plus the KV cache at that depth, and the fraction of it reached. The
 * bandwidth is probed in each measurement's process right after its decode
 * (a VM's bandwidth can move by 2x over minutes) and the row uses the one of
 * its fastest run; the summary line's figure is probed at the end.
 * --sampler (default smolqwen-q8_0: a 151,936-row vocabulary): generate()'s
 * decode tok/s with greedy, default, unrestricted (topK 0, topP 1, minP 0),
 * top-p alone and min-p alone sampling, same process, interleaved; the sampler's share of decode time is
 * 1 - tok/s(setting) / tok/s(greedy). On a VM those tok/s move by more than the sampler costs, so the
 * native selection and draw are also timed alone on a row of the model's logits (µs per call on a backend's
 * threads as generate() runs it, that as a share of a greedy decode step, and µs on the JS thread alone), and inside generate() the main thread's time per token from the
 * token's logits to its emitted chunk (median of the rounds; what a setting adds over greedy, as a share
 * of a greedy step, is the sampler's cost as generate() pays it).
 * Runs on the compiled package (dist/): `npm run build:ts` first.
 */
'use strict';
const path = require('node:path');
const os = require('node:os');
const fs = require('node:fs');
const { spawnSync } = require('node:child_process');
const { parseArgs } = require('node:util');
const { PRESETS, ensureModel } = require('./models');
const { childGrammar, summarize: summarizeGrammar, median } = require('./grammar');

const { values: args } = parseArgs({
  options: {
    model: { type: 'string', multiple: true },
    threads: { type: 'string', default: '1,2' },
    prompt: { type: 'string' },
    gen: { type: 'string' },
    repeat: { type: 'string', default: '1' },
    compare: { type: 'string' },
    json: { type: 'boolean', default: false },
    backend: { type: 'string', default: 'cpu' },
    grammar: { type: 'string', default: 'smolqwen-q8_0' },
    'grammar-rounds': { type: 'string', default: '5' },
    depth: { type: 'string', default: '' },
    sampler: { type: 'string', default: 'smolqwen-q8_0' },
    'kv-type': { type: 'string', default: 'f16' },
    'huge-pages': { type: 'string', default: 'off' },
    // internal: one measurement in this process
    child: { type: 'string' },
    file: { type: 'string' },
  },
});

// ---------------------------------------------------------------- measurement (child process)

function promptTokens(n, vocab) {
  // Deterministic ids spread over the vocabulary, avoiding the last (control) token.
  return Array.from({ length: n }, (_, i) => (i * 7919 + 13) % (vocab - 1));
}

async function childMinimacllm(file, threads, P, G) {
  const mm = require('../dist/index.js');
  const { loadModel } = mm;
  const t0 = performance.now();
  const backend = /** @type {import('../dist/index.js').BackendChoice} */ (args.backend);
  const kvType = /** @type {import('../dist/index.js').KvType} */ (args['kv-type']);
  const hugePages = args['huge-pages'] === 'on';
  const model = await loadModel(file, { backend, threads, contextSize: P + G + 8, quiet: true, kvType, hugePages });
  const loadMs = performance.now() - t0;
  const ids = promptTokens(P, model.info.vocabSize);
  // The public generation path, greedy, as the llama.cpp child runs node-llama-cpp's
  // (token ids in, one sampled token out per step): the first token ends the prefill.
  const t1 = performance.now();
  let tFirst = 0,
    n = 0,
    c0 = process.cpuUsage();
  for await (const _chunk of model.stream(ids, { temperature: 0, maxTokens: G + 1 })) {
    if (n++ === 0) {
      tFirst = performance.now();
      c0 = process.cpuUsage();
    }
  }
  const tEnd = performance.now();
  const c = process.cpuUsage(c0);
  const info = model.info;
  await model.dispose?.();
  // K and V rows of every layer: what one decode step reads per cached token
  // (q8_0: blocks of 32 values in 34 bytes; f16: 2 bytes a value; f32: 4).
  const perValue = kvType === 'q8_0' ? 34 / 32 : kvType === 'f32' ? 4 : 2;
  const kvBytesPerToken = info.nLayer * 2 * info.nKvHead * info.headDim * perValue;
  // CPU time of the decode loop (all threads): steadier than wall time on a busy machine.
  return {
    loadMs,
    ttftMs: tFirst - t1,
    decodeMs: tEnd - tFirst,
    decodeCpuMs: (c.user + c.system) / 1000,
    decoded: n - 1,
    kvBytesPerToken,
  };
}

// Sampler settings on one model, interleaved rounds of generate() (random
// weights rarely end early: the seed is fixed so every setting decodes alike).
const SAMPLERS = {
  greedy: { temperature: 0 },
  default: {}, // topK 40, topP 0.95, minP 0.05, temperature 0.8
  unrestricted: { topK: 0, topP: 1, minP: 0, temperature: 0.8 },
  topP: { topK: 0, topP: 0.95, minP: 0, temperature: 0.8 },
  minP: { topK: 0, topP: 1, minP: 0.05, temperature: 0.8 },
};
// Column titles of the sampler table (every setting but greedy, the baseline).
const SAMPLER_TITLES = {
  default: 'default (topK 40, topP 0.95, minP 0.05)',
  unrestricted: 'topK 0, topP 1, minP 0',
  topP: 'topK 0, topP 0.95, minP 0',
  minP: 'topK 0, topP 1, minP 0.05',
};
async function childSampler(file, threads, rounds, G) {
  const { loadModel } = require('../dist/index.js');
  const backend = /** @type {import('../dist/index.js').BackendChoice} */ (args.backend);
  const model = await loadModel(file, { backend, threads, contextSize: G + 64, quiet: true });
  /** @type {Record<string, number[]>} */
  const tps = Object.fromEntries(Object.keys(SAMPLERS).map((k) => [k, []]));
  // Main-thread µs per token from its logits to its emitted chunk (penalties, selection, draw, detokenizing):
  // what sampling adds to a step, measured where generate() spends it, apart from the step's own spread.
  /** @type {Record<string, number[]>} */
  const mainUs = Object.fromEntries(Object.keys(SAMPLERS).map((k) => [k, []]));
  const tokens = {};
  for (let i = 0; i <= rounds; i++)
    for (const [name, o] of Object.entries(SAMPLERS)) {
      let seen = 0,
        spent = 0,
        n = 0;
      const r = await model.generate('Once upon a time', {
        ...o,
        maxTokens: G,
        seed: 7,
        logitsProcessor: () => {
          seen = performance.now();
        },
        onToken: () => {
          spent += performance.now() - seen;
          n++;
        },
      });
      if (i > 0) {
        tps[name].push(r.timings.generateTokensPerSecond); // round 0 warms up
        mainUs[name].push((spent / Math.max(1, n)) * 1000);
      }
      tokens[name] = r.tokens.length;
    }
  // The native selection and draw alone, on a row of this model's logits (the decode tok/s above move by
  // more than the sampler costs on a VM): microseconds per call, best of 5 batches of 200 calls.
  const { nativeCall } = require('../dist/native.js');
  const ctx = model.createContext();
  const row = (await ctx.evaluate(model.tokenizer.tokenize('Once upon a time'))).slice(0, model.tokenizer.vocabSize);
  await ctx.dispose();
  // Twice: on a backend's threads as generate() samples (a backend of its own, `threads` threads), and on
  // the JS thread alone (the addon's sampleLogits).
  const { Backend } = require('../dist/backend.js');
  const rowBackend = Backend.create('cpu', { threads });
  /** @type {Record<string, number>} */
  const us = {};
  /** @type {Record<string, number>} */
  const aloneUs = {};
  for (const [name, o] of Object.entries(SAMPLERS)) {
    const p = { topK: 40, topP: 0.95, minP: 0.05, temperature: 0.8, ...o };
    /** @param {(r: number) => number} draw */
    const time = (draw) => {
      let best = Infinity;
      for (let b = 0; b < 5; b++) {
        const t0 = performance.now();
        for (let i = 0; i < 200; i++) draw((i + 0.5) / 200);
        best = Math.min(best, ((performance.now() - t0) / 200) * 1000);
      }
      return best;
    };
    us[name] = time((r) => rowBackend.sampleLogits(row, p.topK, p.topP, p.minP, p.temperature, r));
    aloneUs[name] = time((r) => nativeCall((a) => a.sampleLogits(row, p.topK, p.topP, p.minP, p.temperature, r)));
  }
  await rowBackend.dispose();
  await model.dispose();
  return { tps, tokens, us, aloneUs, mainUs };
}

async function childLlamaCpp(file, threads, P, G) {
  const entry = path.join(__dirname, 'compare', 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
  const { getLlama } = await import(entry);
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const kvType = args['kv-type'];
  const kvOptions =
    kvType === 'f16'
      ? {}
      : {
          experimentalKvCacheKeyType: kvType.toUpperCase(),
          experimentalKvCacheValueType: kvType.toUpperCase(),
          // llama.cpp quantizes the V cache only with flash attention
          ...(kvType === 'q8_0' && { flashAttention: true }),
        };
  const context = await model.createContext({ contextSize: P + G + 8, threads, batchSize: P, ...kvOptions });
  const seq = context.getSequence();
  const loadMs = performance.now() - t0;
  const ids = promptTokens(P, model.tokens?.length ?? model.fileInsights?.vocabSize ?? 32000);
  const t1 = performance.now();
  let tFirst = 0,
    n = 0;
  for await (const _tok of seq.evaluate(ids, { temperature: 0 })) {
    if (n === 0) tFirst = performance.now();
    if (++n > G) break;
  }
  const tEnd = performance.now();
  await context.dispose();
  await model.dispose();
  return { loadMs, ttftMs: tFirst - t1, decodeMs: tEnd - tFirst, decoded: n - 1 };
}

async function child() {
  const threads = Number(args.threads),
    P = Number(args.prompt),
    G = Number(args.gen);
  if (args.child === 'grammar') {
    const r = await childGrammar(args.file, threads, Number(args['grammar-rounds']), G);
    process.stdout.write(`BENCH_RESULT ${JSON.stringify(r)}\n`);
    return;
  }
  if (args.child === 'sampler') {
    const r = await childSampler(args.file, threads, Number(args['grammar-rounds']), G);
    process.stdout.write(`BENCH_RESULT ${JSON.stringify(r)}\n`);
    return;
  }
  const fn = args.child === 'llama.cpp' ? childLlamaCpp : childMinimacllm;
  const r = await fn(args.file, threads, P, G);
  r.peakRssMB = process.resourceUsage().maxRSS / 1024;
  // The read bandwidth right after this decode (this VM's varies by 2x over minutes):
  // each row's roofline uses the one of its own best run.
  const bw = readBandwidth();
  r.readGBs = bw.huge;
  r.readGBsSmallPages = bw.small;
  process.stdout.write(`BENCH_RESULT ${JSON.stringify(r)}\n`);
}

// ---------------------------------------------------------------- driver

function measure(engine, file, threads, P, G) {
  const res = spawnSync(
    process.execPath,
    [
      __filename,
      '--child',
      engine,
      '--file',
      file,
      '--threads',
      String(threads),
      '--prompt',
      String(P),
      '--gen',
      String(G),
      '--backend',
      args.backend,
      '--grammar-rounds',
      args['grammar-rounds'],
      '--kv-type',
      args['kv-type'],
      '--huge-pages',
      args['huge-pages'],
    ],
    { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, NODE_NO_WARNINGS: '1' } },
  );
  const line = (res.stdout || '').split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (!line) {
    const why = `${res.stderr || ''}${res.stdout || ''}`.trim().split('\n').slice(-6).join('\n');
    return { error: why || `exit ${res.status}` };
  }
  const r = JSON.parse(line.slice('BENCH_RESULT '.length));
  if (engine === 'grammar' || engine === 'sampler') return r;
  r.prefillTps = (P / r.ttftMs) * 1000;
  r.decodeTps = (r.decoded / r.decodeMs) * 1000;
  return r;
}

// Best of `repeat` runs (by decode and prefill separately: noise only ever slows a run down).
function best(runs) {
  const ok = runs.filter((r) => !r.error);
  if (!ok.length) return runs[0];
  const pick = (k, max) => ok.reduce((a, b) => ((max ? b[k] > a[k] : b[k] < a[k]) ? b : a))[k];
  const fastest = ok.reduce((a, b) => (b.decodeTps > a.decodeTps ? b : a));
  return {
    readGBs: fastest.readGBs,
    readGBsSmallPages: fastest.readGBsSmallPages,
    loadMs: pick('loadMs', false),
    ttftMs: pick('ttftMs', false),
    prefillTps: pick('prefillTps', true),
    decodeTps: pick('decodeTps', true),
    peakRssMB: pick('peakRssMB', false),
    decoded: ok[0].decoded,
    kvBytesPerToken: ok[0].kvBytesPerToken,
  };
}

function llamaCppAvailable() {
  return fs.existsSync(path.join(__dirname, 'compare', 'node_modules', 'node-llama-cpp', 'package.json'));
}

function machineLine() {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'} x${cpus.length}, ${os.platform()} ${os.arch()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

async function main() {
  if (!['on', 'off'].includes(args['huge-pages']))
    throw new Error(`--huge-pages must be on or off, got "${args['huge-pages']}"`);
  if (!['f16', 'q8_0', 'f32'].includes(args['kv-type']))
    throw new Error(`--kv-type must be f16, q8_0 or f32, got "${args['kv-type']}"`);
  const models = (args.model ?? ['smol-q8_0']).flatMap((m) => m.split(',')).filter(Boolean);
  const threadList = args.threads.split(',').map(Number);
  const repeat = Math.max(1, Number(args.repeat));
  const engines = ['minimacllm'];
  if (args.compare) {
    if (args.compare !== 'llama.cpp')
      throw new Error(`--compare: only "llama.cpp" is supported, got "${args.compare}"`);
    if (llamaCppAvailable()) engines.push('llama.cpp');
    else
      console.error(
        'node-llama-cpp is not installed in bench/compare/ (cd bench/compare && npm install node-llama-cpp@3.22.1): comparison skipped',
      );
  }
  const results = [];
  const depths = args.depth.split(',').filter(Boolean).map(Number);
  const runs = models.flatMap((m) => {
    const big = /llama1b|gemma3-1b|phi4mini/.test(m);
    const base = { m, P: Number(args.prompt ?? (big ? 256 : 512)), G: Number(args.gen ?? (big ? 64 : 128)) };
    return [base, ...depths.map((d) => ({ m, P: d, G: 32 }))];
  });
  for (const { m, P, G } of runs) {
    const file = m in PRESETS ? ensureModel(m) : path.resolve(m);
    const bytes = fs.statSync(file).size;
    for (const threads of threadList)
      for (const engine of engines) {
        const runs = [];
        for (let i = 0; i < repeat; i++) runs.push(measure(engine, file, threads, P, G));
        const r = best(runs);
        results.push({
          model: path.basename(file),
          bytes,
          engine,
          backend: engine === 'minimacllm' ? args.backend : undefined,
          kvType: args['kv-type'],
          threads,
          prompt: P,
          gen: G,
          ...r,
        });
        if (!args.json) {
          const s = r.error
            ? `ERROR ${r.error}`
            : `prefill ${r.prefillTps.toFixed(1)} tok/s, decode ${r.decodeTps.toFixed(1)} tok/s, TTFT ${r.ttftMs.toFixed(0)} ms, load ${r.loadMs.toFixed(0)} ms, peak RSS ${r.peakRssMB.toFixed(0)} MB`;
          console.error(`${path.basename(file)} ${engine} ${threads}t: ${s}`);
        }
      }
  }
  const grammar = args.grammar === 'off' ? [] : runGrammar(threadList);
  const sampler = args.sampler === 'off' ? [] : runSampler(threadList);
  const { huge: bw, small: bwSmall } = readBandwidth();
  // Decode roofline: every token reads the weights once plus the KV cache of the context so far.
  for (const r of results) {
    // llama.cpp's rows: the same file and --kv-type, so the same KV cache
    r.kvBytesPerToken ??= results.find((o) => o.model === r.model && o.kvBytesPerToken)?.kvBytesPerToken;
    r.readGBs ||= bw;
    // bytes one decode step reads: the weights + the KV cache at the mean decode depth
    r.stepBytes = r.bytes + (r.kvBytesPerToken ?? 0) * (r.prompt + r.gen / 2);
    if (r.error || !r.readGBs) continue;
    r.rooflineTps = (r.readGBs * 1e9) / r.stepBytes;
    r.rooflineFraction = r.decodeTps / r.rooflineTps;
  }
  if (args.json) {
    console.log(
      JSON.stringify(
        {
          machine: machineLine(),
          load: os.loadavg(),
          readGBs: bw,
          readGBsSmallPages: bwSmall,
          results,
          grammar,
          sampler,
        },
        null,
        2,
      ),
    );
    return;
  }
  console.log(
    `\nmachine: ${machineLine()}; load average ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(
        ' ',
      )}; measured read bandwidth ${bw ? bw.toFixed(1) : '?'} GB/s (all cores; ${bwSmall ? bwSmall.toFixed(1) : '?'} GB/s through 4 KB pages); KV cache ${args['kv-type']}; huge pages ${args['huge-pages']}\n`,
  );
  console.log(
    '| GGUF | MB | prompt | engine | threads | prefill tok/s | decode tok/s | decode roofline tok/s (fraction; read GB/s after that run) | TTFT ms | load ms | peak RSS MB |',
  );
  console.log('|' + ' --- |'.repeat(11));
  for (const r of results) {
    const head = `| ${r.model} | ${(r.bytes / 1e6).toFixed(0)} | ${r.prompt} | ${r.engine} | ${r.threads}`;
    if (r.error) {
      console.log(`${head} | error | | | | | |`);
      continue;
    }
    const roof = r.rooflineTps
      ? `${r.rooflineTps.toFixed(1)} (${(r.rooflineFraction * 100).toFixed(0)}%; ${r.readGBs.toFixed(1)})`
      : '?';
    console.log(
      `${head} | ${r.prefillTps.toFixed(1)} | ${r.decodeTps.toFixed(1)} | ${roof} | ${r.ttftMs.toFixed(0)} | ${r.loadMs.toFixed(0)} | ${r.peakRssMB.toFixed(0)} |`,
    );
  }
  printGrammar(grammar);
  printSampler(sampler);
  if (engines.length > 1) {
    // Ratios at each engine's best thread count, as the issue's targets are stated.
    console.log(
      '\n| GGUF | minimacllm decode (best t) | llama.cpp decode (best t) | ratio | minimacllm prefill | llama.cpp prefill | ratio | decode roofline tok/s ((weights + KV) bytes / read GB/s) |',
    );
    console.log('|' + ' --- |'.repeat(8));
    for (const key of [...new Set(results.map((r) => `${r.model} @${r.prompt}`))]) {
      const [model, at] = key.split(' @');
      const of = (e, k) =>
        results
          .filter((r) => r.model === model && String(r.prompt) === at && r.engine === e && !r.error)
          .reduce((a, r) => (r[k] > a.v ? { v: r[k], t: r.threads } : a), { v: 0, t: 0 });
      const md = of('minimacllm', 'decodeTps'),
        ld = of('llama.cpp', 'decodeTps');
      const mp = of('minimacllm', 'prefillTps'),
        lp = of('llama.cpp', 'prefillTps');
      const bytes = results.find((r) => r.model === model && String(r.prompt) === at).stepBytes;
      console.log(
        `| ${key} | ${md.v.toFixed(1)} (${md.t}t) | ${ld.v.toFixed(1)} (${ld.t}t) | ${(md.v / ld.v).toFixed(2)}x | ${mp.v.toFixed(1)} (${mp.t}t) | ${lp.v.toFixed(1)} (${lp.t}t) | ${(mp.v / lp.v).toFixed(2)}x | ${bw ? ((bw * 1e9) / bytes).toFixed(0) : '?'} |`,
      );
    }
  }
}

// Sampler settings on the large-vocabulary model, one child per thread count.
function runSampler(threadList) {
  const m = args.sampler;
  const file = m in PRESETS ? ensureModel(m) : path.resolve(m);
  const G = Number(args.gen ?? 128);
  return threadList.map((threads) => {
    const load = os.loadavg()[0];
    const r = measure('sampler', file, threads, 0, G);
    if (!args.json && !r.error) console.error(`${path.basename(file)} sampler ${threads}t: done`);
    return { model: path.basename(file), threads, loadBefore: load, ...r };
  });
}

function printSampler(rows) {
  if (rows.length === 0) return;
  console.log(
    '\n**Sampling** (generate() decode tok/s, best of the rounds, same process, interleaved; share = 1 - tok/s / greedy tok/s;' +
      " then the native sampler alone on a row of the model's logits, µs per call on the backend's threads as generate()" +
      ' runs it, its share of a greedy decode step, and µs on the JS thread alone;' +
      " then generate()'s main-thread µs per token from logits to emitted token, median of the rounds, and what it adds" +
      " to greedy's as a share of a greedy decode step)\n",
  );
  const names = Object.keys(SAMPLER_TITLES);
  console.log(
    `| GGUF | threads | greedy (main-thread µs) | ${names.map((n) => `${SAMPLER_TITLES[n]} | share | sampler µs (share; alone) | main-thread µs (added share)`).join(' | ')} |`,
  );
  console.log('|' + ' --- |'.repeat(3 + 4 * names.length));
  for (const r of rows) {
    if (r.error) {
      console.log(`| ${r.model} | ${r.threads} | error: ${r.error.split('\n')[0]} |${' |'.repeat(4 * names.length)}`);
      continue;
    }
    const best = (name) => Math.max(...r.tps[name]);
    const g = best('greedy');
    const stepUs = 1e6 / g; // a greedy decode step
    const main = (name) => median(r.mainUs[name]);
    const cells = names.map(
      (n) =>
        `${best(n).toFixed(1)} | ${((1 - best(n) / g) * 100).toFixed(1)}% | ` +
        `${r.us[n].toFixed(0)} (${((r.us[n] / stepUs) * 100).toFixed(1)}%; ${r.aloneUs?.[n]?.toFixed(0) ?? '-'}) | ` +
        `${main(n).toFixed(0)} (${(((main(n) - main('greedy')) / stepUs) * 100).toFixed(1)}%)`,
    );
    console.log(
      `| ${r.model} | ${r.threads} | ${g.toFixed(1)} (${main('greedy').toFixed(0)}) | ${cells.join(' | ')} |`,
    );
  }
}

// Structured output: constrained vs unconstrained decode on the large-vocabulary model, one child per thread count.
function runGrammar(threadList) {
  const m = args.grammar;
  const file = m in PRESETS ? ensureModel(m) : path.resolve(m);
  // Room for the whole document, so constrained runs end with 'eos' (unconstrained ones run to the limit).
  const G = Number(args.gen ?? 512);
  const out = [];
  for (const threads of threadList) {
    const load = os.loadavg()[0];
    const r = measure('grammar', file, threads, 0, G);
    if (r.error) {
      out.push({ model: path.basename(file), threads, error: r.error });
      continue;
    }
    out.push({ model: path.basename(file), threads, loadBefore: load, ...summarizeGrammar(r) });
    if (!args.json) console.error(`${path.basename(file)} grammar ${threads}t: done`);
  }
  return out;
}

function printGrammar(rows) {
  if (rows.length === 0) return;
  console.log(
    '\n**Structured output** (generate() with a JSON-schema grammar vs without, same process, interleaved; tok/s of decode, best / median of rounds)\n',
  );
  console.log(
    '| GGUF | threads | unconstrained tok/s | JSON schema tok/s | ratio (best) | ratio (median) | CPU ms/token unconstrained / schema | cold first run tok/s | tokens per run | all valid |',
  );
  console.log('|' + ' --- |'.repeat(10));
  for (const r of rows) {
    if (r.error) {
      console.log(`| ${r.model} | ${r.threads} | error: ${r.error.split('\n')[0]} | | | | | | | |`);
      continue;
    }
    console.log(
      `| ${r.model} | ${r.threads} | ${r.plainBest.toFixed(1)} / ${r.plainMedian.toFixed(1)} | ${r.constrainedBest.toFixed(1)} / ${r.constrainedMedian.toFixed(1)} | ${(r.constrainedBest / r.plainBest).toFixed(2)} | ${(r.constrainedMedian / r.plainMedian).toFixed(2)} | ${r.cpuPlain.toFixed(2)} / ${r.cpuConstrained.toFixed(2)} | ${r.coldTps.toFixed(1)} (${(r.coldMs / 1000).toFixed(1)} s) | ${r.tokensPlain} / ${r.tokensConstrained} | ${r.allValid ? 'yes' : 'NO'} |`,
    );
  }
}

/** The machine's read bandwidth (GB/s): from huge pages where it has them (the best), and through 4 KB pages. */
function readBandwidth() {
  try {
    const { native } = require('../dist/native.js');
    const p = native().probeHardware({ threads: native().cpuInfo().physicalCores });
    return { huge: p.readGBs, small: p.readGBsSmallPages };
  } catch {
    return { huge: 0, small: 0 };
  }
}

(args.child ? child() : main()).catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exitCode = 1;
});
