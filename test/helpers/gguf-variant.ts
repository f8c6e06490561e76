/** Copies of a GGUF fixture with edited metadata (tensors byte-for-byte the same). */
import * as fs from 'node:fs';
import { readGGUF, type GGUFFile } from '../../lib/gguf/reader';
import { GGUFValueType, type GGUFValueTypeId } from '../../lib/gguf/types';
import { typed, writeGGUFSync, type GGUFWriteValue } from '../../lib/gguf/writer';

/** Writes `out`: `src` with its metadata changed by `edit`; returns `out`. */
export async function ggufVariant(
  src: string,
  out: string,
  edit: (g: GGUFFile, meta: Record<string, GGUFWriteValue>) => void,
): Promise<string> {
  const g = await readGGUF(src);
  const bytes = fs.readFileSync(src);
  const meta: Record<string, GGUFWriteValue> = {};
  for (const [k, v] of Object.entries(g.metadata)) {
    const t = g.metadataTypes[k]!;
    meta[k] = t === GGUFValueType.ARRAY || t === GGUFValueType.STRING ? v : typed(t as GGUFValueTypeId, v);
  }
  edit(g, meta);
  writeGGUFSync(out, {
    metadata: meta,
    tensors: g.tensors.map((t) => ({
      name: t.name,
      type: t.type,
      shape: t.shape,
      data: bytes.subarray(t.offset, t.offset + t.bytes),
    })),
  });
  return out;
}
