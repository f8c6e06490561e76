/**
 * Compiled grammars by source, so repeated requests with the same GBNF text
 * or JSON schema reuse the automaton and every token mask computed so far.
 */
import { Grammar } from './grammar';

/** Each keeps its masks (see masks.ts: up to ~20 MB each on a 150k vocabulary). */
const MAX_ENTRIES = 16;
const cache = new Map<string, Grammar>();

function cached(key: string, make: () => Grammar): Grammar {
  let g = cache.get(key);
  if (g) {
    // Most recently used last.
    cache.delete(key);
    cache.set(key, g);
    return g;
  }
  g = make();
  cache.set(key, g);
  if (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value!);
  return g;
}

/** The compiled grammar of GBNF text (cached). */
export function grammarFromGBNF(text: string): Grammar {
  return cached(`gbnf:${text}`, () => new Grammar(text));
}

/** The compiled grammar of a JSON schema (cached by its JSON text). */
export function grammarFromSchema(schema: unknown): Grammar {
  let key: string | undefined;
  try {
    key = JSON.stringify(schema);
  } catch {
    key = undefined; // cyclic objects: not cacheable (and rejected by the converter)
  }
  if (key === undefined) return Grammar.fromJsonSchema(schema);
  return cached(`schema:${key}`, () => Grammar.fromJsonSchema(schema));
}
