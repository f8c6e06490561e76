/** Typed accessors for loosely typed metadata (GGUF key/values, parsed JSON). */
import { BadModelError } from '../errors';

export type MetadataRecord = Readonly<Record<string, unknown>>;

/** Deepest `Sequence` nesting accepted in a tokenizer.json (real files nest one or two levels). */
export const MAX_NESTING = 32;

export function optString(md: MetadataRecord, key: string): string | undefined {
  const v = md[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new BadModelError(`${key} must be a string`);
  return v;
}

export function optNumber(md: MetadataRecord, key: string): number | undefined {
  const v = md[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw new BadModelError(`${key} must be a number`);
}

export function optBool(md: MetadataRecord, key: string): boolean | undefined {
  const v = md[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  throw new BadModelError(`${key} must be a boolean`);
}

export function optStringArray(md: MetadataRecord, key: string): string[] | undefined {
  const v = md[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new BadModelError(`${key} must be an array of strings`);
  for (let i = 0; i < v.length; i++)
    if (typeof v[i] !== 'string') throw new BadModelError(`${key} must be an array of strings`);
  return v as string[];
}

export function optNumberArray(md: MetadataRecord, key: string): ArrayLike<number> | undefined {
  const v = md[key];
  if (v === undefined || v === null) return undefined;
  if (
    ArrayBuffer.isView(v) &&
    !(v instanceof DataView) &&
    !(v instanceof BigInt64Array) &&
    !(v instanceof BigUint64Array)
  ) {
    return v as unknown as ArrayLike<number>;
  }
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return v;
  throw new BadModelError(`${key} must be a numeric array`);
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
