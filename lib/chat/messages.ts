/**
 * Chat messages: the public (camelCase) shape, its checks, and the shape
 * chat templates expect (Hugging Face's: `tool_calls`, `tool_call_id`,
 * string content), which is what transformers' apply_chat_template passes.
 */
import { InvalidArgumentError } from '../errors';

/** One text part of an OpenAI-style content array. */
export interface ChatTextPart {
  type: 'text';
  text: string;
}

/** A tool call the model made (arguments parsed and validated against the tool's schema). */
export interface ToolCall {
  id: string;
  name: string;
  arguments: Record<string, unknown>;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | (string & {});
  /** Text, or text parts (joined with newlines); may be null or '' on an assistant message with toolCalls. */
  content: string | readonly ChatTextPart[] | null;
  /** Assistant messages: the tool calls it made. */
  toolCalls?: readonly ToolCall[];
  /** Tool messages: the id of the call this is the result of. */
  toolCallId?: string;
  /** Tool messages: the tool's name (found from toolCallId when left out). */
  name?: string;
}

const describe = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : typeof v;

/** Checks messages and returns them typed (throws ERR_INVALID_ARG naming the bad field). */
export function checkMessages(messages: unknown): ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0)
    throw new InvalidArgumentError('messages must be a non-empty array of { role, content }');
  messages.forEach((m: unknown, i) => {
    const at = `messages[${i}]`;
    if (m === null || typeof m !== 'object')
      throw new InvalidArgumentError(`${at} must be an object with string "role" and "content"`);
    const r = m as Record<string, unknown>;
    if (typeof r['role'] !== 'string')
      throw new InvalidArgumentError(`${at} must be an object with string "role" and "content"`);
    const content = r['content'];
    const calls = r['toolCalls'];
    if (Array.isArray(content)) {
      content.forEach((p: unknown, j) => {
        const part = p as { type?: unknown; text?: unknown } | null;
        if (part === null || typeof part !== 'object' || part.type !== 'text' || typeof part.text !== 'string')
          throw new InvalidArgumentError(`${at}.content[${j}] must be a text part { type: 'text', text: string }`);
      });
    } else if (typeof content !== 'string') {
      const empty = content === null || content === undefined;
      if (!(empty && r['role'] === 'assistant' && Array.isArray(calls) && calls.length > 0))
        throw new InvalidArgumentError(`${at} must be an object with string "role" and "content"`);
    }
    if (calls !== undefined) {
      if (r['role'] !== 'assistant') throw new InvalidArgumentError(`${at}.toolCalls is only for assistant messages`);
      if (!Array.isArray(calls)) throw new InvalidArgumentError(`${at}.toolCalls must be an array`);
      calls.forEach((c: unknown, j) => {
        const call = c as Record<string, unknown> | null;
        const args = call?.['arguments'];
        if (
          call === null ||
          typeof call !== 'object' ||
          typeof call['id'] !== 'string' ||
          typeof call['name'] !== 'string' ||
          !(typeof args === 'string' || (typeof args === 'object' && args !== null && !Array.isArray(args)))
        ) {
          throw new InvalidArgumentError(
            `${at}.toolCalls[${j}] must be { id: string, name: string, arguments: object }, got ${describe(c)}`,
          );
        }
      });
    }
    if (r['role'] === 'tool' && typeof r['toolCallId'] !== 'string')
      throw new InvalidArgumentError(`${at} is a tool message: it needs toolCallId (the id of the call it answers)`);
    if (r['name'] !== undefined && typeof r['name'] !== 'string')
      throw new InvalidArgumentError(`${at}.name must be a string`);
  });
  return messages as ChatMessage[];
}

/** The message's text (text parts joined with newlines). */
export function contentText(content: ChatMessage['content']): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  return content.map((p) => p.text).join('\n');
}

/** Messages as chat templates expect them (Hugging Face / OpenAI field names, string content). */
export function templateMessages(messages: readonly ChatMessage[]): Array<Record<string, unknown>> {
  const names = new Map<string, string>();
  for (const m of messages) for (const c of m.toolCalls ?? []) names.set(c.id, c.name);
  return messages.map((m) => {
    const out: Record<string, unknown> = { role: m.role, content: contentText(m.content) };
    if (m.toolCalls && m.toolCalls.length > 0) {
      out['tool_calls'] = m.toolCalls.map((c) => ({
        id: c.id,
        type: 'function',
        function: { name: c.name, arguments: parseArguments(c.arguments) },
      }));
    }
    if (m.role === 'tool') {
      out['tool_call_id'] = m.toolCallId;
      const name = m.name ?? (m.toolCallId !== undefined ? names.get(m.toolCallId) : undefined);
      if (name !== undefined) out['name'] = name;
    }
    return out;
  });
}

/** Arguments as an object: templates print them with tojson (a JSON string would be quoted twice). */
function parseArguments(args: unknown): unknown {
  if (typeof args !== 'string') return args;
  try {
    return JSON.parse(args) as unknown;
  } catch {
    return args;
  }
}
