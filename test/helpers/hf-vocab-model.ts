/**
 * A tiny random-weight Qwen2 Hugging Face folder with the real Qwen2 tokenizer (151,665 tokens,
 * 151,387 merges; test/fixtures/tokenizer/hf/qwen2) and vocab_size 151,936: what loadModel's
 * tokenizer.json path is measured on (hidden size 16, one layer: ~10 MB of F32 weights).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixture } from './model-refs';

export function writeHfQwen2Folder(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const V = 151936,
    E = 16,
    F = 32,
    H = 2,
    KV = 1,
    D = E / H;
  const shapes: Record<string, number[]> = {
    'model.embed_tokens.weight': [V, E],
    'model.norm.weight': [E],
    'model.layers.0.input_layernorm.weight': [E],
    'model.layers.0.post_attention_layernorm.weight': [E],
    'model.layers.0.self_attn.q_proj.weight': [H * D, E],
    'model.layers.0.self_attn.q_proj.bias': [H * D],
    'model.layers.0.self_attn.k_proj.weight': [KV * D, E],
    'model.layers.0.self_attn.k_proj.bias': [KV * D],
    'model.layers.0.self_attn.v_proj.weight': [KV * D, E],
    'model.layers.0.self_attn.v_proj.bias': [KV * D],
    'model.layers.0.self_attn.o_proj.weight': [E, H * D],
    'model.layers.0.mlp.gate_proj.weight': [F, E],
    'model.layers.0.mlp.up_proj.weight': [F, E],
    'model.layers.0.mlp.down_proj.weight': [E, F],
  };
  const header: Record<string, unknown> = {};
  const parts: Buffer[] = [];
  let off = 0;
  let s = 12345;
  for (const [name, shape] of Object.entries(shapes)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const f = new Float32Array(n);
    const norm = name.endsWith('norm.weight');
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      f[i] = norm ? 1 : (s / 4294967296 - 0.5) * 0.2;
    }
    header[name] = { dtype: 'F32', shape, data_offsets: [off, off + f.byteLength] };
    parts.push(Buffer.from(f.buffer));
    off += f.byteLength;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - ((8 + text.length) % 8)) % 8);
  const json = Buffer.from(text);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(path.join(dir, 'model.safetensors'), Buffer.concat([len, json, ...parts]));
  fs.writeFileSync(
    path.join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      vocab_size: V,
      hidden_size: E,
      intermediate_size: F,
      num_hidden_layers: 1,
      num_attention_heads: H,
      num_key_value_heads: KV,
      max_position_embeddings: 4096,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000,
      tie_word_embeddings: true,
      bos_token_id: 151643,
      eos_token_id: 151645,
      torch_dtype: 'float32',
    }),
  );
  for (const f of ['tokenizer.json', 'tokenizer_config.json'])
    fs.copyFileSync(fixture('tokenizer', 'hf', 'qwen2', f), path.join(dir, f));
  return dir;
}
