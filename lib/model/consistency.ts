/**
 * Load-time checks that a model description is internally consistent beyond
 * what the format parsers see: no layer tensors past the declared layer
 * count, special token ids inside the vocabulary, and tensor data the
 * kernels can read in place (aligned). A file that fails here would load and
 * then silently misbehave or fail on every generate().
 */
import { BadModelError, UnsupportedError } from '../errors';
import type { ModelDescription } from './description';

/**
 * Byte alignment every tensor's data must have in its file: the kernels read
 * f32/i32 elements and the f16/f32 scales of quantized blocks in place,
 * straight from the mapping (and Metal binds buffers at 4-byte offsets).
 */
export const TENSOR_DATA_ALIGNMENT = 4;

/** "No token" as GGUF files write it (u32 -1 / i32 -1). */
const NONE_IDS = new Set([0xffffffff, -1]);

function specialIds(desc: ModelDescription): Array<[string, unknown]> {
  if (desc.format === 'gguf') {
    const m = desc.metadata ?? {};
    return ['bos', 'eos'].map((k) => {
      const key = `tokenizer.ggml.${k}_token_id`;
      return [key, m[key]];
    });
  }
  const c = (desc.hfConfig ?? {}) as Record<string, unknown>;
  const out: Array<[string, unknown]> = [];
  for (const k of ['bos_token_id', 'eos_token_id']) {
    const v = c[k];
    // transformers allows a list of EOS ids.
    if (Array.isArray(v)) v.forEach((x, i) => out.push([`config.json ${k}[${i}]`, x]));
    else out.push([`config.json ${k}`, v]);
  }
  return out;
}

/** Throws ERR_BAD_MODEL / ERR_UNSUPPORTED when `desc` cannot be run as described. */
export function checkModelConsistency(desc: ModelDescription): void {
  const hp = desc.hparams;
  for (const t of desc.tensors.values()) {
    const m = /^blk\.(\d+)\./.exec(t.name);
    if (m && Number(m[1]) >= hp.nLayer) {
      throw new BadModelError(
        `tensor "${t.name}" belongs to layer ${m[1]}, but the model declares ${hp.nLayer} layers (block_count)`,
      );
    }
    if (t.bytes > 0 && t.offset % TENSOR_DATA_ALIGNMENT !== 0) {
      throw new UnsupportedError(
        `tensor "${t.name}" starts at byte ${t.offset} of ${t.file}, which is not a multiple of ` +
          `${TENSOR_DATA_ALIGNMENT}: weights are used in place from the file, so their data must be aligned ` +
          `(GGUF general.alignment of at least ${TENSOR_DATA_ALIGNMENT}, the default being 32; ` +
          `safetensors headers padded to 8 bytes, as the reference writer does)`,
      );
    }
  }
  for (const [key, v] of specialIds(desc)) {
    if (v === undefined || v === null) continue;
    const id = typeof v === 'bigint' ? Number(v) : v;
    if (typeof id !== 'number' || !Number.isInteger(id))
      throw new BadModelError(`${key} = ${typeof v === 'string' ? JSON.stringify(v) : typeof v} is not a token id`);
    if (NONE_IDS.has(id)) continue;
    if (id < 0 || id >= hp.vocabSize)
      throw new BadModelError(`${key} = ${id} is outside the vocabulary [0, ${hp.vocabSize})`);
  }
}
