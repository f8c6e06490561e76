/** OpenAI response objects: completions, chat completions, their stream chunks, usage. */
import { randomBytes } from 'node:crypto';
import type { ToolCall } from '../chat/messages';
import type { FinishReason } from '../generate/generate';

export type OpenAIFinish = 'stop' | 'length' | 'tool_calls';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export const usageOf = (u: { promptTokens: number; completionTokens: number }): Usage => ({
  prompt_tokens: u.promptTokens,
  completion_tokens: u.completionTokens,
  total_tokens: u.promptTokens + u.completionTokens,
});

/** 'abort' (shutdown) ends a reply like a stop: what was generated is returned. */
export function finishOf(reason: FinishReason, toolCalls = 0): OpenAIFinish {
  if (toolCalls > 0) return 'tool_calls';
  return reason === 'length' ? 'length' : 'stop';
}

export const newId = (prefix: string): string => `${prefix}-${randomBytes(12).toString('hex')}`;
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

export interface OpenAIToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export const toolCallsOf = (calls: readonly ToolCall[]): OpenAIToolCall[] =>
  calls.map((c) => ({
    id: c.id,
    type: 'function',
    function: { name: c.name, arguments: JSON.stringify(c.arguments) },
  }));

/** The fields every object of one reply shares. */
export interface ReplyHead {
  id: string;
  created: number;
  model: string;
}

export function chatCompletion(
  head: ReplyHead,
  content: string,
  toolCalls: readonly ToolCall[],
  finish: OpenAIFinish,
  usage: Usage,
): Record<string, unknown> {
  const message: Record<string, unknown> = {
    role: 'assistant',
    content: toolCalls.length > 0 && content === '' ? null : content,
    refusal: null,
  };
  if (toolCalls.length > 0) message['tool_calls'] = toolCallsOf(toolCalls);
  return {
    ...head,
    object: 'chat.completion',
    choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
    usage,
  };
}

export function chatChunk(
  head: ReplyHead,
  delta: Record<string, unknown>,
  finish: OpenAIFinish | null,
  withUsageField: boolean,
): Record<string, unknown> {
  return {
    ...head,
    object: 'chat.completion.chunk',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(withUsageField ? { usage: null } : {}),
  };
}

export function usageChunk(head: ReplyHead, object: string, usage: Usage): Record<string, unknown> {
  return { ...head, object, choices: [], usage };
}

export function completion(head: ReplyHead, text: string, finish: OpenAIFinish, usage: Usage): Record<string, unknown> {
  return {
    ...head,
    object: 'text_completion',
    choices: [{ index: 0, text, logprobs: null, finish_reason: finish }],
    usage,
  };
}

export function completionChunk(
  head: ReplyHead,
  text: string,
  finish: OpenAIFinish | null,
  withUsageField: boolean,
): Record<string, unknown> {
  return {
    ...head,
    object: 'text_completion',
    choices: [{ index: 0, text, logprobs: null, finish_reason: finish }],
    ...(withUsageField ? { usage: null } : {}),
  };
}
