/**
 * Tool calls in a reply: parsing them out of the text (in the template's
 * format), validating their arguments against the tool's JSON Schema, and
 * holding tool-call text back from streamed chunks.
 */
import { randomBytes } from 'node:crypto';
import type { ToolCall } from './messages';
import type { ToolDefinition, ToolFormat } from './tools';
import { validateArguments } from './validate';

/** A call the model attempted that could not be used (bad JSON, unknown tool, arguments not valid). */
export interface InvalidToolCall {
  id: string;
  /** The tool's name, if the call got that far. */
  name: string | undefined;
  /** The call's raw text. */
  text: string;
  error: string;
}

export interface ParsedReply {
  /** The reply without its tool calls. */
  content: string;
  toolCalls: ToolCall[];
  invalidToolCalls: InvalidToolCall[];
}

const newId = (): string => `call_${randomBytes(6).toString('hex')}`;
const OPEN = '<tool_call>',
  CLOSE = '</tool_call>';
const PYTHON_TAG = '<|python_tag|>';

/** End (exclusive) of the JSON object starting at `text[start] === '{'`, or -1 if it does not close. */
function objectEnd(text: string, start: number): number {
  let depth = 0,
    inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

function toCall(raw: string, tools: readonly ToolDefinition[]): ToolCall | InvalidToolCall {
  const id = newId();
  let obj: unknown;
  try {
    obj = JSON.parse(raw);
  } catch (e) {
    return { id, name: undefined, text: raw, error: `the call is not valid JSON: ${(e as Error).message}` };
  }
  const o = obj as Record<string, unknown> | null;
  if (o === null || typeof o !== 'object' || Array.isArray(o) || typeof o['name'] !== 'string')
    return { id, name: undefined, text: raw, error: 'the call has no "name"' };
  const name = o['name'];
  const tool = tools.find((t) => t.name === name);
  if (!tool) return { id, name, text: raw, error: `there is no tool named "${name}"` };
  let args: unknown = o['arguments'] ?? o['parameters'] ?? {};
  if (typeof args === 'string') {
    try {
      args = JSON.parse(args) as unknown;
    } catch {
      return { id, name, text: raw, error: 'the arguments are not valid JSON' };
    }
  }
  if (args === null || typeof args !== 'object' || Array.isArray(args))
    return { id, name, text: raw, error: 'the arguments are not a JSON object' };
  const error = validateArguments(tool, args);
  if (error !== undefined) return { id, name, text: raw, error };
  return { id, name, arguments: args as Record<string, unknown> };
}

function sort(results: Array<ToolCall | InvalidToolCall>): Pick<ParsedReply, 'toolCalls' | 'invalidToolCalls'> {
  const toolCalls: ToolCall[] = [],
    invalidToolCalls: InvalidToolCall[] = [];
  for (const r of results) {
    if ('error' in r) invalidToolCalls.push(r);
    else toolCalls.push(r);
  }
  return { toolCalls, invalidToolCalls };
}

/** Hermes: `<tool_call>{json}</tool_call>` blocks anywhere (an unclosed last block counts). */
function parseHermes(text: string, tools: readonly ToolDefinition[]): ParsedReply {
  const results: Array<ToolCall | InvalidToolCall> = [];
  const content: string[] = [];
  let pos = 0;
  for (;;) {
    const open = text.indexOf(OPEN, pos);
    if (open < 0) {
      content.push(text.slice(pos));
      break;
    }
    content.push(text.slice(pos, open));
    const close = text.indexOf(CLOSE, open + OPEN.length);
    const body = text.slice(open + OPEN.length, close < 0 ? text.length : close).trim();
    results.push(toCall(body, tools));
    if (close < 0) break;
    pos = close + CLOSE.length;
  }
  // The text between calls, each piece trimmed, one per line.
  const text2 = content.map((c) => c.trim()).filter((c) => c.length > 0);
  return { content: text2.join('\n'), ...sort(results) };
}

/** Whether the reply is a Llama 3 JSON call (attempt): `{"name": ...` first, optionally after <|python_tag|>. */
function llamaCallText(text: string): string | undefined {
  let t = text.trim();
  if (t.startsWith(PYTHON_TAG)) t = t.slice(PYTHON_TAG.length).trim();
  return /^\{\s*"name"\s*:/.test(t) ? t : undefined;
}

/** Llama 3.1 / 3.2: the reply is `{"name": ..., "parameters": {...}}` (several separated by ';' or new lines). */
function parseLlama(text: string, tools: readonly ToolDefinition[]): ParsedReply {
  const t = llamaCallText(text);
  if (t === undefined) return { content: text.trim(), toolCalls: [], invalidToolCalls: [] };
  const results: Array<ToolCall | InvalidToolCall> = [];
  let pos = 0;
  while (pos < t.length) {
    const end = t[pos] === '{' ? objectEnd(t, pos) : -1;
    const raw = end < 0 ? t.slice(pos) : t.slice(pos, end);
    results.push(toCall(raw, tools));
    if (end < 0) break;
    pos = end;
    while (pos < t.length && /[\s;]/.test(t[pos]!)) pos++;
  }
  return { content: '', ...sort(results) };
}

/** Splits a finished reply into content and tool calls. */
export function parseToolCalls(text: string, format: ToolFormat, tools: readonly ToolDefinition[]): ParsedReply {
  return format === 'hermes' ? parseHermes(text, tools) : parseLlama(text, tools);
}

/** Longest suffix of `s` that is a proper prefix of `word`. */
function partialSuffix(s: string, word: string): number {
  for (let n = Math.min(word.length - 1, s.length); n > 0; n--) if (s.endsWith(word.slice(0, n))) return n;
  return 0;
}

/**
 * Streaming: passes text through, holding back anything that is (or may
 * still become) a tool call, so chunks carry only the reply's content.
 */
export class ToolCallFilter {
  readonly #format: ToolFormat;
  #held = '';
  #inCall = false;
  #afterCall = false;
  /** Llama: undecided until the first non-blank text says call or content. */
  #llama: 'start' | 'call' | 'text' = 'start';

  constructor(format: ToolFormat) {
    this.#format = format;
  }

  /** Adds text; returns the part that can be shown now. */
  push(text: string): string {
    return this.#format === 'hermes' ? this.#hermes(text) : this.#llamaPush(text);
  }

  /** Ends the reply: returns held text that turned out not to be a tool call. */
  flush(): string {
    const held = this.#held;
    this.#held = '';
    if (this.#format === 'hermes') return this.#inCall || (this.#afterCall && held.trim().length === 0) ? '' : held;
    return this.#llama === 'call' && llamaCallText(held) !== undefined ? '' : held;
  }

  #hermes(text: string): string {
    let s = this.#held + text;
    let out = '';
    this.#held = '';
    for (;;) {
      if (this.#inCall) {
        const close = s.indexOf(CLOSE);
        if (close < 0) {
          this.#held = s;
          return out;
        }
        s = s.slice(close + CLOSE.length);
        this.#inCall = false;
        this.#afterCall = true;
      }
      if (this.#afterCall) {
        // Blank text between or after calls is not content (unless more content follows).
        const rest = s.trimStart();
        if (rest.length === 0 || (OPEN.startsWith(rest) && rest.length < OPEN.length)) {
          this.#held = s;
          return out;
        }
        this.#afterCall = false;
        if (rest.startsWith(OPEN)) s = rest;
      }
      const open = s.indexOf(OPEN);
      if (open < 0) {
        const keep = partialSuffix(s, OPEN);
        this.#held = s.slice(s.length - keep);
        return out + s.slice(0, s.length - keep);
      }
      out += s.slice(0, open);
      s = s.slice(open + OPEN.length);
      this.#inCall = true;
    }
  }

  #llamaPush(text: string): string {
    if (this.#llama === 'text') return text;
    this.#held += text;
    if (this.#llama === 'call') return '';
    const t = this.#held.trimStart();
    if (t.length === 0) return '';
    // Still possibly a call: a prefix of the python tag, or of `{"name":`.
    const withoutTag = t.startsWith(PYTHON_TAG) ? t.slice(PYTHON_TAG.length).trimStart() : t;
    if (PYTHON_TAG.startsWith(t) || withoutTag.length === 0) return '';
    if (withoutTag.startsWith('{')) {
      if (/^\{\s*("(n(a(me?)?)?)?)?$/.test(withoutTag)) return '';
      if (/^\{\s*"name"/.test(withoutTag)) {
        this.#llama = 'call';
        return '';
      }
    }
    this.#llama = 'text';
    const out = this.#held;
    this.#held = '';
    return out;
  }
}
