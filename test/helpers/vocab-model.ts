/**
 * A tiny random-weight llama-architecture GGUF with a real vocabulary (the
 * tokenizer metadata of one of test/fixtures/tokenizer/vocab/*.gguf) and,
 * optionally, a real chat template: what the structured-output and tool
 * tests generate with. dim 64, one layer; embeddings scaled so the random
 * logits have real preferences (std ~2) instead of being near-uniform.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readGGUFSync } from '../../lib/gguf/reader';
import { GGUFValueType } from '../../lib/gguf/types';
import { typed, writeGGUFSync, type GGUFWriteValue } from '../../lib/gguf/writer';
import { fixture } from './model-refs';

// Deterministic xorshift32 → roughly normal values (sum of 4 uniforms).
function normals(n: number, seed: number, std: number): Float32Array {
  let s = seed >>> 0 || 1;
  const u = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (u() + u() + u() + u() - 2) * std * 1.732;
  return out;
}

const f32 = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
/** f32 → f16 bits (round to nearest; tiny values flush to zero: fine for random weights). */
function f16(a: Float32Array): Uint8Array {
  const bits = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const out = new Uint16Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const x = bits[i]!;
    const exp = ((x >>> 23) & 0xff) - 112;
    if (exp <= 0) out[i] = (x >>> 16) & 0x8000;
    else out[i] = (((x >>> 16) & 0x8000) | (exp << 10) | ((x >>> 13) & 0x3ff)) + ((x >>> 12) & 1);
  }
  return new Uint8Array(out.buffer);
}

export interface VocabModelOptions {
  /** Vocabulary GGUF name under test/fixtures/tokenizer/vocab (e.g. 'qwen2', 'llama-bpe'). */
  vocab: string;
  /** A template under test/fixtures/chat-templates. */
  chatTemplate?: string;
  seed?: number;
}

const CACHE = path.join(os.tmpdir(), 'minimacllm-test-vocab-models');
const VERSION = 1; // bump when the model's contents change

/**
 * The model's path: written once into a temporary cache folder (atomically,
 * so parallel test files can share it) and reused.
 */
export function vocabModel(o: VocabModelOptions): string {
  const name = `tiny-${o.vocab}-${(o.chatTemplate ?? 'none').replace(/\.jinja$/, '')}-${o.seed ?? 7}-v${VERSION}.gguf`;
  const file = path.join(CACHE, name);
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(CACHE, { recursive: true });
  const tmp = writeVocabModel(o);
  try {
    fs.renameSync(tmp, file);
  } catch {
    // Another worker won the race.
  }
  removeVocabModel(tmp);
  return file;
}

/** Writes the model into a temporary folder; returns its path (remove with removeVocabModel). */
export function writeVocabModel(o: VocabModelOptions): string {
  const src = readGGUFSync(fixture('tokenizer', 'vocab', `ggml-vocab-${o.vocab}.gguf`));
  const V = (src.metadata['tokenizer.ggml.tokens'] as string[]).length;
  const E = 64,
    FF = 128,
    H = 4,
    KV = 2;
  const u32 = (v: number): GGUFWriteValue => typed(GGUFValueType.UINT32, v);
  const metadata: Record<string, GGUFWriteValue> = {
    'general.architecture': 'llama',
    'general.name': `tiny random llama, ${o.vocab} vocabulary`,
    'llama.context_length': u32(4096),
    'llama.embedding_length': u32(E),
    'llama.block_count': u32(1),
    'llama.feed_forward_length': u32(FF),
    'llama.attention.head_count': u32(H),
    'llama.attention.head_count_kv': u32(KV),
    'llama.attention.layer_norm_rms_epsilon': typed(GGUFValueType.FLOAT32, 1e-5),
    'llama.rope.freq_base': typed(GGUFValueType.FLOAT32, 10000),
    'llama.vocab_size': u32(V),
  };
  const types: Record<string, number> = {};
  for (const [k, v] of Object.entries(src.metadata)) {
    if (!k.startsWith('tokenizer.')) continue;
    metadata[k] = v;
    types[k] = src.metadataTypes[k]!;
  }
  if (o.chatTemplate)
    metadata['tokenizer.chat_template'] = fs.readFileSync(fixture('chat-templates', o.chatTemplate), 'utf8');
  let seed = o.seed ?? 7;
  const mat = (name: string, cols: number, rows: number, std: number) => ({
    name,
    type: 0,
    shape: [cols, rows],
    data: f32(normals(cols * rows, seed++, std)),
  });
  const ones = (name: string, n: number) => ({ name, type: 0, shape: [n], data: f32(new Float32Array(n).fill(1)) });
  const tensors = [
    { name: 'token_embd.weight', type: 1, shape: [E, V], data: f16(normals(E * V, seed++, 0.25)) },
    ones('output_norm.weight', E),
    ones('blk.0.attn_norm.weight', E),
    mat('blk.0.attn_q.weight', E, E, 0.1),
    mat('blk.0.attn_k.weight', E, (E / H) * KV, 0.1),
    mat('blk.0.attn_v.weight', E, (E / H) * KV, 0.1),
    mat('blk.0.attn_output.weight', E, E, 0.1),
    ones('blk.0.ffn_norm.weight', E),
    mat('blk.0.ffn_gate.weight', E, FF, 0.1),
    mat('blk.0.ffn_up.weight', E, FF, 0.1),
    mat('blk.0.ffn_down.weight', FF, E, 0.1),
  ];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-vocab-model-'));
  const file = path.join(dir, `tiny-${o.vocab}.gguf`);
  writeGGUFSync(file, { metadata, types, tensors });
  return file;
}

export function removeVocabModel(file: string): void {
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
}
