/**
 * config.json as the model families read it: typed accessors whose errors name
 * the key (transformers' field names; a family maps them to hyper-parameters).
 */
import { BadModelError } from '../errors';

export type Json = Record<string, unknown>;

export class HFConfig {
  constructor(readonly json: Json) {}

  /** `architectures[0]`, or undefined. */
  get architecture(): string | undefined {
    const archs = this.json['architectures'];
    return Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
  }

  /** A number; `fallback` when absent or null (BadModelError when absent without one). */
  num(key: string, fallback?: number): number {
    const v = this.json[key];
    if (v === undefined || v === null) {
      if (fallback === undefined) throw new BadModelError(`config.json: "${key}" is missing`);
      return fallback;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new BadModelError(`config.json: "${key}" is not a number`);
    return v;
  }

  /** A boolean, or undefined when absent. */
  bool(key: string): boolean | undefined {
    const v = this.json[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw new BadModelError(`config.json: "${key}" is not a boolean`);
    return v;
  }

  /** An object (not an array), or undefined when absent or null. */
  object(key: string): Json | undefined {
    const v = this.json[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw new BadModelError(`config.json: "${key}" is not an object`);
    return v as Json;
  }

  /** The raw value. */
  value(key: string): unknown {
    return this.json[key];
  }
}
