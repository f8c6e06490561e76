/**
 * OpenAI request bodies → library calls: sampling fields (OpenAI's and the
 * extra ones llama-server accepts), messages, response_format, tools. Every
 * check names the request field (`param`) it rejects.
 */
import type { ChatMessage, ToolCall } from '../chat/messages';
import type { ChatOptions } from '../chat/chat';
import type { GenerateOptions } from '../generate/options';
import { badParam } from './http-error';

type Body = Record<string, unknown>;

export interface SamplingRequest {
  options: GenerateOptions;
  stream: boolean;
  includeUsage: boolean;
  /** llama-server's `ignore_eos`: end-of-generation tokens are never sampled (runs to max_tokens or a stop). */
  ignoreEos: boolean;
}

const describe = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : JSON.stringify(v);

function num(b: Body, key: string, ok: (v: number) => boolean, what: string): number | undefined {
  const v = b[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
    throw badParam(key, `${key} must be ${what}, got ${describe(v)}`);
  return v;
}

const isInt = (v: number): boolean => Number.isSafeInteger(v);

/** The sampling and length fields shared by chat and completions. */
export function samplingOf(b: Body, maxTokensLimit: number): SamplingRequest {
  const o: GenerateOptions = {};
  const maxTokens =
    num(b, 'max_completion_tokens', (v) => isInt(v) && v > 0, 'a positive integer') ??
    num(b, 'max_tokens', (v) => isInt(v) && v > 0, 'a positive integer');
  o.maxTokens = Math.min(maxTokens ?? maxTokensLimit, maxTokensLimit);
  const set = <K extends keyof GenerateOptions>(k: K, v: GenerateOptions[K] | undefined): void => {
    if (v !== undefined) o[k] = v;
  };
  set(
    'temperature',
    num(b, 'temperature', (v) => v >= 0 && v <= 2, 'a number in [0, 2]'),
  );
  set(
    'topP',
    num(b, 'top_p', (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
  );
  set(
    'topK',
    num(b, 'top_k', (v) => isInt(v) && v >= 0, 'an integer >= 0'),
  );
  set(
    'minP',
    num(b, 'min_p', (v) => v >= 0 && v <= 1, 'a number in [0, 1]'),
  );
  set(
    'repeatPenalty',
    num(b, 'repeat_penalty', (v) => v > 0, 'a number > 0'),
  );
  set(
    'presencePenalty',
    num(b, 'presence_penalty', (v) => v >= -2 && v <= 2, 'a number in [-2, 2]'),
  );
  set(
    'frequencyPenalty',
    num(b, 'frequency_penalty', (v) => v >= -2 && v <= 2, 'a number in [-2, 2]'),
  );
  set(
    'seed',
    num(b, 'seed', (v) => isInt(v) && v >= 0, 'a non-negative integer'),
  );
  const stop = b['stop'];
  if (stop !== undefined && stop !== null) {
    const list = typeof stop === 'string' ? [stop] : stop;
    if (!Array.isArray(list) || list.length > 4 || !list.every((s) => typeof s === 'string' && s.length > 0))
      throw badParam('stop', 'stop must be a non-empty string or an array of at most 4 non-empty strings');
    o.stop = list as string[];
  }
  const n = num(b, 'n', isInt, 'an integer');
  if (n !== undefined && n !== 1) throw badParam('n', 'only n = 1 is supported', 'unsupported_value');
  if (b['logprobs'] === true || (b['logprobs'] !== undefined && typeof b['logprobs'] === 'number'))
    throw badParam('logprobs', 'logprobs are not supported', 'unsupported_value');
  const stream = b['stream'] ?? false;
  if (typeof stream !== 'boolean' && stream !== null) throw badParam('stream', 'stream must be a boolean');
  const so = b['stream_options'];
  let includeUsage = false;
  if (so !== undefined && so !== null) {
    if (typeof so !== 'object' || Array.isArray(so))
      throw badParam('stream_options', 'stream_options must be an object');
    const iu = (so as Body)['include_usage'];
    if (iu !== undefined && typeof iu !== 'boolean')
      throw badParam('stream_options.include_usage', 'stream_options.include_usage must be a boolean');
    includeUsage = iu === true;
  }
  const ignoreEos = b['ignore_eos'] ?? false;
  if (typeof ignoreEos !== 'boolean' && ignoreEos !== null)
    throw badParam('ignore_eos', 'ignore_eos must be a boolean');
  return { options: o, stream: stream === true, includeUsage, ignoreEos: ignoreEos === true };
}

function textOf(content: unknown, at: string): string | null {
  if (content === null || content === undefined) return null;
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p: unknown, j) => {
        const part = p as Body | null;
        if (part === null || typeof part !== 'object' || part['type'] !== 'text' || typeof part['text'] !== 'string')
          throw badParam(`${at}.content[${j}]`, `${at}.content[${j}] must be a text part (images are not supported)`);
        return part['text'];
      })
      .join('\n');
  }
  throw badParam(`${at}.content`, `${at}.content must be a string or an array of text parts`);
}

/** OpenAI messages → ChatMessages (tool calls' JSON arguments parsed). */
export function messagesOf(b: Body): ChatMessage[] {
  const msgs = b['messages'];
  if (!Array.isArray(msgs) || msgs.length === 0)
    throw badParam('messages', 'messages must be a non-empty array of { role, content }');
  return msgs.map((m: unknown, i): ChatMessage => {
    const at = `messages[${i}]`;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw badParam(at, `${at} must be an object`);
    const r = m as Body;
    const role = r['role'];
    if (typeof role !== 'string' || role.length === 0) throw badParam(`${at}.role`, `${at}.role must be a string`);
    // OpenAI's newer name for the system role.
    const msg: ChatMessage = { role: role === 'developer' ? 'system' : role, content: textOf(r['content'], at) };
    const calls = r['tool_calls'];
    if (calls !== undefined && calls !== null) {
      if (!Array.isArray(calls)) throw badParam(`${at}.tool_calls`, `${at}.tool_calls must be an array`);
      msg.toolCalls = calls.map((c: unknown, j): ToolCall => {
        const p = `${at}.tool_calls[${j}]`;
        const fn = (c as Body | null)?.['function'] as Body | undefined;
        const id = (c as Body | null)?.['id'];
        if (typeof id !== 'string' || !fn || typeof fn !== 'object' || typeof fn['name'] !== 'string')
          throw badParam(p, `${p} must be { id, type: 'function', function: { name, arguments } }`);
        const raw = fn['arguments'];
        let args: unknown = raw ?? {};
        if (typeof raw === 'string') {
          try {
            args = raw.trim() === '' ? {} : JSON.parse(raw);
          } catch {
            throw badParam(`${p}.function.arguments`, `${p}.function.arguments is not valid JSON`);
          }
        }
        if (args === null || typeof args !== 'object' || Array.isArray(args))
          throw badParam(`${p}.function.arguments`, `${p}.function.arguments must be a JSON object`);
        return { id, name: fn['name'], arguments: args as Record<string, unknown> };
      });
      if (msg.content === '') msg.content = null;
    }
    const callId = r['tool_call_id'];
    if (callId !== undefined && callId !== null) {
      if (typeof callId !== 'string') throw badParam(`${at}.tool_call_id`, `${at}.tool_call_id must be a string`);
      msg.toolCallId = callId;
    }
    if (typeof r['name'] === 'string' && role === 'tool') msg.name = r['name'];
    return msg;
  });
}

/** response_format and tools/tool_choice → ChatOptions' jsonSchema / json / tools / toolChoice. */
export function chatExtrasOf(b: Body): Pick<ChatOptions, 'json' | 'jsonSchema' | 'tools' | 'toolChoice'> {
  const out: Pick<ChatOptions, 'json' | 'jsonSchema' | 'tools' | 'toolChoice'> = {};
  const rf = b['response_format'];
  if (rf !== undefined && rf !== null) {
    const type = typeof rf === 'object' && !Array.isArray(rf) ? (rf as Body)['type'] : undefined;
    if (type === 'json_object') out.json = true;
    else if (type === 'json_schema') {
      const js = (rf as Body)['json_schema'] as Body | undefined;
      const schema = js && typeof js === 'object' ? js['schema'] : undefined;
      if (schema === undefined) out.json = true;
      else if (schema === null || typeof schema !== 'object' || Array.isArray(schema))
        throw badParam('response_format.json_schema.schema', 'response_format.json_schema.schema must be an object');
      else out.jsonSchema = schema as Record<string, unknown>;
    } else if (type !== 'text')
      throw badParam('response_format.type', "response_format.type must be 'text', 'json_object' or 'json_schema'");
  }
  const tools = b['tools'];
  if (tools !== undefined && tools !== null) {
    if (!Array.isArray(tools)) throw badParam('tools', 'tools must be an array');
    tools.forEach((t: unknown, i) => {
      const r = t as Body | null;
      if (r === null || typeof r !== 'object' || r['type'] !== 'function' || typeof r['function'] !== 'object')
        throw badParam(`tools[${i}]`, `tools[${i}] must be { type: 'function', function: { name, parameters } }`);
    });
    if (tools.length > 0) out.tools = tools as ChatOptions['tools'];
  }
  const tc = b['tool_choice'];
  if (tc !== undefined && tc !== null) {
    if (tc === 'auto' || tc === 'none' || tc === 'required') out.toolChoice = tc;
    else {
      const name = ((tc as Body | null)?.['function'] as Body | undefined)?.['name'];
      if (typeof name !== 'string')
        throw badParam(
          'tool_choice',
          "tool_choice must be 'auto', 'none', 'required' or { type: 'function', function: { name } }",
        );
      out.toolChoice = { name };
    }
    if (out.tools === undefined && out.toolChoice !== 'none' && out.toolChoice !== 'auto')
      throw badParam('tool_choice', 'tool_choice needs tools');
  }
  return out;
}

/** A completions prompt: a string, one string in an array, or token ids. */
export function promptOf(b: Body): string | number[] {
  let p = b['prompt'];
  if (Array.isArray(p) && p.length === 1 && typeof p[0] === 'string') p = p[0];
  if (typeof p === 'string') return p;
  if (Array.isArray(p) && p.length > 0 && p.every((t) => typeof t === 'number' && Number.isInteger(t)))
    return p as number[];
  throw badParam('prompt', 'prompt must be a string or an array of token ids (one prompt per request)');
}
