/**
 * Split GGUF sets as llama.cpp's gguf-split writes them: `<prefix>-00001-of-00003.gguf`, …
 * Every part is a complete GGUF file holding some of the tensors; the first part holds the
 * model's metadata; each part carries `split.no` (0-based), `split.count` and
 * `split.tensors.count` (tensors in the whole set).
 */
import * as path from 'node:path';
import { BadModelError } from '../errors';
import type { GGUFFile } from './parser';
import { readGGUF, readGGUFSync } from './reader';
import type { GGUFValue } from './types';

export const SPLIT_NO = 'split.no';
export const SPLIT_COUNT = 'split.count';
export const SPLIT_TENSORS_COUNT = 'split.tensors.count';

/** `-00001-of-00003.gguf` at the end of a file name (llama.cpp's "%s-%05d-of-%05d.gguf"). */
const SPLIT_NAME = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/i;

export interface SplitName {
  /** Everything before `-0000N-of-0000M.gguf` (directory included). */
  prefix: string;
  /** 1-based part number. */
  no: number;
  count: number;
}

/** The split set a file name belongs to, or undefined when the name has no split suffix. */
export function parseSplitName(file: string): SplitName | undefined {
  const m = SPLIT_NAME.exec(file);
  if (!m) return undefined;
  const no = Number(m[2]);
  const count = Number(m[3]);
  if (no < 1 || count < 1 || no > count) return undefined;
  return { prefix: m[1]!, no, count };
}

/** The file name of part `no` (1-based) of `count`. */
export function splitFileName(prefix: string, no: number, count: number): string {
  const pad = (n: number): string => String(n).padStart(5, '0');
  return `${prefix}-${pad(no)}-of-${pad(count)}.gguf`;
}

function intKey(m: Record<string, GGUFValue>, key: string, file: string): number | undefined {
  const v = m[key];
  if (v === undefined) return undefined;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
    throw new BadModelError(`${file}: metadata key "${key}" is not a non-negative integer`);
  return n;
}

/** Number of parts the file says its set has (1 for an ordinary GGUF file). */
export function splitCount(g: GGUFFile, file: string): number {
  const count = intKey(g.metadata, SPLIT_COUNT, file) ?? 1;
  if (count < 1 || count > 9999) throw new BadModelError(`${file}: ${SPLIT_COUNT} = ${count} is out of range`);
  return count;
}

export interface GGUFSet {
  /** The parts in order; files[0] holds the metadata. */
  files: string[];
  parts: GGUFFile[];
}

/** Checks that the parts form one complete set (numbering, counts, no tensor twice). */
function checkSet(set: GGUFSet): void {
  const count = set.parts.length;
  const first = set.files[0]!;
  const expected = intKey(set.parts[0]!.metadata, SPLIT_TENSORS_COUNT, first);
  const names = new Set<string>();
  set.parts.forEach((g, i) => {
    const file = set.files[i]!;
    const no = intKey(g.metadata, SPLIT_NO, file);
    if (no !== i) throw new BadModelError(`${file}: ${SPLIT_NO} is ${no ?? 'missing'}, expected ${i}`);
    const c = intKey(g.metadata, SPLIT_COUNT, file);
    if (c !== count) throw new BadModelError(`${file}: ${SPLIT_COUNT} is ${c ?? 'missing'}, expected ${count}`);
    for (const t of g.tensors) {
      if (names.has(t.name)) throw new BadModelError(`${file}: tensor "${t.name}" is also in an earlier part`);
      names.add(t.name);
    }
  });
  if (expected !== undefined && expected !== names.size)
    throw new BadModelError(`${first}: ${SPLIT_TENSORS_COUNT} is ${expected}, the parts hold ${names.size} tensors`);
}

/** The part files of the set `file` belongs to (any part may be given); undefined for a single file. */
function partFiles(file: string, g: GGUFFile): string[] | undefined {
  const count = splitCount(g, file);
  if (count === 1) return undefined;
  const name = parseSplitName(file);
  if (!name || name.count !== count) {
    throw new BadModelError(
      `${path.basename(file)} is part of a ${count}-part split GGUF but its name does not end in -0000N-of-${String(count).padStart(5, '0')}.gguf, so the other parts cannot be found`,
    );
  }
  return Array.from({ length: count }, (_, i) => splitFileName(name.prefix, i + 1, count));
}

/** Reads a GGUF file; a part of a split set brings the whole set (checked), first part first. */
export async function readGGUFSet(file: string, first?: GGUFFile): Promise<GGUFSet> {
  const g = first ?? (await readGGUF(file));
  const files = partFiles(file, g);
  if (!files) return { files: [file], parts: [g] };
  const parts: GGUFFile[] = [];
  for (const f of files) parts.push(f === file ? g : await readGGUF(f));
  const set = { files, parts };
  checkSet(set);
  return set;
}

export function readGGUFSetSync(file: string, first?: GGUFFile): GGUFSet {
  const g = first ?? readGGUFSync(file);
  const files = partFiles(file, g);
  if (!files) return { files: [file], parts: [g] };
  const set = { files, parts: files.map((f) => (f === file ? g : readGGUFSync(f))) };
  checkSet(set);
  return set;
}
