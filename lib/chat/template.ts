/**
 * Chat prompts: the model's own Jinja chat template (GGUF
 * `tokenizer.chat_template` or tokenizer_config.json's `chat_template`),
 * rendered with @huggingface/jinja the way transformers'
 * `apply_chat_template` does; or, for models without one, a plain format:
 *
 *     System: {system}\n\nUser: {user}\n\nAssistant: {assistant}\n\nUser: {user}\n\nAssistant:
 *
 * (the plain format also stops generation at "\nUser:").
 */
import { Template } from '@huggingface/jinja';
import { InvalidArgumentError } from '../errors';
import { checkMessages, contentText, type ChatMessage } from './messages';

export { checkMessages, type ChatMessage } from './messages';

export interface ChatRenderOptions {
  bosToken?: string | undefined;
  eosToken?: string | undefined;
  /** End the prompt with the assistant's turn header. Default true. */
  addGenerationPrompt?: boolean;
  /** Extra template variables (e.g. `date_string`, `tools`, `enable_thinking`). */
  variables?: Record<string, unknown>;
}

/** Stop strings the plain format needs (a model without a template does not know when its turn ends). */
export const PLAIN_STOP = ['\nUser:'];

const capitalize = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);

/** The plain documented format for models without a template. */
export function renderPlain(messages: readonly ChatMessage[], addGenerationPrompt = true): string {
  checkMessages(messages);
  if (typeof addGenerationPrompt !== 'boolean') throw new InvalidArgumentError('addGenerationPrompt must be a boolean');
  const parts = messages.map((m) => `${capitalize(m.role)}: ${contentText(m.content)}`);
  if (addGenerationPrompt) parts.push('Assistant:');
  return parts.join('\n\n');
}

/** A compiled chat template. */
export class ChatTemplate {
  readonly source: string;
  readonly #template: Template;
  constructor(source: string) {
    this.source = source;
    try {
      this.#template = new Template(source);
    } catch (e) {
      throw new InvalidArgumentError(`the chat template does not parse: ${(e as Error).message}`);
    }
  }

  /** Renders messages in the template's (Hugging Face) format: see templateMessages() in messages.ts. */
  render(messages: readonly object[], o: ChatRenderOptions = {}): string {
    try {
      return this.#template.render({
        ...o.variables,
        messages,
        add_generation_prompt: o.addGenerationPrompt ?? true,
        bos_token: o.bosToken ?? '',
        eos_token: o.eosToken ?? '',
      });
    } catch (e) {
      throw new InvalidArgumentError(`the chat template failed to render: ${(e as Error).message}`);
    }
  }
}
