/**
 * Tensors for graphs built by hand in native-level tests (matmul groups, regrouped weights): buffers the
 * builder allocates (and frees), per-token f32 activations, uploaded weights and biases.
 */
import { DType } from '../../lib/dtype';
import type { NativeBackend, NativeBuffer, NativeGraph, NativeTensorSpec } from '../../lib/native';

export class GraphTensors {
  readonly tensors: NativeTensorSpec[] = [];
  readonly #owned: NativeBuffer[] = [];

  constructor(
    private readonly be: NativeBackend,
    /** Rows per token tensor the graph holds at most (its maxTokens). */
    readonly maxTokens: number,
  ) {}

  /** A buffer of `bytes` (at least 1), freed by dispose(). */
  buffer(bytes: number): NativeBuffer {
    const b = this.be.allocate(Math.max(bytes, 1));
    this.#owned.push(b);
    return b;
  }

  /** Index of a new tensor. */
  add(spec: NativeTensorSpec): number {
    this.tensors.push(spec);
    return this.tensors.length - 1;
  }

  /** An f32 activation of `cols` columns, one row per token. */
  activation(cols: number): number {
    return this.add({
      buffer: this.buffer(this.maxTokens * cols * 4),
      offset: 0,
      type: DType.F32,
      cols,
      rows: 0,
      rowsPerToken: 1,
    });
  }

  /** A [rows, cols] weight of `type` uploaded into a buffer of its own. */
  uploaded(type: number, rows: number, cols: number, data: Uint8Array): number {
    const b = this.buffer(data.byteLength);
    this.be.upload(b, 0, data);
    return this.add({ buffer: b, offset: 0, type, cols, rows });
  }

  /** A bias vector (one row of f32). */
  bias(values: Float32Array): number {
    return this.uploaded(
      DType.F32,
      1,
      values.length,
      new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    );
  }

  /** Runs `g` over `n` tokens of `x` (the f32 activation `input`) and returns the f32 tensors `outs`. */
  run(g: NativeGraph, input: number, x: Float32Array, n: number, outs: number[]): Float32Array[] {
    const results = outs.map((o) => new Float32Array(n * this.tensors[o]!.cols));
    g.runSync({
      nTokens: n,
      nPast: 0,
      inputs: [{ tensor: input, data: new Uint8Array(x.buffer, x.byteOffset, x.byteLength) }],
      outputs: outs.map((o, i) => ({ tensor: o, data: results[i]! })),
    });
    return results;
  }

  dispose(): void {
    for (const b of this.#owned) b.dispose();
    this.#owned.length = 0;
  }
}
