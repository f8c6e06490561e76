/**
 * `minimacllm chat` outlives its context: when the conversation no longer fits --ctx, the oldest
 * turns go (the system prompt stays, and so does the new message) instead of the chat dying with
 * ERR_CONTEXT_OVERFLOW.
 */
import type { ChatOptions, ChatResult } from '../chat/chat';
import type { ChatMessage } from '../chat/template';
import { MiniMacLLMError } from '../errors';
import type { Model } from '../model/model';

/**
 * model.chat, except that while the prompt overflows the context it drops the oldest turn (a user
 * message and the replies after it) from `messages` (edited in place) and tries again. `onDrop`
 * hears how many messages went each time. A new message too long by itself still throws.
 */
export function chatWithinContext(
  model: Model,
  onDrop: (dropped: number) => void,
): (messages: ChatMessage[], options: ChatOptions) => Promise<ChatResult> {
  return (messages, options) => answer(model, messages, options, onDrop);
}

async function answer(
  model: Model,
  messages: ChatMessage[],
  options: ChatOptions,
  onDrop: (dropped: number) => void,
): Promise<ChatResult> {
  for (;;) {
    try {
      return await model.chat(messages, options);
    } catch (e) {
      if (!(e instanceof MiniMacLLMError && e.code === 'ERR_CONTEXT_OVERFLOW')) throw e;
      const first = messages.findIndex((m) => m.role !== 'system');
      const last = messages.length - 1; // the new user message
      if (first < 0 || first >= last) throw e;
      let end = first + 1;
      while (end < last && messages[end]!.role !== 'user') end++;
      messages.splice(first, end - first);
      onDrop(end - first);
    }
  }
}
