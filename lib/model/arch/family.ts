/**
 * What a model family module (lib/model/arch/<family>.ts) provides, and what
 * the common code hands it. A family owns everything that differs between
 * architectures: how its GGUF metadata and HF config.json map to
 * hyper-parameters (and their extra checks), its tensor names and shapes, the
 * rope mode, and how the embedding, one layer and the head are built from ops.
 * The common code (description.ts, weights.ts, graph-builder.ts, convert.ts)
 * owns file formats, memory (weights, KV cache, activations) and the layer loop.
 *
 * Adding a family = one new file exporting a ModelFamily, listed in registry.ts
 * (see CONTRIBUTING.md, "Add a model family").
 */
import type { OpName, OpParams, TensorSpec } from '../../backend';
import type { GGUFWriteValue } from '../../gguf/writer';
import type { HFConfig } from '../../hf/config';
import type { GGUFMeta, ModelHParams } from '../hparams';

/** A tensor of the graph being built (an index into its tensor list). */
export type Tensor = number;

/** The ops of one graph being built: what embed/layer/head code composes. */
export interface GraphOps {
  /**
   * A row-per-token f32 activation [n, cols] (the head of the last-row graph:
   * one fixed row). The same name is the same memory in every layer, so a
   * layer's scratch is reused by the next one.
   */
  activation(name: string, cols: number): Tensor;
  /** The graph tensor of a weight (or any fixed tensor); undefined stays undefined (optional weights). */
  weight(spec: TensorSpec): Tensor;
  weight(spec: TensorSpec | undefined): Tensor | undefined;
  /** `t` seen as `parts` rows per row of cols / parts each: per-head views [n * n_head, head_dim]. */
  split(t: Tensor, parts: number): Tensor;
  /** Columns [from, from + cols) of `t` (a part of a fused projection), rows strided as in `t`. */
  columns(t: Tensor, from: number, cols: number): Tensor;
  /** Adds a node (undefined sources are dropped: optional biases); returns `dst`. */
  op(op: OpName, src: ReadonlyArray<Tensor | undefined>, dst: Tensor, params?: OpParams): Tensor;
  /** [n] i32 positions of the step's tokens. */
  readonly positions: Tensor;
  /** Positions the context holds (e.g. LongRoPE picks its factors by it). */
  readonly contextSize: number;
}

/** One layer being built: its residual stream and its KV cache. */
export interface LayerOps extends GraphOps {
  readonly layer: number;
  /** The residual stream [n, n_embd]: the layer reads it and adds its outputs to it. */
  readonly x: Tensor;
  /** This layer's keys and values, [context, n_kv_head * head_dim] each; a step writes rows [n_past, n_past + n). */
  readonly kCache: Tensor;
  readonly vCache: Tensor;
  /**
   * Batched decoding (many sequences' rows in one step): the cache row each
   * row's key/value goes to (i32 [n]) and the cache rows each row attends
   * (i32 [n, 2]: first row, count). Undefined for one sequence's graphs.
   */
  readonly kvRows?: Tensor;
  readonly kvSpans?: Tensor;
  /**
   * > 0: this (windowed) layer's cache is a ring of kvRing rows, position p at row p % kvRing
   * (attention and store_rows take it as `ring`; kvRows / kvSpans already say ring rows).
   */
  readonly kvRing?: number;
}

/**
 * Where a family's weights come from. The family's `weights()` runs twice over
 * the same calls: once when the model is described (the tensors are checked:
 * presence, shape; `BadModelError` naming the tensor otherwise), once when it
 * is loaded (the specs are real views into the mapped files). Declare tensors
 * in the order llama.cpp's converter writes them: `convert` writes that order.
 */
export interface TensorSource {
  /** 'gguf' file(s) or 'hf' folder: tensors are always named the GGUF way (see ModelFamily.hfTensorName). */
  readonly format: 'gguf' | 'hf';
  has(name: string): boolean;
  /** A weight used in place, in its stored type; `shape` in ggml order ([cols, rows]). */
  matrix(name: string, shape: readonly number[]): TensorSpec;
  optionalMatrix(name: string, shape: readonly number[]): TensorSpec | undefined;
  /**
   * A 1-D tensor the ops read as f32 ([1, n]): in place when stored f32, else converted once at load.
   * `add` is added to every value (Gemma's HF norms store w of x * (1 + w); default 0).
   */
  vector(name: string, length: number, add?: number): TensorSpec;
  optionalVector(name: string, length: number): TensorSpec | undefined;
  /**
   * A 1-D f32 tensor the file may hold, else computed from the hyper-parameters
   * (llama3 rope factors): read from the file when present, else `compute()`d
   * at load; `convert` writes the computed values under `name`.
   */
  derived(name: string, length: number, compute: () => Float32Array): TensorSpec;
}

/** What every family's weights hold; the rest (per-layer shape included) is the family's own. */
export interface FamilyWeights<L = unknown> {
  readonly layers: readonly L[];
}

/**
 * A model family. `H` extends the common hyper-parameters with the family's
 * own (sliding window, softcap, ...); `W` is its weights (FamilyWeights<Layer>).
 * Methods are declared as methods so a ModelFamily<H, W> is usable where a
 * ModelFamily is expected (the registry, the common code).
 */
export interface ModelFamily<H extends ModelHParams = ModelHParams, W extends FamilyWeights = FamilyWeights> {
  /** GGUF `general.architecture` (and metadata key prefix), and ModelInfo.architecture. */
  readonly name: string;
  /** HF config.json `architectures[0]` classes this module reads. */
  readonly hfArchitectures: readonly string[];
  /** Whether transformers' tokenizers of this family add BOS unless tokenizer_config.json says otherwise. */
  readonly hfAddsBos?: boolean;

  /** Hyper-parameters from GGUF metadata (BadModelError for missing keys). */
  hparamsFromGGUF(
    meta: GGUFMeta,
    tensors: { has(name: string): boolean; shape(name: string): readonly number[] | undefined },
  ): H;
  /** Hyper-parameters from config.json; `hasTensor` answers for GGUF names (after hfTensorName). */
  hparamsFromHF(config: HFConfig, hasTensor: (name: string) => boolean): H;
  /** Checks beyond the common ones (validateHParams): BadModelError / UnsupportedError. */
  validate?(hp: H): void;
  /** The GGUF name of an HF tensor, or undefined for a tensor the model does not use. */
  hfTensorName(hfName: string): string | undefined;
  /** Declares (described) or maps (loaded) the tensors: see TensorSource. */
  weights(hp: H, t: TensorSource): W;

  /** The `<name>.*` GGUF metadata convert writes for `hp`, in llama.cpp's order (the inverse of hparamsFromGGUF). */
  ggufMetadata(hp: H): Record<string, GGUFWriteValue>;
  /** convert: HF rows of `name` to permute per head from rotate-half to adjacent pairs (llama Q/K): the head count, or 0. */
  hfPermuteHeads?(name: string, hp: H): number;

  /** x [n, n_embd] from the token ids [n] (get_rows of the embedding table; + a scale for some families). */
  embed(g: GraphOps, w: W, hp: H, ids: Tensor, x: Tensor): void;
  /**
   * The sliding window of layer `il` (its queries see only the last `window` positions), or 0:
   * such a layer's KV cache is a ring of window + batch rows instead of the whole context.
   */
  layerWindow?(hp: H, il: number): number;
  /** Layer g.layer over the residual stream g.x (its weights: w.layers[g.layer]). */
  layer(g: LayerOps, w: W, hp: H): void;
  /** logits [rows, vocab] of the final hidden states x [rows, n_embd] (final norm, output matmul, softcap, ...). */
  head(g: GraphOps, w: W, hp: H, x: Tensor, logits: Tensor): void;
  /** The normed final hidden states out [rows, n_embd] of x (what llama.cpp pools for embeddings). */
  outputNorm(g: GraphOps, w: W, hp: H, x: Tensor, out: Tensor): void;
}
