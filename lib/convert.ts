/**
 * Hugging Face folder → llama.cpp-compatible GGUF. The model family decides
 * the metadata, the tensors and their order (as llama.cpp's converter writes
 * them) and any row permutation (llama's Q/K rows from HF's rotate-half layout
 * to GGUF's adjacent pairs). Norms and biases stay F32, 2-D weights become the
 * requested type (rows not a multiple of the block size fall back to F16, as
 * convert_hf_to_gguf.py does). Element work (f16 expansion, quantization) is
 * done by the native addon.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DType } from './dtype';
import { InvalidArgumentError, IOError } from './errors';
import { GGML_TYPES, GGUFValueType } from './gguf/types';
import { type GGUFWriteTensor, type GGUFWriteValue, typed, writeGGUF } from './gguf/writer';
import { readJsonObject } from './hf/folder';
import { tokenizerMetadata } from './hf/tokenizer-gguf';
import { familyOf } from './model/arch/registry';
import { describeHF } from './model/description';
import { declareTensors, type TensorRef } from './model/tensor-source';
import { nativeCall } from './native';

export type ConvertType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0';

export interface ConvertOptions {
  type: ConvertType;
  /** Called after each tensor is written. */
  onProgress?: (done: number, total: number, name: string) => void;
  /** Replace an existing output file (default false: ERR_IO). The model's own files are never replaced. */
  overwrite?: boolean;
  /** Stops the conversion (ERR_ABORTED); nothing is left behind. */
  signal?: AbortSignal;
}

/**
 * Refuses an output path that would destroy data: one of the model folder's
 * files (also through a symlink or a hard link: compared by device and inode),
 * a directory, or — without `overwrite` — any existing file.
 */
async function checkOutput(
  hfDir: string,
  files: readonly string[],
  outPath: string,
  overwrite: boolean,
): Promise<void> {
  const st = await fs.promises.stat(outPath).catch(() => undefined);
  if (!st) return;
  if (st.isDirectory()) throw new InvalidArgumentError(`convert: output ${outPath} is a directory`);
  const inputs = new Set(files.map((f) => path.resolve(f)));
  for (const name of await fs.promises.readdir(hfDir).catch(() => [])) inputs.add(path.resolve(hfDir, name));
  for (const f of inputs) {
    const s = await fs.promises.stat(f).catch(() => undefined);
    if (s && s.dev === st.dev && s.ino === st.ino)
      throw new InvalidArgumentError(
        `convert: output ${outPath} is an input file of the model (${f}); not writing over it`,
      );
  }
  if (!overwrite) throw new IOError(`convert: ${outPath} exists (pass overwrite: true, or --force, to replace it)`);
}

const TARGET: Record<ConvertType, { dtype: number; fileType: number }> = {
  f32: { dtype: DType.F32, fileType: 0 },
  f16: { dtype: DType.F16, fileType: 1 },
  q4_0: { dtype: DType.Q4_0, fileType: 2 },
  q8_0: { dtype: DType.Q8_0, fileType: 7 },
  bf16: { dtype: DType.BF16, fileType: 32 },
};

const u32 = (v: number): GGUFWriteValue => typed(GGUFValueType.UINT32, v);

function readBytes(t: TensorRef): Uint8Array {
  const out = new Uint8Array(t.bytes);
  let fd: number | undefined;
  try {
    fd = fs.openSync(t.file, 'r');
    let done = 0;
    while (done < t.bytes) {
      const n = fs.readSync(fd, out, done, t.bytes - done, t.offset + done);
      if (n === 0) throw new Error('file shrank');
      done += n;
    }
  } catch (e) {
    throw new IOError(`cannot read tensor "${t.name}" from ${t.file}: ${(e as Error).message}`, { cause: e });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  return out;
}

/**
 * Reorders the rows of each head from HF's rotate-half layout (first half of
 * the pairs, then the second) to GGUF llama's interleaved pairs, as
 * convert_hf_to_gguf.py's permute() does. Moves whole rows, any dtype.
 */
export function permuteRows(src: Uint8Array, nRows: number, nHead: number): Uint8Array {
  if (nRows % (2 * nHead) !== 0) throw new InvalidArgumentError(`cannot permute ${nRows} rows over ${nHead} heads`);
  const rowBytes = src.byteLength / nRows;
  const headRows = nRows / nHead;
  const half = headRows / 2;
  const out = new Uint8Array(src.byteLength);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < half; j++) {
        const from = (h * headRows + i * half + j) * rowBytes;
        out.set(src.subarray(from, from + rowBytes), (h * headRows + 2 * j + i) * rowBytes);
      }
    }
  }
  return out;
}

function toF32(t: TensorRef, raw: Uint8Array, count: number): Float32Array {
  if (t.type === DType.F32) return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  return nativeCall((n) => n.dequantize(t.type, raw, count));
}

/** Converts a tensor's bytes to `dtype`. */
function convertData(t: TensorRef, raw: Uint8Array, dtype: number, add = 0): Uint8Array {
  if (dtype === t.type && add === 0) return raw;
  const count = t.shape.reduce((a, b) => a * b, 1);
  const f = toF32(t, raw, count);
  if (add !== 0) for (let i = 0; i < f.length; i++) f[i]! += add; // GGUF stores what the ops read (gemma: 1 + w)
  if (dtype === DType.F32) return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  return nativeCall((n) => n.quantize(dtype, f, t.shape[0]!));
}

/** Converts the Hugging Face model folder `hfDir` to a GGUF file at `outPath`. */
export async function convert(hfDir: string, outPath: string, options: ConvertOptions): Promise<void> {
  if (typeof hfDir !== 'string' || hfDir.length === 0) throw new InvalidArgumentError('convert: hfDir must be a path');
  if (typeof outPath !== 'string' || outPath.length === 0)
    throw new InvalidArgumentError('convert: outPath must be a path');
  if (options === null || typeof options !== 'object')
    throw new InvalidArgumentError('convert: options must be an object');
  const type: unknown = options.type;
  const target = typeof type === 'string' && Object.hasOwn(TARGET, type) ? TARGET[type as ConvertType] : undefined;
  if (!target)
    throw new InvalidArgumentError(
      `convert: type must be one of ${Object.keys(TARGET).join(', ')}, got ${typeof type === 'string' ? JSON.stringify(type) : typeof type}`,
    );
  const { overwrite = false, signal, onProgress } = options;
  if (typeof overwrite !== 'boolean') throw new InvalidArgumentError('convert: overwrite must be a boolean');
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new InvalidArgumentError('convert: signal must be an AbortSignal');
  if (onProgress !== undefined && typeof onProgress !== 'function')
    throw new InvalidArgumentError('convert: onProgress must be a function');
  const d = await describeHF(hfDir);
  const family = familyOf(d.architecture);
  const hp = d.hparams;
  await checkOutput(hfDir, d.files, outPath, overwrite);
  const config = d.hfConfig as Record<string, unknown>;
  const tok = await readJsonObject(path.join(hfDir, 'tokenizer.json'));
  const tokConfigPath = path.join(hfDir, 'tokenizer_config.json');
  const tokConfig = fs.existsSync(tokConfigPath) ? await readJsonObject(tokConfigPath) : undefined;
  const metadata: Record<string, GGUFWriteValue> = {
    'general.architecture': family.name,
    'general.name': path.basename(d.name),
    'general.alignment': u32(32),
    'general.file_type': u32(target.fileType),
    ...family.ggufMetadata(hp),
    ...tokenizerMetadata(tok, tokConfig, config, hp.vocabSize, family.hfAddsBos ?? false),
  };
  const blockSize = GGML_TYPES.get(target.dtype)!.blockSize;
  const tensors: GGUFWriteTensor[] = [];
  for (const decl of declareTensors(family, hp, d.format, d.tensors)) {
    const { name } = decl;
    if (decl.kind === 'derived') {
      const f = decl.data;
      tensors.push({
        name,
        type: DType.F32,
        shape: [f.length],
        data: new Uint8Array(f.buffer, f.byteOffset, f.byteLength),
      });
      continue;
    }
    const t = decl.ref;
    const dtype = t.shape.length === 1 ? DType.F32 : t.shape[0]! % blockSize === 0 ? target.dtype : DType.F16;
    const permuteHeads = family.hfPermuteHeads?.(name, hp) ?? 0;
    const nRows = t.shape.length === 1 ? t.shape[0]! : t.shape[1]!;
    tensors.push({
      name,
      type: dtype,
      shape: t.shape,
      data: () => {
        let raw = readBytes(t);
        if (permuteHeads) raw = permuteRows(raw, nRows, permuteHeads);
        return convertData(t, raw, dtype, decl.kind === 'vector' ? decl.add : 0);
      },
    });
  }
  let done = 0;
  const total = tensors.length;
  if (options.onProgress) {
    for (const t of tensors) {
      const data = t.data;
      t.data = () => {
        const out = typeof data === 'function' ? (data() as Uint8Array) : data;
        options.onProgress?.(++done, total, t.name);
        return out;
      };
    }
  }
  await writeGGUF(outPath, { metadata, tensors }, signal ? { overwrite, signal } : { overwrite });
}
