/**
 * The KV cache's layout: per layer K then V, each `slots` blocks (one per
 * sequence) of rows [rows, n_kv_head*head_dim]. Global layers hold the whole
 * context; sliding-window layers a ring of window + batch rows.
 */
import type { Backend, TensorSpec } from '../backend';
import { DType } from '../dtype';
import { InternalError } from '../errors';
import type { NativeBuffer } from '../native';
import type { ModelFamily } from './arch/family';
import type { ModelHParams } from './hparams';
import { kvRowBytes, type KvDType } from './kv-type';

const ALIGN = 64;
const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

/**
 * One layer's keys (or values) in a KV cache: `slots` blocks of `rows` rows
 * [rows, n_kv_head*head_dim], one per sequence. A layer that attends the whole
 * context has rows = contextSize (position p at row p); a sliding-window layer
 * a ring of window + batch rows (ring = rows: position p at row p % ring), as
 * llama.cpp sizes its SWA cache: older keys are never seen again.
 */
export interface KvLayer {
  /** Byte offsets of K and V in the buffer. */
  k: number;
  v: number;
  rows: number;
  ring: number;
}

export interface KvLayout {
  contextSize: number;
  slots: number;
  type: KvDType;
  /** Values of one cache row: n_kv_head * head_dim. */
  cols: number;
  /** Bytes of one cache row (one position of one layer's K or V; q8_0: cols / 32 blocks of 34 bytes). */
  rowBytes: number;
  layers: readonly KvLayer[];
  /** The window of the ring layers and their rows (0 and 0 without any). */
  window: number;
  ringRows: number;
  bytes: number;
}

/** A KV cache: its layout and buffer. One sequence's context owns one; parallel sequences share one of maxSequences slots. */
export interface KvCache extends KvLayout {
  buffer: NativeBuffer;
}

/**
 * Where every layer's K and V go: the ring of a windowed layer holds window +
 * maxTokens rows (a step of maxTokens new rows never overwrites a key its
 * first query still sees), unless that is no smaller than the context or
 * `fullKv` asks for the whole context.
 */
export function kvLayout(
  hp: ModelHParams,
  family: Pick<ModelFamily, 'layerWindow'>,
  o: {
    contextSize: number;
    maxTokens: number;
    slots: number;
    type: KvDType;
    fullKv?: boolean;
  },
): KvLayout {
  const cols = hp.nKvHead * hp.headDim;
  if (o.type === DType.Q8_0 && hp.headDim % 32 !== 0)
    throw new InternalError('a q8_0 KV cache needs head_dim % 32 == 0');
  const rowBytes = kvRowBytes(o.type, cols);
  const layers: KvLayer[] = [];
  let bytes = 0;
  let window = 0;
  let ringRows = 0;
  for (let il = 0; il < hp.nLayer; il++) {
    const w = family.layerWindow?.(hp, il) ?? 0;
    const ring = !o.fullKv && w > 0 && w + o.maxTokens < o.contextSize ? w + o.maxTokens : 0;
    if (ring > 0) {
      if (window !== 0 && window !== w) throw new InternalError('windowed layers with different windows');
      window = w;
      ringRows = ring;
    }
    const rows = ring || o.contextSize;
    const layerBytes = align(o.slots * rows * rowBytes);
    layers.push({ k: bytes, v: bytes + layerBytes, rows, ring });
    bytes += 2 * layerBytes;
  }
  return { contextSize: o.contextSize, slots: o.slots, type: o.type, cols, rowBytes, layers, window, ringRows, bytes };
}

export function allocateKvCache(backend: Backend, layout: KvLayout): KvCache {
  return { ...layout, buffer: backend.allocate(layout.bytes) };
}

/** Layer `layer`'s K (which 0) or V (1) rows of one slot, or of all (slot undefined). */
export function cacheView(kv: KvCache, layer: number, which: 0 | 1, slot: number | undefined): TensorSpec {
  const l = kv.layers[layer]!;
  return {
    buffer: kv.buffer,
    offset: (which === 0 ? l.k : l.v) + (slot ?? 0) * l.rows * kv.rowBytes,
    type: kv.type,
    cols: kv.cols,
    rows: slot === undefined ? kv.slots * l.rows : l.rows,
  };
}
