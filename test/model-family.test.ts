/**
 * The model family interface (lib/model/arch/family.ts) with a family that is
 * not llama's code: "fused-llama" reads tiny-llama-f32 with its q/k/v weights
 * fused into one attn_qkv matrix and gate/up into one ffn_up matrix (as phi3
 * stores them), projects once and splits the results with column views
 * (GraphOps.columns). Its logits must equal the llama family's on the same
 * weights, for the last-row and all-rows graphs, prefill and decode: the
 * views, the per-family weight declarations (TensorSource) and the graph
 * builder's activation plan work for a family that lays its layer out
 * differently. About 2 s.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Backend, type Graph } from '../lib/backend';
import { DType } from '../lib/dtype';
import { readGGUFSync } from '../lib/gguf/reader';
import { writeGGUFSync } from '../lib/gguf/writer';
import { attend, rmsNorm } from '../lib/model/arch/blocks';
import type { FamilyWeights, ModelFamily } from '../lib/model/arch/family';
import { llama, llamaAttention, llamaWeights, type LlamaLayer, type LlamaWeights } from '../lib/model/arch/llama';
import { describeGGUFSync } from '../lib/model/description';
import { buildContextGraphs } from '../lib/model/graph-builder';
import type { ModelHParams } from '../lib/model/hparams';
import { loadWeights } from '../lib/model/weights';
import { fixture } from './helpers/model-refs';

interface FusedLayer extends LlamaLayer {
  wqkv: LlamaLayer['wq']; // [q_dim + 2*kv_dim, n_embd]
  wGateUp: LlamaLayer['wq']; // [2*n_ff, n_embd]
}
interface FusedWeights extends FamilyWeights<FusedLayer> {
  llama: LlamaWeights;
}

const fused: ModelFamily<ModelHParams, FusedWeights> = {
  ...(llama as unknown as ModelFamily<ModelHParams, FusedWeights>),
  name: 'fused-llama',
  weights(hp, t) {
    const base = llamaWeights(hp, t, { qkvBias: 'optional', qkNorm: false });
    const qkv = hp.nHead * hp.headDim + 2 * hp.nKvHead * hp.headDim;
    const layers = base.layers.map((l, i) => ({
      ...l,
      wqkv: t.matrix(`blk.${i}.attn_qkv.weight`, [hp.nEmbd, qkv]),
      wGateUp: t.matrix(`blk.${i}.ffn_gate_up.weight`, [hp.nEmbd, 2 * hp.nFf]),
    }));
    return { llama: base, layers };
  },
  embed: (g, w, hp, ids, x) => llama.embed(g, w.llama, hp, ids, x),
  head: (g, w, hp, x, logits) => llama.head(g, w.llama, hp, x, logits),
  outputNorm: (g, w, hp, x, out) => llama.outputNorm(g, w.llama, hp, x, out),
  layer(g, w, hp) {
    const l = w.layers[g.layer]!;
    const qDim = hp.nHead * hp.headDim,
      kvDim = hp.nKvHead * hp.headDim;
    const h = g.activation('h', hp.nEmbd);
    const proj = g.activation('proj', hp.nEmbd);
    const qkv = g.activation('qkv', qDim + 2 * kvDim);
    rmsNorm(g, g.x, l.attnNorm, hp.rmsEps, h);
    g.op('matmul', [h, g.weight(l.wqkv)], qkv);
    const [q, k, v] = [g.columns(qkv, 0, qDim), g.columns(qkv, qDim, kvDim), g.columns(qkv, qDim + kvDim, kvDim)];
    attend(g, q, k, v, l, llamaAttention(hp, w.llama.ropeFreqs), proj);
    g.op('add', [g.x, proj], g.x);
    rmsNorm(g, g.x, l.ffnNorm, hp.rmsEps, h);
    const gu = g.activation('gate_up', 2 * hp.nFf);
    g.op('matmul', [h, g.weight(l.wGateUp)], gu);
    const gate = g.activation('gate', hp.nFf);
    g.op('swiglu', [g.columns(gu, 0, hp.nFf), g.columns(gu, hp.nFf, hp.nFf)], gate);
    g.op('matmul', [gate, g.weight(l.wDown)], proj);
    g.op('add', [g.x, proj], g.x);
  },
};

let dir: string;
let file: string;
const backend = Backend.create('cpu', { threads: 2 });

beforeAll(() => {
  // tiny-llama-f32 plus, per layer, attn_qkv = [q; k; v] and ffn_gate_up = [gate; up] (rows concatenated).
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-family-'));
  file = path.join(dir, 'fused.gguf');
  const src = fixture('random', 'tiny-llama-f32.gguf');
  const g = readGGUFSync(src);
  const bytes = fs.readFileSync(src);
  const data = (name: string): Uint8Array => {
    const t = g.tensors.find((x) => x.name === name)!;
    return bytes.subarray(t.offset, t.offset + t.bytes);
  };
  const tensors = g.tensors.map((t) => ({ name: t.name, type: t.type, shape: t.shape, data: data(t.name) }));
  const layers = g.tensors.filter((t) => /^blk\.\d+\.attn_q\.weight$/.test(t.name)).length;
  for (let i = 0; i < layers; i++) {
    const cat = (name: string, parts: string[]): void => {
      const ts = parts.map((p) => g.tensors.find((x) => x.name === `blk.${i}.${p}.weight`)!);
      const rows = ts.reduce((n, t) => n + t.shape[1]!, 0);
      tensors.push({
        name: `blk.${i}.${name}.weight`,
        type: DType.F32,
        shape: [ts[0]!.shape[0]!, rows],
        data: Buffer.concat(ts.map((t) => data(t.name))),
      });
    };
    cat('attn_qkv', ['attn_q', 'attn_k', 'attn_v']);
    cat('ffn_gate_up', ['ffn_gate', 'ffn_up']);
  }
  writeGGUFSync(file, { metadata: g.metadata, types: g.metadataTypes, tensors });
});
afterAll(async () => {
  await backend.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a family with fused projections split by column views computes llama’s logits', () => {
  const desc = describeGGUFSync(file); // a llama file (the fused tensors are extra)
  const hp = desc.hparams;
  const run = (family: ModelFamily, ids: number[]): { last: Float32Array[]; all: Float32Array } => {
    const weights = loadWeights(backend, desc, family);
    const g = buildContextGraphs(backend, {
      family,
      hp,
      weights: weights.model,
      contextSize: 32,
      maxTokens: 16,
      maxTokensAll: 16,
      kvType: DType.F16,
    });
    const graphs: Record<'last' | 'all', Graph> = {
      last: backend.createGraph(g.last),
      all: backend.createGraph(g.all),
    };
    const step = (which: 'last' | 'all', start: number, n: number, out: Float32Array): void =>
      graphs[which].runSync({
        nTokens: n,
        nPast: start,
        inputs: [
          { tensor: g.ids, data: Int32Array.from(ids.slice(start, start + n)) },
          { tensor: g.positions, data: Int32Array.from({ length: n }, (_, i) => start + i) },
        ],
        outputs: [{ tensor: which === 'last' ? g.logitsLast : g.logitsAll, data: out }],
      });
    // Prefill 6 tokens, then decode the rest one by one (last-row graph); then every row at once.
    const last: Float32Array[] = [];
    for (let start = 0; start < ids.length; start += start === 0 ? 6 : 1) {
      const out = new Float32Array(hp.vocabSize);
      step('last', start, start === 0 ? 6 : 1, out);
      last.push(out);
    }
    const all = new Float32Array(ids.length * hp.vocabSize);
    step('all', 0, ids.length, all);
    return { last, all };
  };
  const ids = [1, 17, 99, 3, 250, 42, 7, 8, 300, 11];
  const a = run(llama, ids);
  const b = run(fused, ids);
  const close = (x: Float32Array, y: Float32Array): void => {
    let worst = 0;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
    expect(worst).toBeLessThan(1e-4);
  };
  expect(b.last.length).toBe(5);
  a.last.forEach((x, i) => close(x, b.last[i]!));
  close(a.all, b.all);
  // The two graph kinds agree on each row's logits too.
  close(a.last[0]!, a.all.subarray(5 * hp.vocabSize, 6 * hp.vocabSize));
});
