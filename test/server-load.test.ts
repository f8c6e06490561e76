/**
 * The server under load and abuse, on loopback over stories260K: 16
 * concurrent streaming clients get what each gets alone; a client that
 * disconnects frees its slot at once; a full queue answers 429; clients that
 * trickle headers, send huge or broken bodies don't disturb a normal one;
 * CORS only when asked; `minimacllm serve` shuts down gracefully on SIGTERM
 * (in-flight reply completes, exit 0). About 10 s.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import OpenAI from 'openai';
import { loadModel, type Model } from '../lib/model/model';
import { createServer, type ModelServer } from '../lib/server/server';
import { fixture } from './helpers/model-refs';

let model: Model;
beforeAll(async () => {
  model = await loadModel(fixture('models', 'stories260K.gguf'), { backend: 'cpu', contextSize: 256 });
});
afterAll(async () => {
  await model.dispose();
});

async function serve(
  options: Parameters<typeof createServer>[1] = {},
): Promise<{ s: ModelServer; url: string; logs: string[] }> {
  const logs: string[] = [];
  const s = createServer(model, { port: 0, modelId: 'stories', log: (l) => logs.push(l), ...options });
  return { s, url: (await s.listen()).url, logs };
}

async function streamText(client: OpenAI, prompt: string, maxTokens: number): Promise<string> {
  const stream = await client.completions.create({
    model: 'stories',
    prompt,
    temperature: 0,
    max_tokens: maxTokens,
    stream: true,
  });
  let text = '';
  for await (const c of stream) text += c.choices[0]?.text ?? '';
  return text;
}

test('16 concurrent streaming clients all complete, each equal to its request run alone', async () => {
  const { s, url } = await serve();
  try {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
    const prompts = Array.from(
      { length: 16 },
      (_, i) => `Once upon a time there was a ${['cat', 'dog', 'bird', 'girl'][i % 4]} named ${'ABCDEFGHIJKLMNOP'[i]}`,
    );
    const alone: string[] = [];
    for (const p of prompts) alone.push((await model.generate(p, { temperature: 0, maxTokens: 40 })).text);
    const together = await Promise.all(prompts.map((p) => streamText(client, p, 40)));
    expect(together).toEqual(alone);
    expect(s.inflight).toBe(0);
  } finally {
    await s.close();
  }
});

test('a client that disconnects mid-stream frees its slot at once', async () => {
  const { s, url, logs } = await serve({ parallel: 1 });
  try {
    const first = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        `${url}/v1/completions`,
        { method: 'POST', headers: { 'Content-Type': 'application/json' } },
        (res) => {
          res.once('data', () => {
            req.destroy(); // gone after the first chunk
            resolve(res.statusCode!);
          });
        },
      );
      req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
      req.end(JSON.stringify({ prompt: 'Once upon a time', max_tokens: 250, temperature: 0, stream: true }));
    });
    expect(first).toBe(200);
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
    const r = await client.completions.create({ model: 'stories', prompt: 'The sun', max_tokens: 5, temperature: 0 });
    expect(r.choices[0]!.finish_reason).toBe('length');
    for (let i = 0; i < 50 && s.inflight > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(s.inflight).toBe(0);
    // The cut request stopped early: it did not generate its 250 tokens.
    const cut = logs.find((l) => l.startsWith('POST /v1/completions 200(cut)'));
    expect(cut).toBeDefined();
    const m = /completion=(\d+)/.exec(cut!);
    if (m) expect(Number(m[1])).toBeLessThan(250);
  } finally {
    await s.close();
  }
});

test('a full queue answers 429 in OpenAI shape with Retry-After', async () => {
  const { s, url } = await serve({ parallel: 1, queue: 0 });
  try {
    const one = (): Promise<{ status: number; retry?: string; body: string }> =>
      new Promise((resolve, reject) => {
        const req = http.request(`${url}/v1/completions`, { method: 'POST', agent: false }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, retry: res.headers['retry-after'] as string, body }));
        });
        req.on('error', reject);
        req.end(JSON.stringify({ prompt: 'Once upon a time', max_tokens: 200, temperature: 0 }));
      });
    const rs = await Promise.all(Array.from({ length: 6 }, one));
    const busy = rs.filter((r) => r.status === 429);
    expect(rs.some((r) => r.status === 200)).toBe(true);
    expect(busy.length).toBeGreaterThan(0);
    expect(busy[0]!.retry).toBe('1');
    expect(JSON.parse(busy[0]!.body).error).toMatchObject({ type: 'rate_limit_error', code: 'queue_full' });
  } finally {
    await s.close();
  }
});

test('abusive clients (trickled headers, huge and broken bodies) do not disturb a normal one', async () => {
  const { s, url } = await serve({ headersTimeoutMs: 1000, maxBodyBytes: 4096 });
  const { port } = new URL(url);
  try {
    // Headers one byte at a time, never finished: dropped after headersTimeoutMs.
    const trickler = net.connect(Number(port), '127.0.0.1');
    const closed = new Promise<number>((resolve) => trickler.on('close', () => resolve(Date.now())));
    trickler.on('error', () => undefined);
    const t0 = Date.now();
    const head = 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ';
    let i = 0;
    const timer = setInterval(() => {
      if (!trickler.destroyed) trickler.write(head[i++ % head.length]!);
    }, 50);
    // A body far over the limit, streamed without Content-Length.
    const huge = new Promise<number>((resolve) => {
      const req = http.request(
        `${url}/v1/completions`,
        { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' } },
        (res) => {
          res.resume();
          resolve(res.statusCode!);
        },
      );
      req.on('error', () => resolve(-1));
      for (let k = 0; k < 64; k++) req.write(Buffer.alloc(1024, 0x20));
      req.end();
    });
    const broken = fetch(`${url}/v1/completions`, { method: 'POST', body: '{"prompt": "x",' });
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
    const normal = await client.completions.create({
      model: 'stories',
      prompt: 'The sun',
      max_tokens: 20,
      temperature: 0,
    });
    expect(normal.choices[0]!.text.length).toBeGreaterThan(0);
    expect(Date.now() - t0).toBeLessThan(5000); // not held up by the trickler
    expect(await huge).toBe(413);
    expect((await broken).status).toBe(400);
    const at = await closed;
    clearInterval(timer);
    expect(at - t0).toBeLessThan(4000);
  } finally {
    await s.close();
  }
});

test('CORS headers and preflight only with cors', async () => {
  const { s, url } = await serve({ cors: true });
  try {
    const pre = await fetch(`${url}/v1/chat/completions`, { method: 'OPTIONS' });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    const models = await fetch(`${url}/v1/models`);
    expect(models.headers.get('access-control-allow-origin')).toBe('*');
  } finally {
    await s.close();
  }
});

const root = path.join(__dirname, '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');

test('minimacllm serve: SIGTERM lets the in-flight reply finish, refuses new connections, exits 0', async () => {
  if (!fs.existsSync(path.join(root, 'dist', 'cli', 'serve.js')))
    execFileSync('npm', ['run', 'build:ts'], { cwd: root, stdio: 'ignore' });
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--backend', 'cpu', '--ctx', '256'], {
    cwd: root,
    env: { ...process.env, MINIMACLLM_QUIET: '1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /on (http:\/\/\S+)\/v1/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`serve exited: ${stderr}`)));
  });
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'x', maxRetries: 0 });
  const stream = await client.completions.create({
    model: 'stories260K',
    prompt: 'Once',
    max_tokens: 200,
    temperature: 0,
    stream: true,
  });
  let text = '';
  let finish: string | null = null;
  let signalled = false;
  for await (const c of stream) {
    if (!signalled) {
      child.kill('SIGTERM');
      signalled = true;
    }
    text += c.choices[0]?.text ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  expect(finish).not.toBeNull();
  expect(text.length).toBeGreaterThan(0);
  expect(await exited).toBe(0);
  await expect(fetch(`${url}/health`)).rejects.toThrow();
  expect(stderr).toMatch(/SIGTERM/);
  expect(stderr).toMatch(/POST \/v1\/completions 200 prompt=\d+ completion=\d+/);
});
