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
import { BadModelError, InvalidArgumentError } from '../errors';
import { checkMessages, contentText, type ChatMessage } from './messages';
import { limitsFor, renderProgram, TemplateLimitError, TemplateRaisedError, TemplateVariableError } from './sandbox';

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

export interface ChatTemplateOptions {
  /**
   * Where the template comes from (e.g. "model.gguf: tokenizer.chat_template"). A template from a model file
   * is the model's: its failures are ERR_BAD_MODEL naming it. Without an origin the template is the
   * caller's own and its failures are ERR_INVALID_ARG.
   */
  origin?: string;
}

/**
 * A compiled chat template. Rendering is sandboxed and bounded (see sandbox.ts): a template that loops
 * or grows without end fails within milliseconds instead of stalling or killing the process.
 */
export class ChatTemplate {
  readonly source: string;
  readonly origin: string | undefined;
  readonly #template: Template;
  constructor(source: string, options: ChatTemplateOptions = {}) {
    if (typeof source !== 'string') throw new InvalidArgumentError('the chat template must be a string');
    this.source = source;
    this.origin = options.origin;
    try {
      this.#template = new Template(source);
    } catch (e) {
      throw this.#error(`does not parse: ${(e as Error).message}`);
    }
  }

  /** Renders messages in the template's (Hugging Face) format: see templateMessages() in messages.ts. */
  render(messages: readonly object[], o: ChatRenderOptions = {}): string {
    const vars: Record<string, unknown> = {
      ...o.variables,
      messages,
      add_generation_prompt: o.addGenerationPrompt ?? true,
      bos_token: o.bosToken ?? '',
      eos_token: o.eosToken ?? '',
    };
    let limits;
    try {
      limits = limitsFor(vars);
    } catch (e) {
      throw new InvalidArgumentError(`chat template variables cannot be used: ${(e as Error).message}`);
    }
    try {
      return renderProgram(this.#template.parsed, vars, limits);
    } catch (e) {
      if (e instanceof TemplateVariableError) throw new InvalidArgumentError(`chat template variable ${e.message}`);
      if (e instanceof TemplateRaisedError)
        throw new InvalidArgumentError(`the chat template rejected the messages: ${e.message}`);
      if (e instanceof TemplateLimitError) throw this.#error(`exceeds its limits: ${e.message}`);
      if (e instanceof RangeError && /call stack/.test(e.message))
        throw this.#error('exceeds its limits: recursion too deep');
      throw this.#error(`failed to render: ${(e as Error).message}`);
    }
  }

  #error(what: string): Error {
    if (this.origin === undefined) return new InvalidArgumentError(`the chat template ${what}`);
    return new BadModelError(`${this.origin}: the chat template ${what}`);
  }
}
