/**
 * Model weights as graph tensors. Each model file is mapped once and wrapped
 * whole as one read-only backend buffer; every weight the family declares is a
 * view at its file offset (zero copy). Only the small 1-D tensors that the ops
 * need in f32 (norm weights, biases, rope frequency factors) are converted,
 * into one small allocated buffer, when a file stores them in another type or
 * the family computes them.
 */
import type { Backend, TensorSpec } from '../backend';
import { DType } from '../dtype';
import { awaitNative, BadModelError } from '../errors';
import { nativeCall, type NativeBuffer, type NativeMappedFile } from '../native';
import type { FamilyWeights, ModelFamily } from './arch/family';
import type { ModelDescription } from './description';
import { TensorChecker, type TensorRef } from './tensor-source';

export interface ModelWeights {
  /** The family's weights (its own shape: see arch/<family>.ts). */
  readonly model: FamilyWeights;
  /** Keeps the mapped files and buffers alive as long as the weights. */
  files: NativeMappedFile[];
  buffers: NativeBuffer[];
}

const count = (t: TensorRef): number => t.shape.reduce((a, b) => a * b, 1);

/** The family's declarations, answered with views into the mapped files. */
class WeightMapper extends TensorChecker {
  /** 1-D tensors converted to f32, placed in the small buffer once it exists. */
  readonly small: Array<{ spec: TensorSpec; data: Float32Array }> = [];
  smallBytes = 0;

  constructor(
    desc: ModelDescription,
    private readonly files: ReadonlyMap<string, { mapped: NativeMappedFile; buffer: NativeBuffer }>,
  ) {
    super(desc.format, desc.tensors);
  }

  // A 2-D weight (or table) used in place: ggml shape [cols, rows].
  protected override mapMatrix(t: TensorRef): TensorSpec {
    return {
      buffer: this.#file(t).buffer,
      offset: t.offset,
      type: t.type,
      cols: t.shape[0]!,
      rows: t.shape.slice(1).reduce((a, b) => a * b, 1),
    };
  }

  // In place when already f32 (and nothing to add), else converted into the small buffer.
  protected override mapVector(t: TensorRef, add: number): TensorSpec {
    if (t.type === DType.F32 && add === 0)
      return { buffer: this.#file(t).buffer, offset: t.offset, type: t.type, cols: count(t), rows: 1 };
    const mapped = this.#file(t).mapped;
    const data = nativeCall((n) => n.dequantize(t.type, mapped.view(t.offset, t.bytes), count(t)));
    if (add !== 0) for (let i = 0; i < data.length; i++) data[i]! += add;
    return this.mapDerived(data);
  }

  protected override mapDerived(data: Float32Array): TensorSpec {
    // Placeholder buffer; patched once the small buffer exists.
    const spec: TensorSpec = {
      buffer: undefined as unknown as NativeBuffer,
      offset: this.smallBytes,
      type: DType.F32,
      cols: data.length,
      rows: 1,
    };
    this.small.push({ spec, data });
    this.smallBytes += Math.ceil((data.length * 4) / 64) * 64; // keep rows 64-byte aligned
    return spec;
  }

  #file(t: TensorRef): { mapped: NativeMappedFile; buffer: NativeBuffer } {
    const f = this.files.get(t.file);
    if (!f) throw new BadModelError(`tensor "${t.name}" lives in an unknown file`);
    return f;
  }
}

/**
 * Maps the model's files off the event loop (mapFiles), each read into huge pages when asked.
 * On failure the files mapped so far are closed.
 */
export async function mapFiles(paths: readonly string[], hugePages: boolean): Promise<Map<string, NativeMappedFile>> {
  const out = new Map<string, NativeMappedFile>();
  try {
    for (const f of paths) out.set(f, await awaitNative(nativeCall((n) => n.mapFileAsync(f, hugePages))));
  } catch (e) {
    for (const m of out.values()) m.close();
    throw e;
  }
  return out;
}

/**
 * Describes every weight as a tensor view of the model's files: `mapped` (from mapFiles; every
 * file of desc) or, without it, mapped here synchronously in place.
 */
export function loadWeights(
  backend: Backend,
  desc: ModelDescription,
  family: ModelFamily,
  mapped?: ReadonlyMap<string, NativeMappedFile>,
): ModelWeights {
  const files = new Map<string, { mapped: NativeMappedFile; buffer: NativeBuffer }>();
  for (const f of desc.files) {
    const m = mapped?.get(f) ?? nativeCall((n) => n.mapFile(f));
    files.set(f, { mapped: m, buffer: backend.wrap(m, 0, m.size) });
  }
  const mapper = new WeightMapper(desc, files);
  const model = family.weights(desc.hparams, mapper);
  const w: ModelWeights = {
    model,
    files: [...files.values()].map((f) => f.mapped),
    buffers: [...files.values()].map((f) => f.buffer),
  };
  if (mapper.small.length > 0) {
    const small = backend.allocate(mapper.smallBytes);
    for (const p of mapper.small) {
      p.spec.buffer = small;
      backend.upload(small, p.spec.offset, p.data);
    }
    w.buffers.push(small);
  }
  return w;
}
