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
import { InvalidArgumentError, UnsupportedError } from '../errors';
import { Grammar } from '../grammar/grammar';
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

/** The grammar of a reply that is only tool calls (of `allowed` tools) in the template's format. */
export function toolCallGrammar(format: ToolFormat, allowed: readonly ToolDefinition[]): Grammar {
  const b = new SchemaGrammarBuilder();
  const argsKey = format === 'hermes' ? 'arguments' : 'parameters';
  const calls = allowed.map((t) => {
    const args = b.add(t.parameters ?? NO_ARGUMENTS, `${t.name}-args`);
    return `${gbnfLiteral(JSON.stringify(t.name))} space "," space ${gbnfLiteral(`"${argsKey}"`)} space ":" space ${args}`;
  });
  const call = b.addRule('call', `"{" space ${gbnfLiteral('"name"')} space ":" space (${calls.join(' | ')}) "}"`);
  if (format === 'llama3-json') return new Grammar(b.gbnf(`${call} space`));
  const block = b.addRule('tool-call', `"<tool_call>\\n" ${call} "\\n</tool_call>"`);
  return new Grammar(b.gbnf(`${block} ("\\n" ${block})*`));
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
