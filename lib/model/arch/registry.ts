/**
 * The model families minimacllm runs, by GGUF `general.architecture` and by
 * HF config.json `architectures[0]`. A new family is one module plus one entry here.
 */
import { BadModelError, UnsupportedError } from '../../errors';
import type { ModelFamily } from './family';
import { gemma2, gemma3 } from './gemma3';
import { llama } from './llama';
import { phi3 } from './phi3';
import { qwen2 } from './qwen2';
import { qwen3 } from './qwen3';

export const FAMILIES = [llama, qwen2, qwen3, gemma3, gemma2, phi3] as const;

/** GGUF architecture names of the supported families ('llama' | 'qwen2' | 'qwen3' | 'gemma3' | 'gemma2' | 'phi3'). */
export type Architecture = (typeof FAMILIES)[number]['name'];

export const ARCHITECTURES: readonly Architecture[] = FAMILIES.map((f) => f.name);

/** A family of the registry. */
export type RegisteredFamily = ModelFamily & { readonly name: Architecture };

const unsupported = (name: string, supported: readonly string[]): UnsupportedError =>
  new UnsupportedError(
    `unsupported model architecture "${name}" (supported: ${supported.join(', ')})`,
    'ERR_UNSUPPORTED_ARCH',
  );

/** The family of a GGUF `general.architecture` (undefined: BadModelError naming `what`). */
export function familyOfGGUF(name: string | undefined, what: string): RegisteredFamily {
  if (name === undefined) throw new BadModelError(`${what} is missing`);
  const f = FAMILIES.find((x) => x.name === name);
  if (!f) throw unsupported(name, ARCHITECTURES);
  return f;
}

/** The family of an HF config.json's `architectures[0]` class. */
export function familyOfHF(cls: string | undefined): RegisteredFamily {
  if (cls === undefined) throw new BadModelError('config.json: "architectures" is missing');
  const f = FAMILIES.find((x) => x.hfArchitectures.includes(cls));
  if (!f)
    throw unsupported(
      cls,
      FAMILIES.flatMap((x) => x.hfArchitectures),
    );
  return f;
}

/** The family of a described model (its `architecture`). */
export function familyOf(architecture: string): RegisteredFamily {
  return familyOfGGUF(architecture, 'architecture');
}
