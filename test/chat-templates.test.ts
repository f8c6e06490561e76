/**
 * Chat templates: the 4 shipped templates × 3 conversations rendered exactly
 * as transformers' apply_chat_template (test/fixtures/chat-templates), the
 * plain format for models without a template, and model.chat().
 */
import * as fs from 'node:fs';
import { ChatTemplate, renderPlain, type ChatMessage } from '../lib/chat/template';
import { loadModel } from '../lib/model/model';
import { fixture, readJson } from './helpers/model-refs';

interface Rendering {
  template: string;
  conversation: string;
  messages: ChatMessage[];
  add_generation_prompt: boolean;
  bos_token: string;
  expected: string;
}

const cases = readJson<Rendering[]>('chat-templates', 'expected-renderings.json');

test('fixture has 4 templates × 3 conversations', () => {
  expect(cases).toHaveLength(12);
});

test.each(cases.map((c) => [c.template, c.conversation, c] as const))(
  '%s / %s renders like transformers',
  (_t, _c, c) => {
    const tpl = new ChatTemplate(fs.readFileSync(fixture('chat-templates', c.template), 'utf8'));
    const out = tpl.render(c.messages, {
      bosToken: c.bos_token,
      addGenerationPrompt: c.add_generation_prompt,
      variables: { date_string: '15 Jan 2026' },
    });
    expect(out).toBe(c.expected);
  },
);

test('plain format for models without a template', () => {
  const msgs: ChatMessage[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello!' },
    { role: 'user', content: 'A story?' },
  ];
  expect(renderPlain(msgs)).toBe('System: Be brief.\n\nUser: Hi\n\nAssistant: Hello!\n\nUser: A story?\n\nAssistant:');
});

test('model.chat uses the plain format on a template-less model, stops at "\\nUser:", reuses the KV cache', async () => {
  const model = await loadModel(fixture('models', 'stories260K.gguf'), { backend: 'cpu', contextSize: 512 });
  try {
    expect(model.tokenizer.chatTemplate).toBeUndefined();
    const messages: ChatMessage[] = [{ role: 'user', content: 'Tell me a story about a cat.' }];
    expect(model.renderChat(messages)).toBe('User: Tell me a story about a cat.\n\nAssistant:');
    const r = await model.chat(messages, { maxTokens: 40, seed: 1 });
    expect(r.message.role).toBe('assistant');
    expect(r.message.content).toBe(r.text.trim());
    expect(r.text).not.toContain('\nUser:');
    const tokens = model.chatTokens(messages);
    expect(tokens[0]).toBe(model.tokenizer.bos);
    // The next turn starts with the whole previous prompt: only the new part is processed.
    const next = await model.chat([...messages, r.message, { role: 'user', content: 'And then?' }], {
      maxTokens: 10,
      seed: 1,
    });
    expect(next.usage.promptTokens).toBeGreaterThan(tokens.length);
  } finally {
    await model.dispose();
  }
});

test('invalid messages are ERR_INVALID_ARG', async () => {
  const model = await loadModel(fixture('models', 'stories260K.gguf'), { backend: 'cpu', contextSize: 64 });
  try {
    await expect(model.chat([] as ChatMessage[])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
    await expect(model.chat([{ role: 'user' } as ChatMessage])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG' });
  } finally {
    await model.dispose();
  }
});
