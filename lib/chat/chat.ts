/**
 * A chat turn with tools: what the template is given (messages in its
 * format, `tools`), the grammar when the reply must be tool calls, and the
 * reply turned into content + tool calls, streamed with tool-call text held
 * back.
 */
import { AbortError, InvalidArgumentError, UnsupportedError } from '../errors';
import type { LazyGrammar } from '../generate/constraint';
import type { GenerateResult } from '../generate/generate';
import type { GenerateOptions, GenerationChunk } from '../generate/options';
import type { Grammar } from '../grammar/grammar';
import { checkMessages, templateMessages, type ChatMessage, type ToolCall } from './messages';
import { parseToolCalls, ToolCallFilter, type InvalidToolCall } from './tool-calls';
import {
  checkToolChoice,
  checkTools,
  lazyToolGrammar,
  requireFormat,
  templateTools,
  templateUsesTools,
  toolCallGrammar,
  toolFormat,
  type ToolChoice,
  type ToolDefinition,
  type ToolFormat,
} from './tools';
import { argumentsValidator } from './validate';

export interface ChatOptions extends GenerateOptions {
  /** Extra chat-template variables (e.g. `{ enable_thinking: false }`). */
  templateVariables?: Record<string, unknown>;
  /** Tools the model may call: `{ name, description, parameters }` (or OpenAI's `{ type: 'function', function }`). */
  tools?: ReadonlyArray<ToolDefinition | { type: 'function'; function: ToolDefinition }>;
  /**
   * 'auto' (default): the model decides; 'required': the reply is one or more
   * tool calls; `{ name }`: a call of that tool; 'none': the reply is text
   * (tools stay in the prompt, so turns share the KV cache, but calls are not
   * parsed). 'required' and named calls are grammar-constrained.
   */
  toolChoice?: ToolChoice;
}

export interface ChatResult extends GenerateResult {
  message: { role: 'assistant'; content: string; toolCalls?: ToolCall[] };
  /** The tool calls of the reply, arguments parsed and valid against their tool's schema. */
  toolCalls: ToolCall[];
  /** Calls the model attempted that are not usable, with why (cut short, or a schema no grammar enforces). */
  invalidToolCalls: InvalidToolCall[];
}

/** A streamed chat reply: iterate for chunks (tool-call text held back); `result` settles at the end. */
export interface ChatStream extends AsyncIterable<GenerationChunk> {
  readonly result: Promise<ChatResult>;
}

export interface ChatRenderOptionsWithTools {
  addGenerationPrompt?: boolean;
  templateVariables?: Record<string, unknown>;
  tools?: ChatOptions['tools'];
}

/** Everything the template and the generation need for one turn. */
export interface ChatPlan {
  messages: ChatMessage[];
  /** Messages in the template's (Hugging Face) format. */
  templateMessages: Array<Record<string, unknown>>;
  variables: Record<string, unknown>;
  /** Tools whose calls are parsed out of the reply (none: no parsing). */
  tools: ToolDefinition[];
  format: ToolFormat | undefined;
  /** For 'required' / named tool choice. */
  grammar: Grammar | undefined;
  /** For 'auto': the grammar a call is generated under once the model opens one. */
  lazyGrammar: LazyGrammar | undefined;
}

const CONSTRAINTS = ['grammar', 'jsonSchema', 'json'] as const;

/** Checks a turn's messages and tool options against the model's template. */
export function planChat(
  messages: unknown,
  templateSource: string | undefined,
  options: { tools?: unknown; toolChoice?: unknown; templateVariables?: unknown },
  generate: Record<string, unknown> = {},
): ChatPlan {
  const msgs = checkMessages(messages);
  const tv = options.templateVariables;
  if (tv !== undefined && (tv === null || typeof tv !== 'object' || Array.isArray(tv)))
    throw new InvalidArgumentError('templateVariables must be an object');
  const variables: Record<string, unknown> = { ...(tv as Record<string, unknown> | undefined) };
  const plan: ChatPlan = {
    messages: msgs,
    templateMessages: templateMessages(msgs),
    variables,
    tools: [],
    format: undefined,
    grammar: undefined,
    lazyGrammar: undefined,
  };
  if (options.tools === undefined) {
    if (options.toolChoice !== undefined && options.toolChoice !== 'none' && options.toolChoice !== 'auto')
      throw new InvalidArgumentError('toolChoice needs tools');
    return plan;
  }
  const tools = checkTools(options.tools);
  const choice = checkToolChoice(options.toolChoice, tools);
  if (tools.length === 0) return plan;
  const showable = templateSource !== undefined && templateUsesTools(templateSource);
  if (choice === 'none') {
    // Shown if the template can (the prompt then matches 'auto' turns), never parsed.
    if (showable) variables['tools'] = templateTools(tools);
    return plan;
  }
  if (templateSource === undefined)
    throw new UnsupportedError('tools need a chat template: this model has none (it uses the plain chat format)');
  if (!showable) throw new UnsupportedError("this model's chat template does not show tools to the model");
  const constrained = CONSTRAINTS.filter((k) => generate[k] !== undefined && generate[k] !== false);
  if (constrained.length > 0)
    throw new InvalidArgumentError(`${constrained[0]} can't be combined with tools (unless toolChoice is 'none')`);
  for (const t of tools) argumentsValidator(t); // a bad schema fails now, not after generating
  variables['tools'] = templateTools(tools);
  plan.tools = tools;
  plan.format = toolFormat(templateSource);
  if (choice !== 'auto') {
    const format = requireFormat(plan.format, `toolChoice ${JSON.stringify(choice)}`);
    const allowed = choice === 'required' ? tools : tools.filter((t) => t.name === choice.name);
    plan.grammar = toolCallGrammar(format, allowed);
  } else if (plan.format) {
    plan.lazyGrammar = lazyToolGrammar(plan.format, tools);
  }
  return plan;
}

/**
 * Runs a chat generation through the tool-call filter: yields the chunks the
 * user sees and returns the ChatResult.
 */
export async function* chatReply(
  gen: AsyncGenerator<GenerationChunk, GenerateResult, undefined>,
  plan: ChatPlan,
  onToken: ((chunk: GenerationChunk) => void) | undefined,
): AsyncGenerator<GenerationChunk, ChatResult, undefined> {
  const filter = plan.format && plan.tools.length > 0 ? new ToolCallFilter(plan.format) : undefined;
  let shown = '';
  const out = (chunk: GenerationChunk): GenerationChunk => {
    shown += chunk.text;
    onToken?.(chunk);
    return chunk;
  };
  let r: IteratorResult<GenerationChunk, GenerateResult>;
  try {
    for (;;) {
      r = await gen.next();
      if (r.done) break;
      const chunk = r.value;
      yield out(filter ? { text: filter.push(chunk.text), token: chunk.token } : chunk);
    }
  } finally {
    // An early exit (break) closes the generation and frees the context.
    await gen.return(undefined as unknown as GenerateResult);
  }
  const raw = r.value;
  if (filter) {
    const rest = filter.flush();
    if (rest.length > 0) yield out({ text: rest, token: -1 });
  }
  if (!plan.format || plan.tools.length === 0) {
    const content = raw.text.trim();
    return { ...raw, message: { role: 'assistant', content }, toolCalls: [], invalidToolCalls: [] };
  }
  const parsed = parseToolCalls(raw.text, plan.format, plan.tools);
  const message: ChatResult['message'] = { role: 'assistant', content: parsed.content };
  if (parsed.toolCalls.length > 0) message.toolCalls = parsed.toolCalls;
  return {
    ...raw,
    text: shown,
    message,
    toolCalls: parsed.toolCalls,
    invalidToolCalls: parsed.invalidToolCalls,
  };
}

/** Wraps a chat reply generator as a ChatStream. */
export function chatStream(reply: AsyncGenerator<GenerationChunk, ChatResult, undefined>): ChatStream {
  let settle!: { resolve: (r: ChatResult) => void; reject: (e: unknown) => void };
  const result = new Promise<ChatResult>((resolve, reject) => (settle = { resolve, reject }));
  result.catch(() => undefined); // a stream nobody awaits the result of must not raise unhandled rejections
  let done = false;
  const iterator: AsyncGenerator<GenerationChunk, void, undefined> = (async function* () {
    try {
      for (;;) {
        const r = await reply.next();
        if (r.done) {
          done = true;
          settle.resolve(r.value);
          return;
        }
        yield r.value;
      }
    } catch (e) {
      done = true;
      settle.reject(e);
      throw e;
    } finally {
      if (!done) {
        await reply.return(undefined as unknown as ChatResult);
        settle.reject(new AbortError('the chat stream was closed before the reply finished'));
      }
    }
  })();
  let started = false;
  return {
    result,
    [Symbol.asyncIterator]: () => {
      if (started) throw new InvalidArgumentError('a chat stream can be iterated only once');
      started = true;
      return iterator;
    },
  };
}
