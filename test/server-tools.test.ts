/**
 * Tools and response_format through `minimacllm serve`'s API with the `openai`
 * client, on a tiny random model with Qwen2's vocabulary and Qwen2.5's chat
 * template (test/helpers/vocab-model.ts): tool_choice 'required' gives
 * tool_calls (arguments valid JSON of the tool's schema) and finish_reason
 * 'tool_calls', streamed as a tool_calls delta too; the call and its result go
 * back in the next request; json_schema gives JSON of the schema, json_object an object. About 15 s.
 */
import OpenAI from 'openai';
import { loadModel, type Model } from '../lib/model/model';
import { createServer, type ModelServer } from '../lib/server/server';
import { vocabModel } from './helpers/vocab-model';

let model: Model;
let server: ModelServer;
let client: OpenAI;
beforeAll(async () => {
  model = await loadModel(vocabModel({ vocab: 'qwen2', chatTemplate: 'Qwen-Qwen2.5-7B-Instruct.jinja' }), {
    backend: 'cpu',
    contextSize: 2048,
    maxSequences: 2,
  });
  server = createServer(model, { port: 0, modelId: 'tiny' });
  client = new OpenAI({ baseURL: `${(await server.listen()).url}/v1`, apiKey: 'x', maxRetries: 0 });
});
afterAll(async () => {
  await server.close();
  await model.dispose();
});

const tools: OpenAI.ChatCompletionTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather of a city',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string', maxLength: 16 } },
        required: ['city'],
        additionalProperties: false,
      },
    },
  },
];
const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'What is the weather in Paris?' }];

test("tool_choice 'required': tool_calls with valid arguments, then the result goes back", async () => {
  const r = await client.chat.completions.create({
    model: 'tiny',
    messages,
    tools,
    tool_choice: 'required',
    temperature: 1,
    seed: 3,
    max_tokens: 300,
  });
  const c = r.choices[0]!;
  expect(c.finish_reason).toBe('tool_calls');
  const calls = c.message.tool_calls!;
  expect(calls.length).toBeGreaterThanOrEqual(1);
  const call = calls[0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
  expect(call.type).toBe('function');
  expect(call.function.name).toBe('get_weather');
  const args = JSON.parse(call.function.arguments) as { city: unknown };
  expect(typeof args.city).toBe('string');
  // The next turn: the assistant's call and the tool's result.
  const next = await client.chat.completions.create({
    model: 'tiny',
    messages: [...messages, c.message, { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21}' }],
    tools,
    tool_choice: 'none',
    max_tokens: 10,
    temperature: 0,
  });
  expect(next.choices[0]!.message.tool_calls).toBeUndefined();
  expect(next.usage!.prompt_tokens).toBeGreaterThan(r.usage!.prompt_tokens);
});

test('streamed tool calls arrive as a tool_calls delta', async () => {
  const stream = await client.chat.completions.create({
    model: 'tiny',
    messages,
    tools,
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
    temperature: 1,
    seed: 5,
    max_tokens: 300,
    stream: true,
  });
  let finish: string | null = null;
  const calls: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
  for await (const chunk of stream) {
    const ch = chunk.choices[0];
    if (!ch) continue;
    calls.push(...(ch.delta.tool_calls ?? []));
    finish = ch.finish_reason ?? finish;
  }
  expect(finish).toBe('tool_calls');
  expect(calls[0]?.function?.name).toBe('get_weather');
  expect(JSON.parse(calls[0]!.function!.arguments!)).toHaveProperty('city');
});

test('response_format: json_schema gives JSON of the schema; json_object starts an object', async () => {
  const r = await client.chat.completions.create({
    model: 'tiny',
    messages,
    response_format: {
      type: 'json_schema',
      json_schema: {
        name: 'city',
        schema: {
          type: 'object',
          properties: { city: { type: 'string', maxLength: 12 }, sunny: { type: 'boolean' } },
          required: ['city', 'sunny'],
          additionalProperties: false,
        },
      },
    },
    temperature: 1,
    seed: 1,
    max_tokens: 200,
  });
  expect(r.choices[0]!.finish_reason).toBe('stop');
  const v = JSON.parse(r.choices[0]!.message.content!) as { city: unknown; sunny: unknown };
  expect([typeof v.city, typeof v.sunny]).toEqual(['string', 'boolean']);
  const o = await client.chat.completions.create({
    model: 'tiny',
    messages,
    response_format: { type: 'json_object' },
    temperature: 1,
    seed: 2,
    max_tokens: 4,
  });
  expect(o.choices[0]!.message.content!.trimStart().startsWith('{')).toBe(true);
});
