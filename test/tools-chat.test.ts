/**
 * Tool calling through the model's own chat template: tool prompts equal
 * transformers' renderings (test/fixtures/chat-templates/
 * expected-tool-renderings.json: 3 conversations × 4 templates), tool calls
 * round-trip (constrained call → parse → validate with ajv → tool message →
 * next turn) through the Qwen2.5 and Llama 3.1 templates on random-weight
 * models with the real vocabularies, parsing of both formats, streaming with
 * tool-call text held back, and the option checks.
 */
import * as fs from 'node:fs';
import Ajv2020 from 'ajv/dist/2020';
import { planChat } from '../lib/chat/chat';
import type { ChatMessage, ToolCall } from '../lib/chat/messages';
import { parseToolCalls, ToolCallFilter } from '../lib/chat/tool-calls';
import { ChatTemplate } from '../lib/chat/template';
import type { ToolDefinition } from '../lib/chat/tools';
import { loadModel, type Model } from '../lib/model/model';
import { fixture, readJson } from './helpers/model-refs';
import { vocabModel } from './helpers/vocab-model';

interface HFMessage {
  role: string;
  content: string;
  tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: Record<string, unknown> } }>;
  tool_call_id?: string;
  name?: string;
}
interface ToolRendering {
  template: string;
  conversation: string;
  messages: HFMessage[];
  tools: Array<{ type: 'function'; function: ToolDefinition }>;
  bos_token: string;
  eos_token: string;
  date_string: string;
  expected: string;
}

const cases = readJson<ToolRendering[]>('chat-templates', 'expected-tool-renderings.json');
const TOOLS: ToolDefinition[] = cases[0]!.tools.map((t) => t.function);
/** The same tools with a bounded city name, so a random model's call always ends. */
const BOUNDED: ToolDefinition[] = JSON.parse(
  JSON.stringify(TOOLS).replace('"description":"City name"', '"description":"City name","maxLength":16'),
) as ToolDefinition[];

/** Hugging Face messages → ours (camelCase tool fields). */
function fromHF(messages: HFMessage[]): ChatMessage[] {
  return messages.map((m) => {
    const out: ChatMessage = { role: m.role, content: m.content };
    if (m.tool_calls)
      out.toolCalls = m.tool_calls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));
    if (m.tool_call_id !== undefined) out.toolCallId = m.tool_call_id;
    if (m.name !== undefined) out.name = m.name;
    return out;
  });
}

const ajv = new Ajv2020({ strict: false });
const validArgs = (call: ToolCall): boolean =>
  ajv.validate(TOOLS.find((t) => t.name === call.name)!.parameters!, call.arguments);

test('fixture: 3 tool conversations × 4 templates', () => {
  expect(cases).toHaveLength(12);
});

test.each(cases.map((c) => [c.template, c.conversation, c] as const))(
  "%s / %s: the tool prompt equals transformers' rendering",
  (_t, _c, c) => {
    const source = fs.readFileSync(fixture('chat-templates', c.template), 'utf8');
    // The same path Model.renderChat takes: our messages and tool definitions → the template's variables.
    const plan = planChat(fromHF(c.messages), source, {
      tools: TOOLS,
      templateVariables: { date_string: c.date_string },
    });
    const out = new ChatTemplate(source).render(plan.templateMessages, {
      bosToken: c.bos_token,
      eosToken: c.eos_token,
      addGenerationPrompt: true,
      variables: plan.variables,
    });
    expect(out).toBe(c.expected);
  },
);

describe('parsing tool calls', () => {
  test('hermes <tool_call> blocks: several, with content around, unknown tools and bad arguments set apart', () => {
    const text =
      'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "f"}}\n</tool_call>\n' +
      '<tool_call>\n{"name": "add", "arguments": "{\\"a\\": 1, \\"b\\": 2}"}\n</tool_call>\n' +
      '<tool_call>{"name": "add", "arguments": {"a": "one"}}</tool_call><tool_call>{"name": "nope", "arguments": {}}</tool_call>' +
      '<tool_call>{"name": "add", "arguments": {"a": 1,</tool_call> Done.';
    const r = parseToolCalls(text, 'hermes', TOOLS);
    expect(r.content).toBe('Let me check.\nDone.');
    expect(r.toolCalls.map((c) => [c.name, c.arguments])).toEqual([
      ['get_weather', { city: 'Oslo', unit: 'f' }],
      ['add', { a: 1, b: 2 }],
    ]);
    expect(r.toolCalls[0]!.id).toMatch(/^call_[0-9a-f]{12}$/);
    expect(r.invalidToolCalls.map((c) => [c.name, c.error])).toEqual([
      ['add', expect.stringMatching(/do not match the tool's schema: arguments must have required property 'b'/)],
      ['nope', 'there is no tool named "nope"'],
      [undefined, expect.stringMatching(/not valid JSON/)],
    ]);
    // A reply cut before </tool_call> still yields its call.
    expect(
      parseToolCalls('<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n', 'hermes', TOOLS).toolCalls,
    ).toHaveLength(1);
  });

  test('Llama 3 JSON calls; other JSON and text stay content', () => {
    const one = parseToolCalls(' {"name": "add", "parameters": {"a": 2, "b": 3}}', 'llama3-json', TOOLS);
    expect([one.content, one.toolCalls.map((c) => c.arguments)]).toEqual(['', [{ a: 2, b: 3 }]]);
    const tagged = parseToolCalls(
      '<|python_tag|>{"name": "add", "parameters": {"a": 2, "b": 3}}; {"name": "get_weather", "parameters": {"city": "Rome", "unit": "c"}}',
      'llama3-json',
      TOOLS,
    );
    expect(tagged.toolCalls.map((c) => c.name)).toEqual(['add', 'get_weather']);
    expect(parseToolCalls('{"answer": 42}', 'llama3-json', TOOLS)).toEqual({
      content: '{"answer": 42}',
      toolCalls: [],
      invalidToolCalls: [],
    });
    expect(parseToolCalls('The answer is 5.', 'llama3-json', TOOLS).content).toBe('The answer is 5.');
    expect(
      parseToolCalls('{"name": "add", "parameters": {"a": 1}}', 'llama3-json', TOOLS).invalidToolCalls[0]!.error,
    ).toMatch(/must have required property 'b'/);
  });

  test('streaming: tool-call text is held back, content passes, in any chunking', () => {
    const text =
      'Sure.<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>\n<tool_call>{"name": "x"}</tool_call> ok <tool';
    for (const size of [1, 2, 3, 7, 1000]) {
      const f = new ToolCallFilter('hermes');
      let shown = '';
      for (let i = 0; i < text.length; i += size) shown += f.push(text.slice(i, i + size));
      shown += f.flush();
      expect(shown).toBe('Sure. ok <tool');
    }
    for (const [reply, shownText] of [
      ['  {"name": "add", "parameters": {"a": 1, "b": 2}}', ''],
      ['{"answer": 1}', '{"answer": 1}'],
      ['Hello {"name": 1}', 'Hello {"name": 1}'],
      ['<|python_tag|>{"name": "add", "parameters": {}}', ''],
    ] as const) {
      for (const size of [1, 4, 1000]) {
        const f = new ToolCallFilter('llama3-json');
        let shown = '';
        for (let i = 0; i < reply.length; i += size) shown += f.push(reply.slice(i, i + size));
        expect(shown + f.flush()).toBe(shownText);
      }
    }
  });
});

describe.each([
  ['Qwen2.5', 'qwen2', 'Qwen-Qwen2.5-7B-Instruct.jinja', '<tool_call>\n{"name": "get_weather", "arguments": '],
  ['Llama 3.1', 'llama-bpe', 'meta-llama-Llama-3.1-8B-Instruct.jinja', '{"name": "get_weather", "parameters": '],
])('tool round trip through the %s template', (_name, vocab, template, callPrefix) => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(vocabModel({ vocab, chatTemplate: template }), { backend: 'cpu', contextSize: 2048 });
  });
  afterAll(() => model.dispose());

  const variables = { date_string: '15 Jan 2026' };

  test('renderChat(messages, { tools }) is the fixture prompt', () => {
    for (const c of cases.filter((x) => x.template === template)) {
      expect(model.renderChat(fromHF(c.messages), { tools: c.tools, templateVariables: variables })).toBe(c.expected);
    }
  });

  test('required → call → validate → tool result → next turn, over seeds', async () => {
    const user: ChatMessage[] = [{ role: 'user', content: 'What is the weather in Paris?' }];
    for (let seed = 1; seed <= 4; seed++) {
      const first = await model.chat(user, {
        tools: BOUNDED,
        toolChoice: 'required',
        templateVariables: variables,
        temperature: 1,
        seed,
        maxTokens: 300,
      });
      expect(first.finishReason).toBe('eos');
      expect(first.invalidToolCalls).toEqual([]);
      expect(first.toolCalls.length).toBeGreaterThanOrEqual(1);
      for (const call of first.toolCalls) expect([call.name, validArgs(call)]).toEqual([call.name, true]);
      expect(first.message.toolCalls).toEqual(first.toolCalls);
      const call = first.toolCalls[0]!;
      const history: ChatMessage[] = [
        ...user,
        first.message,
        ...first.toolCalls.map((c) => ({ role: 'tool', content: JSON.stringify({ ok: c.name }), toolCallId: c.id })),
      ];
      // The next prompt shows the call (and its result) in the template's own format.
      const prompt = model.renderChat(history, { tools: BOUNDED, templateVariables: variables });
      const shown =
        vocab === 'qwen2'
          ? /<\|im_start\|>assistant\n<tool_call>\n(.*)\n<\/tool_call>/.exec(prompt)
          : /<\|start_header_id\|>assistant<\|end_header_id\|>\n\n(\{"name".*)<\|eot_id\|>/.exec(prompt);
      const rendered = JSON.parse(shown![1]!) as Record<string, unknown>;
      expect(rendered['name']).toBe(call.name);
      expect(rendered[vocab === 'qwen2' ? 'arguments' : 'parameters']).toEqual(call.arguments);
      expect(prompt).toContain(JSON.stringify({ ok: call.name }).replace(/"/g, vocab === 'qwen2' ? '"' : '\\"'));
      expect(
        prompt.endsWith(
          model.renderChat([{ role: 'user', content: 'x' }], { templateVariables: variables }).slice(-30),
        ),
      ).toBe(true);
      const second = await model.chat(history, {
        tools: BOUNDED,
        toolChoice: 'none',
        templateVariables: variables,
        temperature: 1,
        seed,
        maxTokens: 8,
      });
      expect(second.usage.promptTokens).toBeGreaterThan(first.usage.promptTokens);
      expect(second.toolCalls).toEqual([]);
    }
  });

  test('a named tool is the one called; streaming holds the call text back', async () => {
    const chunks: string[] = [];
    const s = model.streamChat([{ role: 'user', content: 'Add 2 and 3' }], {
      tools: BOUNDED,
      toolChoice: { name: 'add' },
      seed: 3,
      temperature: 1,
      maxTokens: 200,
    });
    for await (const c of s) chunks.push(c.text);
    const r = await s.result;
    expect(r.toolCalls.map((c) => c.name)).toEqual(['add']);
    expect(validArgs(r.toolCalls[0]!)).toBe(true);
    expect(chunks.join('')).toBe('');
    expect(r.message.content).toBe('');
    expect(r.text).toBe('');
  });

  test("'auto': a call the model writes itself is parsed and validated; text before it is streamed", async () => {
    const reply = `${vocab === 'qwen2' ? 'Checking.\n' : ''}${callPrefix}{"city": "Oslo", "unit": "f"}}${vocab === 'qwen2' ? '\n</tool_call>' : ''}`;
    const target = model.tokenize(reply, { addSpecial: false, parseSpecial: false });
    const eos = model.tokenizer.eogIds[0]!;
    const shown: string[] = [];
    const r = await model.chat([{ role: 'user', content: 'Weather in Oslo?' }], {
      tools: TOOLS,
      // Make the random model write exactly `reply`, then stop.
      logitsProcessor: (logits, c) => {
        logits.fill(-Infinity);
        logits[target[c.generated] ?? eos] = 0;
      },
      onToken: (c) => shown.push(c.text),
    });
    expect(r.toolCalls.map((c) => [c.name, c.arguments])).toEqual([['get_weather', { city: 'Oslo', unit: 'f' }]]);
    expect(r.message.content).toBe(vocab === 'qwen2' ? 'Checking.' : '');
    expect(shown.join('')).toBe(vocab === 'qwen2' ? 'Checking.\n' : '');
    expect(shown.join('')).not.toContain('get_weather');
  });

  test("'auto': once the model opens a call, the call is generated under the tools' grammar", async () => {
    const tok = model.tokenizer;
    // Only the opening is forced: the random model writes the rest of the call itself.
    const opening = vocab === 'qwen2' ? tok.tokenId('<tool_call>')! : model.tokenize('{', { addSpecial: false })[0]!;
    const eos = tok.eogIds[0]!;
    for (let seed = 1; seed <= 2; seed++) {
      const r = await model.chat([{ role: 'user', content: 'Weather in Oslo?' }], {
        tools: BOUNDED,
        temperature: 1,
        seed,
        maxTokens: 300,
        logitsProcessor: (logits, c) => {
          const generated = c.tokens.slice(c.tokens.length - c.generated);
          if (c.generated === 0) {
            logits.fill(-Infinity);
            logits[opening] = 0;
          } else if (vocab === 'qwen2' && model.detokenize(generated).includes('</tool_call>')) {
            logits.fill(-Infinity);
            logits[eos] = 0;
          }
        },
      });
      expect([seed, r.finishReason, r.invalidToolCalls]).toEqual([seed, 'eos', []]);
      expect(r.toolCalls).toHaveLength(1);
      expect(validArgs(r.toolCalls[0]!)).toBe(true);
    }
  });

  test('content as text parts; checks', async () => {
    const parts: ChatMessage[] = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Hello' },
          { type: 'text', text: 'there' },
        ],
      },
    ];
    expect(model.renderChat(parts, { templateVariables: variables })).toBe(
      model.renderChat([{ role: 'user', content: 'Hello\nthere' }], { templateVariables: variables }),
    );
    await expect(model.chat(parts, { tools: TOOLS, toolChoice: { name: 'nope' } })).rejects.toThrow(
      /"nope", which is not in tools/,
    );
    await expect(model.chat(parts, { tools: TOOLS, jsonSchema: { type: 'object' } })).rejects.toThrow(
      /can't be combined with tools/,
    );
    await expect(model.chat([{ role: 'tool', content: 'x' }], { tools: TOOLS })).rejects.toThrow(/needs toolCallId/);
    await expect(model.chat(parts, { tools: [{ name: 'bad', parameters: { type: 'nonsense' } }] })).rejects.toThrow(
      /not a valid JSON Schema/,
    );
    await expect(model.chat(parts, { tools: [{ name: 'a' }, { name: 'a' }] })).rejects.toThrow(
      /two tools are named "a"/,
    );
    expect(() =>
      model.renderChat([
        { role: 'assistant', content: null, toolCalls: [{ id: 'c', name: 'add' } as unknown as ToolCall] },
      ]),
    ).toThrow(/toolCalls\[0\]/);
  });
});

test('tools need a template that shows them', async () => {
  const model = await loadModel(fixture('models', 'stories260K.gguf'), { backend: 'cpu', contextSize: 128 });
  try {
    await expect(model.chat([{ role: 'user', content: 'hi' }], { tools: TOOLS })).rejects.toMatchObject({
      code: 'ERR_UNSUPPORTED',
    });
    // toolChoice 'none' needs no tool support.
    const r = await model.chat([{ role: 'user', content: 'hi' }], {
      tools: TOOLS,
      toolChoice: 'none',
      maxTokens: 3,
      seed: 1,
    });
    expect(r.toolCalls).toEqual([]);
  } finally {
    await model.dispose();
  }
});
