/**
 * The TensorSource a family declares its weights on (see arch/family.ts):
 * checks each tensor's presence and shape against the description and records
 * the declarations in order. Described models use it as is (placeholder specs);
 * weights.ts extends it to return views into the mapped files.
 */
import type { TensorSpec } from '../backend';
import { DType } from '../dtype';
import { BadModelError } from '../errors';
import type { NativeBuffer } from '../native';
import type { ModelFamily, TensorSource } from './arch/family';
import type { ModelHParams } from './hparams';

/** Where a tensor of a model lives. */
export interface TensorRef {
  name: string;
  file: string;
  /** Absolute byte offset in `file`. */
  offset: number;
  bytes: number;
  /** ggml type id (DType). */
  type: number;
  /** ggml order: shape[0] is the row length. */
  shape: number[];
}

/** One declared tensor: read from the model files, or computed (`data`). */
export type Declared =
  | { name: string; kind: 'matrix'; ref: TensorRef }
  | { name: string; kind: 'vector'; ref: TensorRef; add: number }
  | { name: string; kind: 'derived'; data: Float32Array };

export class TensorChecker implements TensorSource {
  readonly declared: Declared[] = [];

  constructor(
    readonly format: 'gguf' | 'hf',
    protected readonly tensors: ReadonlyMap<string, TensorRef>,
  ) {}

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  matrix(name: string, shape: readonly number[]): TensorSpec {
    const ref = this.#expect(name, shape);
    this.declared.push({ name, kind: 'matrix', ref });
    return this.mapMatrix(ref);
  }

  optionalMatrix(name: string, shape: readonly number[]): TensorSpec | undefined {
    return this.tensors.has(name) ? this.matrix(name, shape) : undefined;
  }

  vector(name: string, length: number, add = 0): TensorSpec {
    const ref = this.#expect(name, [length]);
    this.declared.push({ name, kind: 'vector', ref, add });
    return this.mapVector(ref, add);
  }

  optionalVector(name: string, length: number): TensorSpec | undefined {
    return this.tensors.has(name) ? this.vector(name, length) : undefined;
  }

  derived(name: string, length: number, compute: () => Float32Array): TensorSpec {
    if (this.tensors.has(name)) return this.vector(name, length);
    const data = compute();
    if (data.length !== length)
      throw new BadModelError(`computed tensor "${name}" has ${data.length} values, expected ${length}`);
    this.declared.push({ name, kind: 'derived', data });
    return this.mapDerived(data);
  }

  /** The spec of a declared tensor; placeholders here (type and shape right, no buffer). */
  protected mapMatrix(ref: TensorRef): TensorSpec {
    return placeholder(
      ref.type,
      ref.shape[0]!,
      ref.shape.slice(1).reduce((a, b) => a * b, 1),
    );
  }
  protected mapVector(ref: TensorRef, _add: number): TensorSpec {
    return placeholder(DType.F32, ref.shape[0]!, 1);
  }
  protected mapDerived(data: Float32Array): TensorSpec {
    return placeholder(DType.F32, data.length, 1);
  }

  #expect(name: string, shape: readonly number[]): TensorRef {
    const t = this.tensors.get(name);
    if (!t) throw new BadModelError(`tensor "${name}" is missing`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new BadModelError(`tensor "${name}" has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    return t;
  }
}

function placeholder(type: number, cols: number, rows: number): TensorSpec {
  return { buffer: undefined as unknown as NativeBuffer, offset: 0, type, cols, rows };
}

/** Runs the family's weight declarations over described tensors: BadModelError for a missing or misshapen one. */
export function declareTensors(
  family: ModelFamily,
  hp: ModelHParams,
  format: 'gguf' | 'hf',
  tensors: ReadonlyMap<string, TensorRef>,
): Declared[] {
  const c = new TensorChecker(format, tensors);
  family.weights(hp, c);
  return c.declared;
}
