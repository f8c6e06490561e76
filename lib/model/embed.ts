/**
 * Embeddings of a decoder model: the final normed hidden states (llama.cpp's
 * t_embd) pooled per input — mean, first token (cls), last token, or none (a
 * vector per token) — and scaled to unit length unless asked not to. The
 * default pooling is the model's: GGUF `<arch>.pooling_type` (1 mean, 2 cls,
 * 3 last), or a sentence-transformers folder's `1_Pooling/config.json`, else
 * mean. Each input runs through its own graph step (an f32 KV cache of the
 * input's length, sized up in steps); the graphs are kept per size and freed
 * with the model. Encoder-only families would plug in here with their own graph.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend, Graph } from '../backend';
import { ContextOverflowError, InvalidArgumentError } from '../errors';
import type { NativeBuffer } from '../native';
import type { FamilyWeights, ModelFamily } from './arch/family';
import type { ModelDescription } from './description';
import { buildEmbeddingGraph } from './graph-builder';
import type { ModelHParams } from './hparams';

export type Pooling = 'mean' | 'cls' | 'last' | 'none';
export const POOLINGS: readonly Pooling[] = ['mean', 'cls', 'last', 'none'];
const POOL_ID: Record<Pooling, 0 | 1 | 2 | 3> = { none: 0, mean: 1, cls: 2, last: 3 };

export interface EmbedOptions {
  /** How token vectors become one vector (default: the model's pooling type, else 'mean'); 'none' returns every token's. */
  pooling?: Pooling;
  /** Scale each vector to unit L2 length (default true). */
  normalize?: boolean;
}

/** The pooling a model was trained for, from its files; undefined when they do not say. */
export function modelPooling(desc: ModelDescription): Pooling | undefined {
  if (desc.format === 'gguf') {
    const v = desc.metadata?.[`${desc.architecture}.pooling_type`];
    const n = typeof v === 'bigint' ? Number(v) : v;
    return n === 0 ? 'none' : n === 1 ? 'mean' : n === 2 ? 'cls' : n === 3 ? 'last' : undefined;
  }
  // sentence-transformers: modules.json names the pooling module's folder (1_Pooling by default).
  let dir = path.join(desc.source, '1_Pooling');
  try {
    const modules = JSON.parse(fs.readFileSync(path.join(desc.source, 'modules.json'), 'utf8')) as unknown;
    if (Array.isArray(modules)) {
      for (const m of modules as Array<Record<string, unknown>>)
        if (typeof m['type'] === 'string' && m['type'].endsWith('.Pooling') && typeof m['path'] === 'string')
          dir = path.join(desc.source, m['path']);
    }
  } catch {
    // no modules.json: the default folder name
  }
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (cfg['pooling_mode_lasttoken'] === true) return 'last';
  if (cfg['pooling_mode_cls_token'] === true) return 'cls';
  if (cfg['pooling_mode_mean_tokens'] === true) return 'mean';
  return undefined;
}

/** Checks embed() options; returns them with defaults. */
export function embedOptions(options: unknown, fallback: Pooling): Required<EmbedOptions> {
  if (options === undefined) return { pooling: fallback, normalize: true };
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('options must be an object');
  const o = options as EmbedOptions;
  if (o.pooling !== undefined && !POOLINGS.includes(o.pooling))
    throw new InvalidArgumentError(`pooling must be one of ${POOLINGS.join(', ')}, got ${JSON.stringify(o.pooling)}`);
  if (o.normalize !== undefined && typeof o.normalize !== 'boolean')
    throw new InvalidArgumentError(`normalize must be a boolean, got ${JSON.stringify(o.normalize)}`);
  return { pooling: o.pooling ?? fallback, normalize: o.normalize ?? true };
}

interface Built {
  graph: Graph;
  ids: number;
  positions: number;
  output: number;
  buffers: NativeBuffer[];
  maxTokens: number;
}

/** The embedding graphs of one model (one per pooling, normalization and size step). */
export class Embedder {
  readonly #graphs = new Map<string, Built>();

  constructor(
    private readonly backend: Backend,
    private readonly family: ModelFamily,
    private readonly hp: ModelHParams,
    private readonly weights: () => FamilyWeights,
  ) {}

  /** The embedding of one tokenized input: [n_embd], or [n * n_embd] with pooling 'none'. */
  async run(ids: ArrayLike<number>, o: Required<EmbedOptions>): Promise<Float32Array> {
    const n = ids.length;
    if (n === 0) throw new InvalidArgumentError('cannot embed an empty input (no tokens)');
    if (n > this.hp.contextLength)
      throw new ContextOverflowError(`the input has ${n} tokens, the model's context holds ${this.hp.contextLength}`);
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.hp.vocabSize)
        throw new InvalidArgumentError(`token id ${id} is outside the vocabulary [0, ${this.hp.vocabSize})`);
    }
    const b = this.#graph(n, o);
    const out = new Float32Array(o.pooling === 'none' ? n * this.hp.nEmbd : this.hp.nEmbd);
    await b.graph.run({
      nTokens: n,
      nPast: 0,
      inputs: [
        { tensor: b.ids, data: Int32Array.from(ids) },
        { tensor: b.positions, data: Int32Array.from(ids, (_, i) => i) },
      ],
      outputs: [{ tensor: b.output, data: out }],
    });
    return out;
  }

  dispose(): void {
    for (const b of this.#graphs.values()) {
      b.graph.dispose();
      for (const buf of b.buffers) buf.dispose();
    }
    this.#graphs.clear();
  }

  #graph(n: number, o: Required<EmbedOptions>): Built {
    // Sizes 64, 256, 1024, ... (up to the context): few graphs, bounded waste.
    let size = 64;
    while (size < n) size *= 4;
    size = Math.min(size, this.hp.contextLength);
    const key = `${o.pooling}/${o.normalize}/${size}`;
    let b = this.#graphs.get(key);
    if (!b) {
      const e = buildEmbeddingGraph(this.backend, {
        family: this.family,
        hp: this.hp,
        weights: this.weights(),
        maxTokens: size,
        pooling: POOL_ID[o.pooling],
        normalize: o.normalize,
      });
      b = {
        graph: this.backend.createGraph(e.graph),
        ids: e.ids,
        positions: e.positions,
        output: e.output,
        buffers: e.buffers,
        maxTokens: size,
      };
      this.#graphs.set(key, b);
    }
    return b;
  }
}
