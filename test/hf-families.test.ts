/**
 * Hugging Face folders of the gemma3, gemma2 and phi3 families, written by this
 * test from the tiny GGUF fixtures (their weights as F32 safetensors under
 * transformers' names and layout: Gemma's norms stored as w of x * (1 + w),
 * phi3's fused qkv_proj / gate_up_proj), with the config.json transformers
 * writes. Describing either gives the same hyper-parameters and tensor shapes;
 * both load, and their logits on the llama.cpp reference tokens agree within
 * 0.02 (the GGUF's F16 weights round activations to f16, the F32 ones do not);
 * convert writes the folder back to a GGUF that describes like the fixture.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { convert } from '../lib/convert';
import { readGGUFSync } from '../lib/gguf/reader';
import { describeModel } from '../lib/model/description';
import { loadModel } from '../lib/model/model';
import { native } from '../lib/native';
import { fixture, refCases } from './helpers/model-refs';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-hf-families-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** GGUF tensor name -> [HF name, values added to stored ones (gemma norms: -1)]. */
type NameMap = (gguf: string) => [string, number];

const LAYER: Record<string, string> = {
  'attn_norm.weight': 'input_layernorm.weight',
  'attn_q.weight': 'self_attn.q_proj.weight',
  'attn_k.weight': 'self_attn.k_proj.weight',
  'attn_v.weight': 'self_attn.v_proj.weight',
  'attn_qkv.weight': 'self_attn.qkv_proj.weight',
  'attn_output.weight': 'self_attn.o_proj.weight',
  'attn_q_norm.weight': 'self_attn.q_norm.weight',
  'attn_k_norm.weight': 'self_attn.k_norm.weight',
  'ffn_gate.weight': 'mlp.gate_proj.weight',
  'ffn_down.weight': 'mlp.down_proj.weight',
};
const GLOBAL: Record<string, string> = {
  'token_embd.weight': 'model.embed_tokens.weight',
  'output_norm.weight': 'model.norm.weight',
  'output.weight': 'lm_head.weight',
};

function hfName(gguf: string, family: 'gemma' | 'phi3'): [string, number] {
  const g = GLOBAL[gguf];
  const gemmaNorm = (n: string): number => (family === 'gemma' && /norm\.weight$/.test(n) ? -1 : 0);
  if (g) return [g, gemmaNorm(gguf)];
  const m = /^blk\.(\d+)\.(.+)$/.exec(gguf)!;
  const rest = m[2]!;
  const own: Record<string, string> =
    family === 'gemma'
      ? {
          'post_attention_norm.weight': 'post_attention_layernorm.weight',
          'ffn_norm.weight': 'pre_feedforward_layernorm.weight',
          'post_ffw_norm.weight': 'post_feedforward_layernorm.weight',
          'ffn_up.weight': 'mlp.up_proj.weight',
        }
      : { 'ffn_norm.weight': 'post_attention_layernorm.weight', 'ffn_up.weight': 'mlp.gate_up_proj.weight' };
  const name = own[rest] ?? LAYER[rest];
  if (!name) throw new Error(`no HF name for ${gguf}`);
  return [`model.layers.${m[1]}.${name}`, gemmaNorm(gguf)];
}

/**
 * A byte-level BPE tokenizer.json over the GGUF's 512 token strings, with no merges: enough to load
 * and convert the folder (the tests pass llama.cpp's token ids, they do not tokenize).
 */
function tokenizerJson(tokens: string[]): object {
  return {
    version: '1.0',
    added_tokens: [
      { id: 0, content: tokens[0], special: true },
      { id: 1, content: tokens[1], special: true },
      { id: 2, content: tokens[2], special: true },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      vocab: Object.fromEntries(tokens.map((t, i) => [t, i])),
      merges: [],
      byte_fallback: false,
    },
  };
}

/** Writes the HF folder of a GGUF fixture: config.json, tokenizer.json, model.safetensors (F32). */
function hfFolder(name: string, ggufFile: string, map: NameMap, config: object): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d, { recursive: true });
  const g = readGGUFSync(ggufFile);
  const bytes = fs.readFileSync(ggufFile);
  const header: Record<string, unknown> = {};
  const parts: Buffer[] = [];
  let off = 0;
  for (const t of g.tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const raw = new Uint8Array(bytes.buffer, bytes.byteOffset + t.offset, t.bytes);
    const f = native().dequantize(t.type, raw, n);
    const [hf, add] = map(t.name);
    if (add !== 0) for (let i = 0; i < f.length; i++) f[i]! += add;
    header[hf] = { dtype: 'F32', shape: [...t.shape].reverse(), data_offsets: [off, off + f.byteLength] };
    parts.push(Buffer.from(f.buffer, f.byteOffset, f.byteLength));
    off += f.byteLength;
  }
  let text = JSON.stringify(header);
  text += ' '.repeat((8 - ((8 + text.length) % 8)) % 8); // data starts 8-byte aligned, as safetensors writes it
  const json = Buffer.from(text);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(path.join(d, 'model.safetensors'), Buffer.concat([len, json, ...parts]));
  fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify(config));
  const tokens = g.metadata['tokenizer.ggml.tokens'] as string[];
  fs.writeFileSync(path.join(d, 'tokenizer.json'), JSON.stringify(tokenizerJson(tokens)));
  fs.writeFileSync(
    path.join(d, 'tokenizer_config.json'),
    JSON.stringify({ add_bos_token: true, bos_token: tokens[1] }),
  );
  return d;
}

const CASES = [
  {
    file: 'tiny-gemma3-f16.gguf',
    family: 'gemma' as const,
    config: {
      architectures: ['Gemma3ForCausalLM'],
      model_type: 'gemma3_text',
      hidden_size: 256,
      intermediate_size: 768,
      num_hidden_layers: 6,
      num_attention_heads: 4,
      num_key_value_heads: 1,
      head_dim: 64,
      vocab_size: 512,
      max_position_embeddings: 2048,
      rms_norm_eps: Math.fround(1e-5),
      rope_theta: 1e6,
      rope_local_base_freq: 10000,
      sliding_window: 16,
      layer_types: ['sliding_attention', 'sliding_attention', 'sliding_attention', 'sliding_attention'].concat([
        'sliding_attention',
        'full_attention',
      ]),
      query_pre_attn_scalar: 64,
      hidden_activation: 'gelu_pytorch_tanh',
      final_logit_softcapping: null,
      attn_logit_softcapping: null,
      rope_scaling: null,
      tie_word_embeddings: true,
      bos_token_id: 1,
      eos_token_id: 2,
    },
  },
  {
    file: 'tiny-gemma2-f16.gguf',
    family: 'gemma' as const,
    config: {
      architectures: ['Gemma2ForCausalLM'],
      hidden_size: 256,
      intermediate_size: 512,
      num_hidden_layers: 4,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 64,
      vocab_size: 512,
      max_position_embeddings: 2048,
      rms_norm_eps: Math.fround(1e-6),
      rope_theta: 10000,
      sliding_window: 16,
      query_pre_attn_scalar: 64,
      hidden_activation: 'gelu_pytorch_tanh',
      final_logit_softcapping: 15,
      attn_logit_softcapping: 4,
      tie_word_embeddings: true,
      bos_token_id: 1,
      eos_token_id: 2,
    },
  },
  {
    file: 'tiny-phi3-f16.gguf',
    family: 'phi3' as const,
    config: {
      architectures: ['Phi3ForCausalLM'],
      hidden_size: 256,
      intermediate_size: 512,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      num_key_value_heads: 4,
      vocab_size: 512,
      max_position_embeddings: 2048,
      original_max_position_embeddings: 2048,
      rms_norm_eps: Math.fround(1e-5),
      rope_theta: 10000,
      partial_rotary_factor: 0.5,
      rope_scaling: null,
      tie_word_embeddings: false,
      bos_token_id: 1,
      eos_token_id: 2,
    },
  },
];

describe.each(CASES)('$file as a Hugging Face folder', ({ file, family, config }) => {
  const gguf = fixture('random', file);
  let hf: string;
  beforeAll(() => {
    hf = hfFolder(file.replace('.gguf', ''), gguf, (n) => hfName(n, family), config);
  });

  test('describes like the GGUF: hyper-parameters and tensor shapes', async () => {
    const a = await describeModel(gguf);
    const b = await describeModel(hf);
    expect(b.architecture).toBe(a.architecture);
    expect(b.hparams).toEqual(a.hparams);
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    for (const [n, t] of a.tensors) expect(b.tensors.get(n)!.shape).toEqual(t.shape);
  });

  test('loads, and its logits on the reference tokens match the GGUF model', async () => {
    const a = await loadModel(gguf, { backend: 'cpu' });
    const b = await loadModel(hf, { backend: 'cpu' });
    try {
      const c = refCases('random', file.replace('.gguf', '.ref.json'))[0]!;
      const la = await a.createContext({ contextSize: 64 }).evaluate(c.tokens, { allLogits: true });
      const lb = await b.createContext({ contextSize: 64 }).evaluate(c.tokens, { allLogits: true });
      let d = 0;
      for (let i = 0; i < la.length; i++) d = Math.max(d, Math.abs(la[i]! - lb[i]!));
      expect(d).toBeLessThan(0.02);
    } finally {
      await Promise.all([a.dispose(), b.dispose()]);
    }
  });

  test('convert writes a GGUF that describes like the fixture (norms back to 1 + w)', async () => {
    const out = path.join(dir, file.replace('.gguf', '-converted.gguf'));
    await convert(hf, out, { type: 'f16' });
    const a = await describeModel(gguf);
    const b = await describeModel(out);
    expect(b.hparams).toEqual(a.hparams);
    const g = readGGUFSync(out);
    const ref = readGGUFSync(gguf);
    const norm = g.tensors.find((t) => t.name === 'blk.0.attn_norm.weight')!;
    const want = ref.tensors.find((t) => t.name === 'blk.0.attn_norm.weight')!;
    const read = (f: string, t: { offset: number; bytes: number }): Float32Array =>
      new Float32Array(new Uint8Array(fs.readFileSync(f).subarray(t.offset, t.offset + t.bytes)).buffer);
    const x = read(out, norm),
      y = read(gguf, want);
    for (let i = 0; i < y.length; i++) expect(Math.abs(x[i]! - y[i]!)).toBeLessThan(1e-6);
  });
});
