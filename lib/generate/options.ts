/**
 * Generation options: public shape, defaults (llama.cpp's where it has one),
 * and validation with messages that name the option and the bad value.
 */
import { InvalidArgumentError } from '../errors';
import { grammarFromGBNF, grammarFromSchema } from '../grammar/cache';
import { Grammar } from '../grammar/grammar';
import type { LazyGrammar, LogitsProcessor } from './constraint';
import { randomSeed } from './rng';
import type { SamplerOptions } from './sampler';

/** One generated token and the text it completed (may be empty while text is held back). */
export interface GenerationChunk {
  text: string;
  /** The token id; -1 for the final chunk that releases text held back when generation ends. */
  token: number;
}

export interface GenerateOptions {
  /** Most tokens to generate. Default 256. */
  maxTokens?: number;
  /** Softmax temperature; 0 = greedy (always the most likely token). Default 0.8. */
  temperature?: number;
  /** Keep only the k most likely tokens; 0 = all. Default 40. */
  topK?: number;
  /** Keep the most likely tokens whose probabilities sum to topP; 1 = off. Default 0.95. */
  topP?: number;
  /** Drop tokens less likely than minP × the most likely one; 0 = off. Default 0.05. */
  minP?: number;
  /** Divide (positive) logits of recently seen tokens by this; 1 = off. Default 1.0. */
  repeatPenalty?: number;
  /** How many recent tokens (prompt included) the penalties look at; -1 = all, 0 = none. Default 64. */
  repeatLastN?: number;
  /** Subtracted from the logit of every recently seen token. Default 0. */
  presencePenalty?: number;
  /** Subtracted once per occurrence of a recently seen token. Default 0. */
  frequencyPenalty?: number;
  /** Seed of the sampler's PRNG (integer >= 0): same seed, same output. Default: random. */
  seed?: number;
  /** Stop when the text contains one of these; the returned text ends before it. Default none. */
  stop?: string | readonly string[];
  /** Aborting ends generation with finishReason 'abort' (the text so far is returned). */
  signal?: AbortSignal;
  /** Called for every generated token, as it is generated. */
  onToken?: (chunk: GenerationChunk) => void;
  /**
   * Constrains the output to a grammar: GBNF text (llama.cpp's format) or a
   * compiled `Grammar`. Generation ends ('eos') where the grammar is complete.
   */
  grammar?: string | Grammar;
  /** Constrains the output to JSON that validates against this JSON Schema; the result gets `json`. */
  jsonSchema?: JsonSchema;
  /** Constrains the output to a JSON object; the result gets `json`. */
  json?: boolean;
  /**
   * Changes the logits (in place) before each token is sampled; runs on the
   * main thread once per token, before any grammar mask.
   */
  logitsProcessor?: LogitsProcessor;
}

/** A JSON Schema (see the README for the supported keywords). */
export type JsonSchema = boolean | { readonly [keyword: string]: unknown };

export interface ResolvedGenerateOptions {
  maxTokens: number;
  sampler: SamplerOptions;
  stop: string[];
  signal: AbortSignal | undefined;
  onToken: ((chunk: GenerationChunk) => void) | undefined;
  grammar: Grammar | undefined;
  /** Parse the text as JSON into the result's `json`. */
  parseJson: boolean;
  logitsProcessor: LogitsProcessor | undefined;
  /** @internal A grammar that applies only from a point of the reply on (tool calls in chat). */
  lazyGrammar?: LazyGrammar;
}

export const GENERATE_DEFAULTS = {
  maxTokens: 256,
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  repeatPenalty: 1.0,
  repeatLastN: 64,
  presencePenalty: 0,
  frequencyPenalty: 0,
} as const;

const KNOWN = new Set([
  ...Object.keys(GENERATE_DEFAULTS),
  'seed',
  'stop',
  'signal',
  'onToken',
  'grammar',
  'jsonSchema',
  'json',
  'logitsProcessor',
]);

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object';
  return String(v);
}

type Check = (v: number) => boolean;

function num(o: Record<string, unknown>, key: string, fallback: number, ok: Check, what: string): number {
  const v = o[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
    throw new InvalidArgumentError(`${key} must be ${what}, got ${show(v)}`);
  return v;
}

/** Checks every option and fills in the defaults. `extraStop` is added to the caller's stop strings. */
export function resolveGenerateOptions(
  options: GenerateOptions | undefined,
  extraStop: readonly string[] = [],
): ResolvedGenerateOptions {
  if (options === undefined) options = {};
  if (options === null || typeof options !== 'object')
    throw new InvalidArgumentError(`options must be an object, got ${show(options)}`);
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k) && o[k] !== undefined) throw new InvalidArgumentError(`unknown option "${k}"`);
  }
  const d = GENERATE_DEFAULTS;
  const int = (v: number): boolean => Number.isInteger(v);
  const maxTokens = num(o, 'maxTokens', d.maxTokens, (v) => int(v) && v > 0, 'a positive integer');
  const temperature = num(o, 'temperature', d.temperature, (v) => v >= 0, 'a number >= 0');
  const topK = num(o, 'topK', d.topK, (v) => int(v) && v >= 0, 'an integer >= 0');
  const topP = num(o, 'topP', d.topP, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  const minP = num(o, 'minP', d.minP, (v) => v >= 0 && v <= 1, 'a number in [0, 1]');
  const repeatPenalty = num(o, 'repeatPenalty', d.repeatPenalty, (v) => v > 0, 'a number > 0');
  const repeatLastN = num(o, 'repeatLastN', d.repeatLastN, (v) => int(v) && v >= -1, 'an integer >= -1');
  const presencePenalty = num(o, 'presencePenalty', d.presencePenalty, () => true, 'a finite number');
  const frequencyPenalty = num(o, 'frequencyPenalty', d.frequencyPenalty, () => true, 'a finite number');
  const seed = num(o, 'seed', -1, (v) => Number.isSafeInteger(v) && v >= 0, 'a non-negative safe integer');

  let stop: string[];
  const s = o['stop'];
  if (s === undefined) stop = [];
  else if (typeof s === 'string') stop = [s];
  else if (Array.isArray(s) && s.every((x) => typeof x === 'string')) stop = [...s];
  else throw new InvalidArgumentError(`stop must be a string or an array of strings, got ${show(s)}`);
  if (stop.some((x) => x.length === 0)) throw new InvalidArgumentError('stop strings must not be empty');

  const signal = o['signal'];
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new InvalidArgumentError(`signal must be an AbortSignal, got ${show(signal)}`);
  const onToken = o['onToken'];
  if (onToken !== undefined && typeof onToken !== 'function')
    throw new InvalidArgumentError(`onToken must be a function, got ${show(onToken)}`);

  const logitsProcessor = o['logitsProcessor'];
  if (logitsProcessor !== undefined && typeof logitsProcessor !== 'function')
    throw new InvalidArgumentError(`logitsProcessor must be a function, got ${show(logitsProcessor)}`);
  const { grammar, parseJson } = resolveConstraint(o);

  return {
    maxTokens,
    sampler: {
      temperature,
      topK,
      topP,
      minP,
      repeatPenalty,
      repeatLastN,
      presencePenalty,
      frequencyPenalty,
      seed: seed < 0 ? randomSeed() : seed,
    },
    stop: [...stop, ...extraStop.filter((x) => !stop.includes(x))],
    signal: signal,
    onToken: onToken as ((chunk: GenerationChunk) => void) | undefined,
    grammar,
    parseJson,
    logitsProcessor: logitsProcessor as LogitsProcessor | undefined,
  };
}

/** The grammar of the `grammar` / `jsonSchema` / `json` options (at most one of them). */
function resolveConstraint(o: Record<string, unknown>): { grammar: Grammar | undefined; parseJson: boolean } {
  const given = ['grammar', 'jsonSchema', 'json'].filter((k) => o[k] !== undefined && o[k] !== false);
  if (given.length > 1) throw new InvalidArgumentError(`give only one of ${given.join(' and ')}`);
  const g = o['grammar'];
  if (g !== undefined) {
    if (g instanceof Grammar) return { grammar: g, parseJson: false };
    if (typeof g !== 'string') throw new InvalidArgumentError(`grammar must be GBNF text or a Grammar, got ${show(g)}`);
    return { grammar: grammarFromGBNF(g), parseJson: false };
  }
  const schema = o['jsonSchema'];
  if (schema !== undefined) {
    if (typeof schema !== 'boolean' && (schema === null || typeof schema !== 'object' || Array.isArray(schema)))
      throw new InvalidArgumentError(`jsonSchema must be a JSON Schema object, got ${show(schema)}`);
    return { grammar: grammarFromSchema(schema), parseJson: true };
  }
  const json = o['json'];
  if (json !== undefined && typeof json !== 'boolean')
    throw new InvalidArgumentError(`json must be a boolean, got ${show(json)}`);
  if (json === true) return { grammar: grammarFromSchema({ type: 'object' }), parseJson: true };
  return { grammar: undefined, parseJson: false };
}
