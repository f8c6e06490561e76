/**
 * `minimacllm serve`'s HTTP API against the official `openai` client, on a
 * real server on loopback over stories260K: models, chat and completions
 * (stream and not, usage), outputs equal to the library's, errors with their
 * statuses and OpenAI's shape, --api-key, structured output, llama-server's
 * ignore_eos. About 5 s.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import OpenAI from 'openai';
import { typed } from '../lib/gguf/writer';
import { GGUFValueType } from '../lib/gguf/types';
import { loadModel, type Model } from '../lib/model/model';
import { createServer, type ModelServer } from '../lib/server/server';
import { ggufVariant } from './helpers/gguf-variant';
import { fixture } from './helpers/model-refs';

const KEY = 'sk-test-key';
let model: Model;
let server: ModelServer;
let url: string;
let client: OpenAI;
const logs: string[] = [];

beforeAll(async () => {
  model = await loadModel(fixture('models', 'stories260K.gguf'), { backend: 'cpu', contextSize: 256 });
  server = createServer(model, { port: 0, apiKey: KEY, modelId: 'stories', log: (l) => logs.push(l) });
  url = (await server.listen()).url;
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: KEY, maxRetries: 0 });
});
afterAll(async () => {
  await server.close();
  await model.dispose();
});

const messages = [{ role: 'user' as const, content: 'Tell me a story about a cat.' }];

/** A raw request: status, headers and parsed body. */
function raw(
  method: string,
  path: string,
  body?: string | Buffer,
  headers: Record<string, string> = { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}${path}`, { method, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts).toString() }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('GET /v1/models and /v1/models/{id}; /health needs no key', async () => {
  const list = await client.models.list();
  expect(list.data.map((m) => m.id)).toEqual(['stories']);
  expect((await client.models.retrieve('stories')).owned_by).toBe('minimacllm');
  const health = await raw('GET', '/health', undefined, {});
  expect(health.status).toBe(200);
  expect(JSON.parse(health.body)).toMatchObject({ status: 'ok' });
});

test('chat: non-stream and stream agree with model.chat, with usage', async () => {
  const ref = await model.chat(messages, { temperature: 0, maxTokens: 24 });
  const r = await client.chat.completions.create({ model: 'stories', messages, temperature: 0, max_tokens: 24 });
  expect(r.object).toBe('chat.completion');
  expect(r.choices[0]!.message.content).toBe(ref.message.content);
  expect(r.choices[0]!.finish_reason).toBe(ref.finishReason === 'length' ? 'length' : 'stop');
  expect(r.usage).toEqual({
    prompt_tokens: ref.usage.promptTokens,
    completion_tokens: ref.usage.completionTokens,
    total_tokens: ref.usage.promptTokens + ref.usage.completionTokens,
  });

  const stream = await client.chat.completions.create({
    model: 'stories',
    messages,
    temperature: 0,
    max_completion_tokens: 24,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | null | undefined;
  let role: string | undefined;
  for await (const c of stream) {
    expect(c.object).toBe('chat.completion.chunk');
    if (c.usage) usage = c.usage;
    const ch = c.choices[0];
    if (!ch) continue;
    role ??= ch.delta.role;
    text += ch.delta.content ?? '';
    if (ch.finish_reason) finish = ch.finish_reason;
  }
  expect(role).toBe('assistant');
  expect(text).toBe(ref.text);
  expect(finish).toBe(r.choices[0]!.finish_reason);
  expect(usage).toEqual(r.usage);
});

test('completions: non-stream and stream agree with model.generate; token-id prompts', async () => {
  const ref = await model.generate('Once upon a time', { temperature: 0, maxTokens: 30 });
  const r = await client.completions.create({
    model: 'stories',
    prompt: 'Once upon a time',
    temperature: 0,
    max_tokens: 30,
  });
  expect(r.choices[0]!.text).toBe(ref.text);
  expect(r.usage?.completion_tokens).toBe(ref.usage.completionTokens);
  const stream = await client.completions.create({
    model: 'stories',
    prompt: 'Once upon a time',
    temperature: 0,
    max_tokens: 30,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let usage: OpenAI.CompletionUsage | undefined;
  for await (const c of stream) {
    text += c.choices[0]?.text ?? '';
    if (c.usage) usage = c.usage;
  }
  expect(text).toBe(ref.text);
  expect(usage?.prompt_tokens).toBe(ref.usage.promptTokens);
  const ids = model.tokenize('Once upon a time');
  const byIds = await client.completions.create({ model: 'stories', prompt: ids, temperature: 0, max_tokens: 30 });
  expect(byIds.choices[0]!.text).toBe(ref.text);
});

test('sampling fields: seed reproduces, llama-server extras are accepted', async () => {
  const ask = (): Promise<OpenAI.Completion> =>
    client.completions.create({
      model: 'stories',
      prompt: 'The dog',
      max_tokens: 20,
      seed: 7,
      temperature: 1,
      top_p: 0.9,
      stop: ['\n\n'],
      // llama-server's extra fields
      ...({ top_k: 20, min_p: 0.05, repeat_penalty: 1.1 } as object),
    });
  const [a, b] = [await ask(), await ask()];
  expect(a.choices[0]!.text).toBe(b.choices[0]!.text);
});

test("ignore_eos (llama-server's field): end-of-generation is never sampled, the reply runs to max_tokens", async () => {
  // stories260K greedy after "Once upon a time" reads ", there was a little girl named Lily. She": a copy whose
  // end-of-generation token is the 12th of those ends there, unless the request says ignore_eos.
  const eos = (await model.generate('Once upon a time', { temperature: 0, maxTokens: 12 })).tokens[11]!;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mml-eos-'));
  const file = await ggufVariant(fixture('models', 'stories260K.gguf'), path.join(dir, 'eos.gguf'), (_, m) => {
    m['tokenizer.ggml.eos_token_id'] = typed(GGUFValueType.UINT32, eos);
  });
  const m2 = await loadModel(file, { backend: 'cpu', contextSize: 256 });
  const s2 = createServer(m2, { port: 0, modelId: 'eos' });
  try {
    const c2 = new OpenAI({ baseURL: `${(await s2.listen()).url}/v1`, apiKey: 'none', maxRetries: 0 });
    const ask = (extra: object): Promise<OpenAI.Completion> =>
      c2.completions.create({ model: 'eos', prompt: 'Once upon a time', temperature: 0, max_tokens: 30, ...extra });
    const ends = await ask({});
    expect([ends.choices[0]!.finish_reason, ends.usage?.completion_tokens]).toEqual(['stop', 11]);
    expect(ends.choices[0]!.text).toBe(', there was a little girl named Lily.');
    const runs = await ask({ ignore_eos: true });
    expect([runs.choices[0]!.finish_reason, runs.usage?.completion_tokens]).toEqual(['length', 30]);
    expect(runs.choices[0]!.text.startsWith(', there was a little girl named Lily.')).toBe(true);
    // Streamed too: every chunk counted in usage.
    const stream = await c2.completions.create({
      model: 'eos',
      prompt: 'Once upon a time',
      temperature: 0,
      max_tokens: 30,
      stream: true,
      stream_options: { include_usage: true },
      ...({ ignore_eos: true } as object),
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const c of stream) {
      text += c.choices[0]?.text ?? '';
      if (c.usage) usage = c.usage;
    }
    expect([text, usage?.completion_tokens]).toEqual([runs.choices[0]!.text, 30]);
    await expect(ask({ ignore_eos: 'yes' })).rejects.toMatchObject({ status: 400, param: 'ignore_eos' });
  } finally {
    await s2.close();
    await m2.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('errors: OpenAI shape and status, naming the parameter', async () => {
  const bad = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await expect(bad.models.list()).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' });
  const none = await raw('GET', '/v1/models', undefined, {});
  expect(none.status).toBe(401);
  expect(JSON.parse(none.body).error.type).toBe('authentication_error');

  await expect(client.chat.completions.create({ model: 'gpt-4o', messages })).rejects.toMatchObject({
    status: 404,
    param: 'model',
  });
  await expect(client.models.retrieve('nope')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  await expect(client.chat.completions.create({ model: 'stories', messages, temperature: 5 })).rejects.toMatchObject({
    status: 400,
    param: 'temperature',
  });
  await expect(client.chat.completions.create({ model: 'stories', messages, n: 2 })).rejects.toMatchObject({
    status: 400,
    param: 'n',
  });
  await expect(
    client.chat.completions.create({ model: 'stories', messages: [{ role: 'user', content: 5 as unknown as string }] }),
  ).rejects.toMatchObject({ status: 400, param: 'messages[0].content' });
  // stories260K has no chat template: tools are refused up front.
  await expect(
    client.chat.completions.create({
      model: 'stories',
      messages,
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object' } } }],
      tool_choice: 'required',
    }),
  ).rejects.toMatchObject({ status: 400, code: 'unsupported' });

  const invalid = await raw('POST', '/v1/chat/completions', '{"messages": [');
  expect(invalid.status).toBe(400);
  expect(JSON.parse(invalid.body).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
  const big = await raw('POST', '/v1/completions', Buffer.alloc(2 << 20, 0x20));
  expect(big.status).toBe(413);
  expect((await raw('GET', '/v1/nothing')).status).toBe(404);
  expect((await raw('GET', '/v1/chat/completions')).status).toBe(405);
  const long = await raw('POST', '/v1/completions', JSON.stringify({ prompt: Array(300).fill(1), max_tokens: 1 }));
  expect(long.status).toBe(400);
  expect(JSON.parse(long.body).error.code).toBe('context_length_exceeded');
  // No CORS unless asked for.
  expect((await raw('GET', '/health', undefined, {})).headers['access-control-allow-origin']).toBeUndefined();
});

test('response_format json_schema: the content is JSON of that schema', async () => {
  const r = await client.chat.completions.create({
    model: 'stories',
    messages,
    temperature: 0,
    max_tokens: 60,
    response_format: {
      type: 'json_schema',
      json_schema: {
        name: 'n',
        schema: {
          type: 'object',
          properties: { n: { type: 'integer' } },
          required: ['n'],
          additionalProperties: false,
        },
      },
    },
  });
  const c = r.choices[0]!;
  expect(c.finish_reason).toBe('stop');
  expect(Number.isInteger((JSON.parse(c.message.content!) as { n: unknown }).n)).toBe(true);
});

test('one log line per request', () => {
  expect(logs.some((l) => /^POST \/v1\/chat\/completions 200 prompt=\d+ completion=\d+ \d+ms$/.test(l))).toBe(true);
  expect(logs.some((l) => /^GET \/v1\/models 401 \d+ms$/.test(l))).toBe(true);
});
