import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BadModelError, UnsupportedError } from '../lib/errors';
import { describeModel } from '../lib/model/description';
import { DType } from '../lib/native';

const FIX = path.join(__dirname, 'fixtures', 'models');
const HF = path.join(FIX, 'gutenberg-16m-hf');
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-hf-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Writes a folder: config.json + one model.safetensors holding zeroed F32 tensors of the given HF shapes. */
function folder(name: string, config: object, shapes: Record<string, number[]>): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify(config));
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [n, shape] of Object.entries(shapes)) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    header[n] = { dtype: 'F32', shape, data_offsets: [off, off + bytes] };
    off += bytes;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  fs.writeFileSync(path.join(d, 'model.safetensors'), Buffer.concat([len, json, Buffer.alloc(off)]));
  return d;
}

/** HF tensor shapes of a small model (dim 16, 2 heads of 8, 1 KV head, ffn 32, vocab 10). */
function shapes(arch: 'llama' | 'qwen2' | 'qwen3', layers = 1, headDim = 8): Record<string, number[]> {
  const s: Record<string, number[]> = {
    'model.embed_tokens.weight': [10, 16],
    'model.norm.weight': [16],
    'lm_head.weight': [10, 16],
  };
  for (let i = 0; i < layers; i++) {
    const p = `model.layers.${i}.`;
    Object.assign(s, {
      [`${p}input_layernorm.weight`]: [16],
      [`${p}post_attention_layernorm.weight`]: [16],
      [`${p}self_attn.q_proj.weight`]: [2 * headDim, 16],
      [`${p}self_attn.k_proj.weight`]: [headDim, 16],
      [`${p}self_attn.v_proj.weight`]: [headDim, 16],
      [`${p}self_attn.o_proj.weight`]: [16, 2 * headDim],
      [`${p}mlp.gate_proj.weight`]: [32, 16],
      [`${p}mlp.up_proj.weight`]: [32, 16],
      [`${p}mlp.down_proj.weight`]: [16, 32],
      [`${p}self_attn.rotary_emb.inv_freq`]: [4],
    });
    if (arch === 'qwen2') {
      Object.assign(s, {
        [`${p}self_attn.q_proj.bias`]: [2 * headDim],
        [`${p}self_attn.k_proj.bias`]: [headDim],
        [`${p}self_attn.v_proj.bias`]: [headDim],
      });
    }
    if (arch === 'qwen3')
      Object.assign(s, { [`${p}self_attn.q_norm.weight`]: [headDim], [`${p}self_attn.k_norm.weight`]: [headDim] });
  }
  return s;
}

const CLASS = { llama: 'LlamaForCausalLM', qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM' } as const;
const config = (arch: keyof typeof CLASS, extra: object = {}): object => ({
  architectures: [CLASS[arch]],
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  vocab_size: 10,
  max_position_embeddings: 128,
  rms_norm_eps: 1e-6,
  rope_theta: 1e6,
  tie_word_embeddings: false,
  ...extra,
});

describe('describeModel on Hugging Face folders', () => {
  it('gutenberg-16m-hf: llama, GGUF names, ggml shapes, tied, neox rope, in-place offsets', async () => {
    const d = await describeModel(HF);
    expect(d.format).toBe('hf');
    expect(d.architecture).toBe('llama');
    expect(d.hparams).toEqual({
      nLayer: 8,
      nEmbd: 384,
      nHead: 6,
      nKvHead: 2,
      headDim: 64,
      nFf: 1024,
      vocabSize: 8192,
      contextLength: 1024,
      rmsEps: 1e-5,
      ropeTheta: 10000,
      ropeMode: 'neox',
      nRot: 64,
      tiedEmbeddings: true,
    });
    expect(d.tensors.size).toBe(2 + 8 * 9);
    expect(d.tensors.has('output.weight')).toBe(false);
    const q = d.tensors.get('blk.7.attn_k.weight')!;
    expect(q.shape).toEqual([384, 128]);
    expect(q.type).toBe(DType.F16);
    expect(q.bytes).toBe(384 * 128 * 2);
    expect(d.files).toHaveLength(3);
    expect(d.files).toContain(q.file);
    // The offset points at the tensor's bytes: compare with the header's range.
    const fd = fs.openSync(q.file, 'r');
    const len = Buffer.alloc(8);
    fs.readSync(fd, len, 0, 8, 0);
    const json = Buffer.alloc(Number(len.readBigUInt64LE(0)));
    fs.readSync(fd, json, 0, json.length, 8);
    fs.closeSync(fd);
    const entry = JSON.parse(json.toString())['model.layers.7.self_attn.k_proj.weight'];
    expect(q.offset).toBe(8 + json.length + entry.data_offsets[0]);
  });

  it('gutenberg GGUF and HF describe the same model', async () => {
    const g = await describeModel(path.join(FIX, 'gutenberg-16m-q8_0.gguf'));
    const h = await describeModel(HF);
    expect([...g.tensors.keys()].sort()).toEqual([...h.tensors.keys()].sort());
    for (const [n, t] of g.tensors) expect(h.tensors.get(n)!.shape).toEqual(t.shape);
    expect(g.hparams.ropeMode).toBe('normal');
  });

  it.each(['llama', 'qwen2', 'qwen3'] as const)('%s folder maps every tensor', async (arch) => {
    const d = await describeModel(folder(`ok-${arch}`, config(arch), shapes(arch)));
    expect(d.architecture).toBe(arch);
    expect(d.hparams.ropeMode).toBe('neox');
    expect(d.hparams.tiedEmbeddings).toBe(false);
    expect(d.tensors.get('output.weight')!.shape).toEqual([16, 10]);
    expect(d.tensors.get('blk.0.ffn_down.weight')!.shape).toEqual([32, 16]);
    if (arch === 'qwen2') expect(d.tensors.get('blk.0.attn_k.bias')!.shape).toEqual([8]);
    if (arch === 'qwen3') expect(d.tensors.get('blk.0.attn_q_norm.weight')!.shape).toEqual([8]);
    expect(d.tensors.size).toBe(3 + 9 + (arch === 'llama' ? 0 : arch === 'qwen2' ? 3 : 2));
  });

  it('qwen3 head_dim differing from hidden/heads, llama3 rope scaling, rope_parameters', async () => {
    const q3 = await describeModel(folder('q3-hd', config('qwen3', { head_dim: 16 }), shapes('qwen3', 1, 16)));
    expect(q3.hparams.headDim).toBe(16);
    expect(q3.hparams.ropeTheta).toBe(1e6);
    const scaling = {
      rope_type: 'llama3',
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 8192,
    };
    const l3 = await describeModel(folder('l3', config('llama', { rope_scaling: scaling }), shapes('llama')));
    expect(l3.hparams.ropeScaling).toEqual({
      type: 'llama3',
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalContextLength: 8192,
    });
    const v5 = await describeModel(
      folder(
        'v5',
        config('llama', { rope_theta: undefined, rope_parameters: { rope_type: 'default', rope_theta: 5e5 } }),
        shapes('llama'),
      ),
    );
    expect(v5.hparams.ropeTheta).toBe(5e5);
    await expect(
      describeModel(
        folder('yarn', config('llama', { rope_scaling: { rope_type: 'yarn', factor: 4 } }), shapes('llama')),
      ),
    ).rejects.toThrow(/rope scaling "yarn"/);
  });

  it('unsupported architectures are ERR_UNSUPPORTED_ARCH naming them', async () => {
    const d = folder('gemma', { ...config('llama'), architectures: ['GemmaForCausalLM'] }, shapes('llama'));
    const e = await describeModel(d).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UnsupportedError);
    expect((e as UnsupportedError).code).toBe('ERR_UNSUPPORTED_ARCH');
    expect((e as Error).message).toMatch(/GemmaForCausalLM/);
  });

  it('missing or misshapen tensors are ERR_BAD_MODEL naming them', async () => {
    const s = shapes('qwen2');
    delete s['model.layers.0.self_attn.v_proj.bias'];
    await expect(describeModel(folder('nobias', config('qwen2'), s))).rejects.toThrow(
      /tensor "blk\.0\.attn_v\.bias" is missing/,
    );
    const w = shapes('llama');
    w['model.layers.0.mlp.up_proj.weight'] = [31, 16];
    await expect(describeModel(folder('shape', config('llama'), w))).rejects.toThrow(
      /tensor "blk\.0\.ffn_up\.weight" has shape \[16, 31\], expected \[16, 32\]/,
    );
    const noHead = shapes('llama');
    delete noHead['lm_head.weight'];
    await expect(describeModel(folder('nohead', config('llama'), noHead))).rejects.toThrow(BadModelError);
    await expect(
      describeModel(folder('badcfg', { ...config('llama'), hidden_size: 'x' }, shapes('llama'))),
    ).rejects.toThrow(/"hidden_size" is not a number/);
  });

  it('index files may not point outside the folder', async () => {
    const d = folder('traversal', config('llama'), shapes('llama'));
    fs.writeFileSync(
      path.join(d, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { 'model.norm.weight': '../x.safetensors' } }),
    );
    await expect(describeModel(d)).rejects.toThrow(/invalid file name/);
  });
});
