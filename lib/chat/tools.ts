/**
 * Tools for chat: their definitions, `toolChoice`, how the model's own chat
 * template shows them (the `tools` variable, OpenAI / transformers style:
 * `{ type: 'function', function: { name, description, parameters } }`), and
 * which tool-call format the template teaches the model:
 *
 *  - 'hermes' (Qwen2.5, Qwen3, Hermes and many more): `<tool_call>\n{"name": …,
 *    "arguments": {…}}\n</tool_call>`, one block per call;
 *  - 'llama3-json' (Llama 3.1 / 3.2): the whole reply is `{"name": …,
 *    "parameters": {…}}`.
 *
 * With toolChoice 'required' or a named tool, the reply is generated under a
 * grammar of exactly those calls, every argument object valid against its
 * tool's schema.
 */
import { InvalidArgumentError, MiniMacLLMError, UnsupportedError } from '../errors';
import { NEVER, WAIT, type LazyGrammar } from '../generate/constraint';
import { grammarFromGBNF } from '../grammar/cache';
import type { Grammar } from '../grammar/grammar';
import { SchemaGrammarBuilder } from '../grammar/json-schema';
import { gbnfLiteral } from '../grammar/gbnf-text';

/** A tool the model may call. OpenAI's `{ type: 'function', function: {...} }` shape is accepted too. */
export interface ToolDefinition {
  name: string;
  description?: string;
  /** JSON Schema of the arguments object. Default: no arguments. */
  parameters?: Record<string, unknown>;
}

export type ToolChoice = 'auto' | 'required' | 'none' | { name: string };

export type ToolFormat = 'hermes' | 'llama3-json';

interface OpenAITool {
  type: 'function';
  function: ToolDefinition;
}

/** Checks and normalizes tool definitions. */
export function checkTools(tools: unknown): ToolDefinition[] {
  if (!Array.isArray(tools))
    throw new InvalidArgumentError('tools must be an array of { name, description, parameters }');
  const seen = new Set<string>();
  return tools.map((t: unknown, i) => {
    let d = t as Record<string, unknown> | null;
    if (d !== null && typeof d === 'object' && d['type'] === 'function' && typeof d['function'] === 'object')
      d = d['function'] as Record<string, unknown> | null;
    if (d === null || typeof d !== 'object' || typeof d['name'] !== 'string' || d['name'].length === 0)
      throw new InvalidArgumentError(`tools[${i}] must be an object with a non-empty string "name"`);
    const name = d['name'];
    if (seen.has(name)) throw new InvalidArgumentError(`tools[${i}]: two tools are named "${name}"`);
    seen.add(name);
    const description = d['description'];
    if (description !== undefined && typeof description !== 'string')
      throw new InvalidArgumentError(`tools[${i}].description must be a string`);
    const parameters = d['parameters'];
    if (
      parameters !== undefined &&
      (parameters === null || typeof parameters !== 'object' || Array.isArray(parameters))
    )
      throw new InvalidArgumentError(`tools[${i}].parameters must be a JSON Schema object`);
    const out: ToolDefinition = { name };
    if (description !== undefined) out.description = description;
    if (parameters !== undefined) out.parameters = parameters as Record<string, unknown>;
    return out;
  });
}

/** Checks toolChoice against the tools; returns the tools the model may call (none: no tool use). */
export function checkToolChoice(choice: unknown, tools: readonly ToolDefinition[]): ToolChoice {
  if (choice === undefined) return 'auto';
  if (choice === 'auto' || choice === 'required' || choice === 'none') return choice;
  let c = choice as Record<string, unknown> | null;
  if (c !== null && typeof c === 'object' && c['type'] === 'function' && typeof c['function'] === 'object')
    c = c['function'] as Record<string, unknown> | null;
  if (c !== null && typeof c === 'object' && typeof c['name'] === 'string') {
    const name = c['name'];
    if (!tools.some((t) => t.name === name))
      throw new InvalidArgumentError(`toolChoice names "${name}", which is not in tools`);
    return { name };
  }
  throw new InvalidArgumentError(
    `toolChoice must be 'auto', 'required', 'none' or { name }, got ${JSON.stringify(choice)}`,
  );
}

/** The tools as templates receive them (transformers passes OpenAI-style dicts, keys in this order). */
export function templateTools(tools: readonly ToolDefinition[]): OpenAITool[] {
  return tools.map((t) => {
    const fn: ToolDefinition = { name: t.name };
    if (t.description !== undefined) fn.description = t.description;
    if (t.parameters !== undefined) fn.parameters = t.parameters;
    return { type: 'function', function: fn };
  });
}

/** The tool-call format a chat template teaches, if it is one we know. */
export function toolFormat(templateSource: string | undefined): ToolFormat | undefined {
  if (templateSource === undefined) return undefined;
  if (templateSource.includes('<tool_call>')) return 'hermes';
  if (templateSource.includes('"parameters": dictionary') || templateSource.includes('<|python_tag|>'))
    return 'llama3-json';
  return undefined;
}

/** Whether a chat template renders the `tools` variable at all. */
export function templateUsesTools(templateSource: string | undefined): boolean {
  return templateSource !== undefined && /\btools\b/.test(templateSource);
}

const NO_ARGUMENTS = { type: 'object', properties: {}, additionalProperties: false };

/**
 * The grammar of a reply that is only tool calls (of `allowed` tools) in the
 * template's format; `afterOpening`: of one hermes call from just after its
 * `<tool_call>` (for the lazy grammar of 'auto').
 */
export function toolCallGrammar(format: ToolFormat, allowed: readonly ToolDefinition[], afterOpening = false): Grammar {
  const b = new SchemaGrammarBuilder();
  const argsKey = format === 'hermes' ? 'arguments' : 'parameters';
  const calls = allowed.map((t) => {
    const args = b.add(t.parameters ?? NO_ARGUMENTS, `${t.name}-args`);
    return `${gbnfLiteral(JSON.stringify(t.name))} space "," space ${gbnfLiteral(`"${argsKey}"`)} space ":" space ${args}`;
  });
  const call = b.addRule('call', `"{" space ${gbnfLiteral('"name"')} space ":" space (${calls.join(' | ')}) "}"`);
  // Compiled grammars are cached by their text: the next turn with the same tools reuses every mask.
  if (format === 'llama3-json') return grammarFromGBNF(b.gbnf(`${call} space`));
  if (afterOpening) return grammarFromGBNF(b.gbnf(`[ \\t\\n]{0,2} ${call} [ \\t\\n]{0,2} "</tool_call>"`));
  const block = b.addRule('tool-call', `"<tool_call>\\n" ${call} "\\n</tool_call>"`);
  return grammarFromGBNF(b.gbnf(`${block} ("\\n" ${block})*`));
}

const bytesOf = (s: string): Uint8Array => new TextEncoder().encode(s);
const OPEN = bytesOf('<tool_call>');
const PYTHON_TAG = bytesOf('<|python_tag|>');

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const isBlank = (b: number): boolean => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;

/** Llama 3: a call is the whole reply, so it starts at the first non-blank byte if that is "{" (after <|python_tag|>). */
function llamaStart(text: Uint8Array): number {
  let i = 0;
  while (i < text.length && isBlank(text[i]!)) i++;
  const tag = text.subarray(i, i + PYTHON_TAG.length);
  if (tag.every((b, k) => b === PYTHON_TAG[k])) {
    if (tag.length < PYTHON_TAG.length) return WAIT;
    i += PYTHON_TAG.length;
    while (i < text.length && isBlank(text[i]!)) i++;
  }
  if (i === text.length) return WAIT;
  return text[i] === 0x7b ? i : NEVER;
}

/**
 * For toolChoice 'auto': once the model opens a call, the call is generated
 * under the tools' grammar (so a call it starts is valid by construction);
 * undefined when a tool's schema has keywords a grammar can't enforce (its
 * calls are then only validated).
 */
export function lazyToolGrammar(format: ToolFormat, tools: readonly ToolDefinition[]): LazyGrammar | undefined {
  let grammar: Grammar;
  try {
    grammar = toolCallGrammar(format, tools, format === 'hermes');
  } catch (e) {
    if (e instanceof MiniMacLLMError && e.code === 'ERR_UNSUPPORTED') return undefined;
    throw e;
  }
  if (format === 'llama3-json') return { grammar, findStart: llamaStart, repeat: false };
  return {
    grammar,
    findStart: (text) => {
      const i = indexOf(text, OPEN);
      return i < 0 ? WAIT : i + OPEN.length;
    },
    repeat: true,
  };
}

/** A tool named in an error message must exist; unsupported formats are ERR_UNSUPPORTED. */
export function requireFormat(format: ToolFormat | undefined, what: string): ToolFormat {
  if (format === undefined) {
    throw new UnsupportedError(
      `${what}: this model's chat template uses a tool-call format minimacllm does not know (known: <tool_call> blocks as Qwen / Hermes, JSON calls as Llama 3.1)`,
    );
  }
  return format;
}
