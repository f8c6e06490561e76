/**
 * Writes a split GGUF set from one GGUF file, as llama.cpp's gguf-split does: the first part
 * holds every metadata key, each part `split.no` / `split.count` / `split.tensors.count` and a
 * contiguous run of the tensors. Test helper: it reads the whole source into memory.
 */
import * as fs from 'node:fs';
import { readGGUFSync } from '../../lib/gguf/reader';
import { splitFileName } from '../../lib/gguf/split';
import { GGUFValueType } from '../../lib/gguf/types';
import { typed, writeGGUFSync, type GGUFWriteValue } from '../../lib/gguf/writer';

/** Writes `count` parts named `<prefix>-0000N-of-0000M.gguf`; returns their paths in order. */
export function writeSplitGGUF(source: string, prefix: string, count: number): string[] {
  const g = readGGUFSync(source);
  const bytes = fs.readFileSync(source);
  const per = Math.ceil(g.tensors.length / count);
  const files: string[] = [];
  for (let i = 0; i < count; i++) {
    const split: Record<string, GGUFWriteValue> = {
      'split.no': typed(GGUFValueType.UINT16, i),
      'split.count': typed(GGUFValueType.UINT16, count),
      'split.tensors.count': typed(GGUFValueType.INT32, g.tensors.length),
    };
    const metadata = i === 0 ? { ...g.metadata, ...split } : split;
    const tensors = g.tensors.slice(i * per, (i + 1) * per).map((t) => ({
      name: t.name,
      type: t.type,
      shape: t.shape,
      data: bytes.subarray(t.offset, t.offset + t.bytes),
    }));
    const file = splitFileName(prefix, i + 1, count);
    writeGGUFSync(file, { metadata, types: g.metadataTypes, tensors });
    files.push(file);
  }
  return files;
}
