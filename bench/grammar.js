// @ts-check
/**
 * Structured-output benchmark (part of `npm run bench`): decode tok/s of
 * generate() with a JSON-schema grammar against the same generate() without
 * one, in one process, interleaved A/B (so machine noise hits both alike),
 * on a model with a 150k-token vocabulary (the Qwen2 tokenizer on a
 * SmolLM2-135M-shaped body: the grammar's cost grows with the vocabulary).
 *
 *   cold: the first constrained generation in the process (builds the token
 *         trie and classifies the grammar's states); warm: later ones (the
 *         steady state: masks come from caches that live with the grammar).
 */
'use strict';

/** A schema whose output is long and varied: nested objects, bounded strings, enums, numbers, formats, arrays. */
const SCHEMA = {
  type: 'object',
  properties: {
    users: {
      type: 'array',
      minItems: 2,
      maxItems: 3,
      items: {
        type: 'object',
        properties: {
          id: { type: 'integer', minimum: 1, maximum: 99999 },
          name: { type: 'string', minLength: 3, maxLength: 24 },
          email: { type: 'string', maxLength: 32 },
          role: { enum: ['admin', 'editor', 'viewer'] },
          joined: { type: 'string', format: 'date' },
          score: { type: 'number' },
          tags: { type: 'array', items: { type: 'string', maxLength: 12 }, maxItems: 3 },
        },
        required: ['id', 'name', 'email', 'role', 'joined', 'score', 'tags'],
        additionalProperties: false,
      },
    },
  },
  required: ['users'],
  additionalProperties: false,
};

const PROMPT = 'Return the users of the system as JSON:';

async function childGrammar(file, threads, rounds, maxTokens) {
  const { loadModel } = require('../dist/index.js');
  const model = await loadModel(file, { backend: 'cpu', threads, contextSize: 2048, quiet: true });
  const opts = { temperature: 0.8, maxTokens };
  const run = async (constrained, seed) => {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const r = await model.generate(PROMPT, { ...opts, seed, ...(constrained ? { jsonSchema: SCHEMA } : {}) });
    const c = process.cpuUsage(c0);
    return {
      tokens: r.tokens.length,
      tps: r.timings.generateTokensPerSecond,
      // CPU time of the whole call (all threads) per generated token: steadier than wall time on a busy machine.
      cpuMsPerToken: (c.user + c.system) / 1000 / Math.max(1, r.tokens.length),
      ms: performance.now() - t0,
      valid: constrained ? r.finishReason === 'eos' && r.json !== undefined : true,
      finish: r.finishReason,
    };
  };
  // Warm the unconstrained path first (first-run allocations), then the cold constrained run.
  await run(false, 1000);
  const cold = await run(true, 999);
  const plain = [],
    constrained = [];
  for (let i = 0; i < rounds; i++) {
    plain.push(await run(false, i + 1));
    constrained.push(await run(true, i + 1));
  }
  await model.dispose();
  return { cold, plain, constrained };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function summarize(r) {
  const tps = (runs) => runs.map((x) => x.tps);
  const best = (xs) => Math.max(...xs);
  return {
    plainBest: best(tps(r.plain)),
    plainMedian: median(tps(r.plain)),
    constrainedBest: best(tps(r.constrained)),
    constrainedMedian: median(tps(r.constrained)),
    coldTps: r.cold.tps,
    coldMs: r.cold.ms,
    cpuPlain: median(r.plain.map((x) => x.cpuMsPerToken)),
    cpuConstrained: median(r.constrained.map((x) => x.cpuMsPerToken)),
    tokensConstrained: median(r.constrained.map((x) => x.tokens)),
    tokensPlain: median(r.plain.map((x) => x.tokens)),
    allValid: r.constrained.every((x) => x.valid) && r.cold.valid,
  };
}

module.exports = { childGrammar, summarize, median, SCHEMA };
