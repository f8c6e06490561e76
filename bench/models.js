// @ts-check
/**
 * Random-weight GGUFs of real model shapes for benchmarking (no download).
 * Weights are random but valid blocks of the named type, scaled like trained
 * weights (std ~0.02) so activations stay finite; the tokenizer is a synthetic
 * byte-level BPE ("gpt2") vocabulary of the right size with valid merges, so
 * llama.cpp and minimacllm both load the same file. Written once into
 * bench/.models/ (git-ignored) and reused.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const MODELS_DIR = path.join(__dirname, '.models');

// ggml type ids and block geometry.
const T = { F32: 0, Q4_0: 2, Q5_0: 6, Q8_0: 8, Q4_K: 12, Q6_K: 14 };
const BLOCK = {
  [T.Q4_0]: [32, 18],
  [T.Q5_0]: [32, 22],
  [T.Q8_0]: [32, 34],
  [T.Q4_K]: [256, 144],
  [T.Q6_K]: [256, 210],
};

const SHAPES = {
  // SmolLM2-135M: dim 576, 30 layers, 9/3 heads, ffn 1536, vocab 49152, tied embeddings.
  smol: {
    name: 'SmolLM2-135M-shape',
    nEmbd: 576,
    nLayer: 30,
    nHead: 9,
    nKvHead: 3,
    nFf: 1536,
    vocab: 49152,
    ropeTheta: 100000,
    ctx: 8192,
  },
  // SmolLM2-135M's body with Qwen2's real 151,936-row vocabulary (151,669 tokens from
  // test/fixtures/tokenizer/vocab/ggml-vocab-qwen2.gguf + [PAD] rows, as Qwen2's GGUFs have):
  // the large-vocabulary shape the grammar benchmark needs (a 150k-entry token trie).
  smolqwen: {
    name: 'SmolLM2-135M-shape, Qwen2 vocabulary',
    nEmbd: 576,
    nLayer: 30,
    nHead: 9,
    nKvHead: 3,
    nFf: 1536,
    vocab: 151936,
    vocabFrom: 'qwen2',
    ropeTheta: 100000,
    ctx: 8192,
  },
  // Llama-3.2-1B: dim 2048, 16 layers, 32/8 heads, ffn 8192, vocab 128256, tied embeddings.
  llama1b: {
    name: 'Llama-3.2-1B-shape',
    nEmbd: 2048,
    nLayer: 16,
    nHead: 32,
    nKvHead: 8,
    nFf: 8192,
    vocab: 128256,
    ropeTheta: 500000,
    ctx: 8192,
  },
  // Gemma-3-1B: dim 1152, 26 layers, 4/1 heads of 256, ffn 6912, vocab 262144, tied; sliding window
  // 512 on 5 of every 6 layers (rope base 10000 there, 1e6 on the global ones), q/k norms, sandwich norms.
  gemma3_1b: {
    name: 'Gemma-3-1B-shape',
    arch: 'gemma3',
    nEmbd: 1152,
    nLayer: 26,
    nHead: 4,
    nKvHead: 1,
    headDim: 256,
    nFf: 6912,
    vocab: 262144,
    ropeTheta: 1000000,
    ctx: 32768,
    window: 512,
  },
  // Phi-4-mini: dim 3072, 32 layers, 24/8 heads of 128, ffn 8192, vocab 200064, tied; fused qkv and
  // gate+up, partial rotary (96 of 128), LongRoPE factors (original context 4096).
  phi4mini: {
    name: 'Phi-4-mini-shape',
    arch: 'phi3',
    nEmbd: 3072,
    nLayer: 32,
    nHead: 24,
    nKvHead: 8,
    nFf: 8192,
    vocab: 200064,
    ropeTheta: 10000,
    ctx: 131072,
    nRot: 96,
    origCtx: 4096,
  },
};

/** Known presets: `<shape>-<type>`; q4_k uses Q8_0 where a row is not a multiple of 256 (llama.cpp's fallback). */
const PRESETS = {
  'smol-q8_0': ['smol', 'Q8_0'],
  'smol-q4_0': ['smol', 'Q4_0'],
  'smol-q4_k': ['smol', 'Q4_K'],
  // What llama.cpp's Q4_K_M quantizer writes for this shape: Q4_K where rows
  // allow, its Q5_0 fallback elsewhere (here: every matrix but ffn_down).
  'smol-q4_k_m': ['smol', 'Q4_K', 'Q5_0'],
  'llama1b-q4_0': ['llama1b', 'Q4_0'],
  // llama.cpp's Q4_K_M mix on a shape whose rows all allow K-quants: Q4_K, and Q6_K for the (tied)
  // embeddings and for attn_v and ffn_down on its "more bits" layers (the first and last eighth, every
  // third between).
  'llama1b-q4_k_m': ['llama1b', 'Q4_K', 'Q8_0', 'q4_k_m'],
  'smolqwen-q8_0': ['smolqwen', 'Q8_0'],
  'gemma3-1b-q4_0': ['gemma3_1b', 'Q4_0'],
  'phi4mini-q4_0': ['phi4mini', 'Q4_0'],
};

// Deterministic xorshift32 byte source.
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

function fillRandom(buf, seed) {
  const r = rng(seed);
  const u32 = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >>> 2);
  for (let i = 0; i < u32.length; i++) u32[i] = r();
  for (let i = u32.length * 4; i < buf.length; i++) buf[i] = r() & 0xff;
}

// f16 bits of a few positive constants.
function f16(x) {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const e = ((u >>> 23) & 0xff) - 127 + 15,
    m = (u >>> 13) & 0x3ff;
  // (normal halves only: a subnormal's bits would come out as garbage, an infinity or a NaN)
  if (!(e > 0 && e < 31)) throw new Error(`f16(${x}): not a normal half`);
  return (e << 10) | m;
}

/** Random valid blocks of `type` for a [rows, cols] matrix, std ~0.02. */
function randomMatrix(type, rows, cols, seed) {
  const [qk, bs] = BLOCK[type];
  const nb = (rows * cols) / qk;
  const out = new Uint8Array(nb * bs);
  fillRandom(out, seed);
  const dv = new DataView(out.buffer);
  const r = rng(seed ^ 0x9e3779b9);
  for (let b = 0; b < nb; b++) {
    const o = b * bs;
    const jitter = 0.75 + (r() & 0xff) / 512;
    if (type === T.Q8_0)
      dv.setUint16(o, f16(3e-4 * jitter), true); // q uniform in [-128,127]: std ~74 * 3e-4
    else if (type === T.Q4_0)
      dv.setUint16(o, f16(5e-3 * jitter), true); // (q - 8) std ~4.6
    else if (type === T.Q5_0)
      dv.setUint16(o, f16(2.2e-3 * jitter), true); // (q - 16) std ~9.2
    else if (type === T.Q4_K) {
      dv.setUint16(o, f16(1.2e-4 * jitter), true); // d * sc(0..63) * q(0..15)
      dv.setUint16(o + 2, f16(2e-4 * jitter), true); // dmin * m(0..63)
    } else if (type === T.Q6_K) {
      // 6-bit values (q - 32) with int8 sub-block scales: small scales (-8..7), so d stays a normal half
      for (let k = 192; k < 208; k++) out[o + k] = ((r() & 15) - 8) & 0xff;
      dv.setUint16(o + 208, f16(2.3e-4 * jitter), true); // d * sc * (q - 32): std ~0.02
    }
  }
  return out;
}

function f32Ones(n) {
  return new Uint8Array(new Float32Array(n).fill(1).buffer);
}

// GPT-2 byte <-> unicode map.
function byteChars() {
  const bs = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) (bs.push(b), cs.push(256 + n++));
  const map = new Array(256);
  bs.forEach((b, i) => (map[b] = String.fromCharCode(cs[i])));
  return map;
}

/** Synthetic byte-level BPE vocabulary: 256 bytes, then pairs (and triples) built by merges, then one control token. */
function syntheticVocab(size) {
  const chars = byteChars();
  const tokens = chars.slice();
  const merges = [];
  const n = size - 1;
  // Printable characters first so common text tokenizes into merged tokens.
  const order = chars
    .map((c, b) => [c, b])
    .sort((x, y) => (x[1] >= 32 && x[1] < 127 ? 0 : 1) - (y[1] >= 32 && y[1] < 127 ? 0 : 1))
    .map((x) => x[0]);
  outer: for (const a of order)
    for (const b of order) {
      if (tokens.length >= n) break outer;
      tokens.push(a + b);
      merges.push(`${a} ${b}`);
    }
  const pairs = tokens.slice(256);
  outer2: for (const p of pairs)
    for (const c of order) {
      if (tokens.length >= n) break outer2;
      tokens.push(p + c);
      merges.push(`${p} ${c}`);
    }
  tokens.push('<|endoftext|>');
  const types = new Int32Array(tokens.length).fill(1);
  types[tokens.length - 1] = 3;
  return { tokens, merges, types, eos: tokens.length - 1 };
}

/** A real vocabulary from the repo's tokenizer fixtures, padded with unused [PAD] rows to `size`. */
function fixtureVocab(mm, name, size) {
  const g = mm.readGGUFSync(path.join(root, 'test', 'fixtures', 'tokenizer', 'vocab', `ggml-vocab-${name}.gguf`));
  const md = g.metadata;
  const tokens = [...md['tokenizer.ggml.tokens']];
  const types = Array.from(md['tokenizer.ggml.token_type']);
  for (let i = tokens.length; i < size; i++) (tokens.push(`[PAD${i}]`), types.push(5));
  return {
    tokens,
    merges: [...md['tokenizer.ggml.merges']],
    types: Int32Array.from(types),
    eos: md['tokenizer.ggml.eos_token_id'],
    pre: md['tokenizer.ggml.pre'],
  };
}

/** Writes (once) and returns the path of a preset's GGUF. */
function ensureModel(preset, { log = console.error } = {}) {
  const spec = PRESETS[preset];
  if (!spec) throw new Error(`unknown model preset "${preset}" (known: ${Object.keys(PRESETS).join(', ')})`);
  const [shapeName, typeName, fallbackName = 'Q8_0', mix] = spec;
  const s = SHAPES[shapeName];
  const file = path.join(MODELS_DIR, `${preset}.gguf`);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(MODELS_DIR, { recursive: true });
  const mm = require('../dist/index.js');
  const { typed, GGUFValueType: V } = { typed: mm.ggufTyped, GGUFValueType: mm.GGUFValueType };
  const main = T[typeName];
  // K-quants need rows that are multiples of 256; else Q8_0, as the table
  // specifies (llama.cpp's own quantizer falls back to Q5_0 for Q4_K).
  const wtype = (cols) => (main === T.Q4_K && cols % 256 !== 0 ? T[fallbackName] : main);
  // Q4_K_M: Q6_K where llama.cpp's quantizer spends more bits (see PRESETS).
  const moreBits = (l) => l < s.nLayer / 8 || l >= (7 * s.nLayer) / 8 || (l - Math.floor(s.nLayer / 8)) % 3 === 2;
  const mixType = (name) => {
    if (mix !== 'q4_k_m') return undefined;
    if (name === 'token_embd.weight') return T.Q6_K;
    const m = /^blk\.(\d+)\.(attn_v|ffn_down)\.weight$/.exec(name);
    return m && moreBits(Number(m[1])) ? T.Q6_K : undefined;
  };
  const arch = s.arch ?? 'llama';
  const headDim = s.headDim ?? s.nEmbd / s.nHead,
    qDim = headDim * s.nHead,
    kvDim = headDim * s.nKvHead;
  const tensors = [];
  let seed = 1;
  const mat = (name, cols, rows) => {
    const type = mixType(name) ?? wtype(cols),
      sd = seed++;
    tensors.push({ name, type, shape: [cols, rows], data: () => randomMatrix(type, rows, cols, sd) });
  };
  const vec = (name, n) => tensors.push({ name, type: T.F32, shape: [n], data: () => f32Ones(n) });
  mat('token_embd.weight', s.nEmbd, s.vocab);
  vec('output_norm.weight', s.nEmbd);
  if (arch === 'phi3') {
    // LongRoPE divisors (1: the short factors; the long ones grow with the pair index).
    const half = s.nRot / 2;
    const factors = (long) => Float32Array.from({ length: half }, (_, i) => (long ? 1 + (i / half) * 30 : 1));
    tensors.push({
      name: 'rope_factors_long.weight',
      type: T.F32,
      shape: [half],
      data: () => new Uint8Array(factors(true).buffer),
    });
    tensors.push({
      name: 'rope_factors_short.weight',
      type: T.F32,
      shape: [half],
      data: () => new Uint8Array(factors(false).buffer),
    });
  }
  for (let l = 0; l < s.nLayer; l++) {
    const b = `blk.${l}.`;
    vec(`${b}attn_norm.weight`, s.nEmbd);
    if (arch === 'phi3') {
      mat(`${b}attn_qkv.weight`, s.nEmbd, qDim + 2 * kvDim);
      mat(`${b}attn_output.weight`, qDim, s.nEmbd);
      vec(`${b}ffn_norm.weight`, s.nEmbd);
      mat(`${b}ffn_up.weight`, s.nEmbd, 2 * s.nFf);
      mat(`${b}ffn_down.weight`, s.nFf, s.nEmbd);
      continue;
    }
    mat(`${b}attn_q.weight`, s.nEmbd, qDim);
    mat(`${b}attn_k.weight`, s.nEmbd, kvDim);
    mat(`${b}attn_v.weight`, s.nEmbd, kvDim);
    if (arch === 'gemma3') {
      vec(`${b}attn_q_norm.weight`, headDim);
      vec(`${b}attn_k_norm.weight`, headDim);
    }
    mat(`${b}attn_output.weight`, qDim, s.nEmbd);
    if (arch === 'gemma3') vec(`${b}post_attention_norm.weight`, s.nEmbd);
    vec(`${b}ffn_norm.weight`, s.nEmbd);
    mat(`${b}ffn_gate.weight`, s.nEmbd, s.nFf);
    mat(`${b}ffn_up.weight`, s.nEmbd, s.nFf);
    mat(`${b}ffn_down.weight`, s.nFf, s.nEmbd);
    if (arch === 'gemma3') vec(`${b}post_ffw_norm.weight`, s.nEmbd);
  }
  const vocab = s.vocabFrom ? fixtureVocab(mm, s.vocabFrom, s.vocab) : syntheticVocab(s.vocab);
  const u32 = (v) => typed(V.UINT32, v);
  const f32 = (v) => typed(V.FLOAT32, v);
  const a = arch;
  const metadata = {
    'general.architecture': arch,
    'general.name': `${s.name} ${typeName} (random weights)`,
    'general.file_type': u32(typeName === 'Q8_0' ? 7 : typeName === 'Q4_0' ? 2 : 15),
    [`${a}.context_length`]: u32(s.ctx),
    [`${a}.embedding_length`]: u32(s.nEmbd),
    [`${a}.block_count`]: u32(s.nLayer),
    [`${a}.feed_forward_length`]: u32(s.nFf),
    [`${a}.attention.head_count`]: u32(s.nHead),
    [`${a}.attention.head_count_kv`]: u32(s.nKvHead),
    [`${a}.attention.layer_norm_rms_epsilon`]: f32(1e-5),
    [`${a}.rope.freq_base`]: f32(s.ropeTheta),
    [`${a}.rope.dimension_count`]: u32(s.nRot ?? headDim),
    [`${a}.vocab_size`]: u32(s.vocab),
    ...(s.headDim !== undefined && {
      [`${a}.attention.key_length`]: u32(s.headDim),
      [`${a}.attention.value_length`]: u32(s.headDim),
    }),
    ...(s.window !== undefined && {
      [`${a}.attention.sliding_window`]: u32(s.window),
      [`${a}.rope.freq_base_swa`]: f32(10000),
    }),
    ...(s.origCtx !== undefined && {
      [`${a}.rope.scaling.original_context_length`]: u32(s.origCtx),
      [`${a}.rope.scaling.attn_factor`]: f32(Math.sqrt(1 + Math.log(s.ctx / s.origCtx) / Math.log(s.origCtx))),
    }),
    'tokenizer.ggml.model': 'gpt2',
    'tokenizer.ggml.pre': vocab.pre ?? 'default',
    'tokenizer.ggml.tokens': vocab.tokens,
    'tokenizer.ggml.token_type': vocab.types,
    'tokenizer.ggml.merges': vocab.merges,
    'tokenizer.ggml.bos_token_id': u32(vocab.eos),
    'tokenizer.ggml.eos_token_id': u32(vocab.eos),
  };
  log(`writing ${file} (${s.name}, ${typeName}) ...`);
  const tmp = `${file}.tmp-${process.pid}`;
  mm.writeGGUFSync(tmp, { metadata, tensors });
  fs.renameSync(tmp, file);
  return file;
}

module.exports = { PRESETS, SHAPES, MODELS_DIR, ensureModel };

if (require.main === module) {
  for (const p of process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(PRESETS))
    console.log(ensureModel(p));
}
