/**
 * Chat templates are untrusted code from model files (issue 11 item 1): a
 * hostile template fails fast with ERR_BAD_MODEL naming the model, from
 * ChatTemplate, renderChat(), chat() and `minimacllm chat`, without blocking
 * the event loop or killing the process. Each hostile render runs in a child
 * process (it used to abort V8 or run for minutes) that reports how long the
 * main thread was blocked, measured by an event-loop delay monitor.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChatTemplate } from '../lib/chat/template';
import { loadModel } from '../lib/model/model';
import { runIsolated } from './helpers/isolated';
import { fixture } from './helpers/model-refs';

const HOSTILE: Array<[string, string]> = [
  ['range(1e9) loop', '{% for i in range(1000000000) %}{% endfor %}'],
  ['range(0, 10**12) loop', '{% for i in range(0, 10**12) %}x{% endfor %}'],
  ['nested loops', '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}'],
  ['range(5e7)|join', '{{ range(50000000)|join }}'],
  ['range(1e6) loop', '{% for i in range(1000000) %}{{ i }}{% endfor %}'],
  ['range(1e5) loop (under the range cap)', '{% for i in range(100000) %}{{ i }}{% endfor %}'],
  [
    'string doubling',
    "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
  ],
  ['list doubling', '{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}'],
  ['recursive macro', '{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}'],
  ['indent(5e8)', "{{ 'a\\nb\\nc'|indent(500000000) }}"],
  ['replace blow-up', "{{ messages[0]['content'].replace('', messages[0]['content']) }}"],
  ['join blow-up', "{{ range(10000)|join(messages[0]['content']) }}"],
  ['tojson indent', '{{ messages|tojson(indent=1000000000) }}'],
  [
    'scanning a long string in a loop',
    "{% for i in range(5000) %}{% if 'zz' in messages[0]['content'] %}{% endif %}{% endfor %}",
  ],
];

const BIG = 'y'.repeat(100_000);

describe('item 1: hostile chat templates', () => {
  it.each(HOSTILE)('%s: ERR_BAD_MODEL in well under a second, main thread blocked briefly', (_name, source) => {
    const r = runIsolated(
      `const { monitorEventLoopDelay } = require('node:perf_hooks');
       const h = monitorEventLoopDelay({ resolution: 5 });
       h.enable();
       await new Promise((r) => setTimeout(r, 20));
       const t0 = performance.now();
       let error;
       try {
         new lib.ChatTemplate(arg.source, { origin: 'hostile.gguf' }).render([{ role: 'user', content: arg.big }]);
       } catch (e) { error = { code: e.code, message: e.message }; }
       const ms = performance.now() - t0;
       await new Promise((r) => setImmediate(r));
       await new Promise((r) => setTimeout(r, 20));
       h.disable();
       return { error, ms, maxDelayMs: h.max / 1e6 };`,
      { source, big: BIG },
      30_000,
    );
    expect(r.timedOut).toBe(false);
    expect(r.died).toBeUndefined();
    const v = r.value as { error?: { code: string; message: string }; ms: number; maxDelayMs: number };
    expect(v.error?.code).toBe('ERR_BAD_MODEL');
    expect(v.error?.message).toMatch(/^hostile\.gguf: the chat template exceeds its limits/);
    // The operation budget stops these within tens of ms (sandbox.ts); the margin is for a loaded CI machine.
    expect(v.ms).toBeLessThan(400);
    expect(v.maxDelayMs).toBeLessThan(450);
  });

  it('a template that raises an exception rejects the messages (ERR_INVALID_ARG): that is its job', () => {
    const t = new ChatTemplate("{{ raise_exception('roles must alternate') }}", { origin: 'm.gguf' });
    expect(() => t.render([{ role: 'user', content: 'x' }])).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG', message: expect.stringMatching(/roles must alternate/) }),
    );
  });

  it("template errors are ERR_BAD_MODEL for a model's template, ERR_INVALID_ARG for the caller's own", () => {
    for (const [src, what] of [
      ['{% for %}', /does not parse/],
      ['{{ 1 + none }}', /failed to render/],
    ] as const) {
      expect(() => new ChatTemplate(src, { origin: 'm.gguf' }).render([{ role: 'user', content: 'x' }])).toThrow(
        expect.objectContaining({ code: 'ERR_BAD_MODEL', message: expect.stringMatching(what) }),
      );
      expect(() => new ChatTemplate(src).render([{ role: 'user', content: 'x' }])).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG' }),
      );
    }
  });

  it('template variables that cannot be converted are ERR_INVALID_ARG, not a RangeError', () => {
    const t = new ChatTemplate('{{ messages[0].content }}', { origin: 'm.gguf' });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const variables of [{ cyclic }, { n: 10n }, { range: 5 }]) {
      expect(() => t.render([{ role: 'user', content: 'x' }], { variables })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARG' }),
      );
    }
  });

  it('long real conversations still render (the budget grows with the input)', () => {
    const src = fs.readFileSync(fixture('chat-templates', 'Qwen-Qwen3-0.6B.jinja'), 'utf8');
    const t = new ChatTemplate(src, { origin: 'qwen3' });
    const messages = [];
    for (let i = 0; i < 2000; i++)
      messages.push({ role: i % 2 ? 'assistant' : 'user', content: `turn ${i} ${'word '.repeat(50)}` });
    messages.push({ role: 'user', content: 'x'.repeat(2_000_000) });
    const out = t.render(messages);
    expect(out.length).toBeGreaterThan(2_500_000);
    expect(out.endsWith('<|im_start|>assistant\n')).toBe(true);
  });
});

/** A copy of the gutenberg-16m HF model (weights linked) whose tokenizer_config.json has `template`. */
function modelWithTemplate(template: string): string {
  const src = fixture('models', 'gutenberg-16m-hf');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mml-tpl-'));
  for (const f of fs.readdirSync(src)) fs.symlinkSync(path.join(src, f), path.join(dir, f));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ chat_template: template }));
  return dir;
}

describe('item 1: through the model and the CLI', () => {
  const hostile = '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}';
  let dir: string;
  beforeAll(() => {
    dir = modelWithTemplate(hostile);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('renderChat() and chat() reject with ERR_BAD_MODEL naming the model', async () => {
    const model = await loadModel(dir, { backend: 'cpu', contextSize: 128 });
    try {
      const msgs = [{ role: 'user', content: 'Once' }];
      expect(() => model.renderChat(msgs)).toThrow(
        expect.objectContaining({ code: 'ERR_BAD_MODEL', message: expect.stringContaining(dir) }),
      );
      const t0 = performance.now();
      await expect(model.chat(msgs, { maxTokens: 4 })).rejects.toMatchObject({ code: 'ERR_BAD_MODEL' });
      expect(performance.now() - t0).toBeLessThan(1000);
    } finally {
      await model.dispose();
    }
  });

  it('`minimacllm chat` reports ERR_BAD_MODEL and exits', () => {
    const cli = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
    const r = spawnSync(process.execPath, [cli, 'chat', '--model', dir, '--backend', 'cpu', '-n', '4'], {
      input: 'Once upon a time\n',
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.signal).toBeNull();
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('ERR_BAD_MODEL');
    expect(r.stderr).toContain('chat template');
  });

  it('a real template renders through the model exactly as before', async () => {
    const real = fs.readFileSync(fixture('chat-templates', 'Qwen-Qwen2.5-7B-Instruct.jinja'), 'utf8');
    const d = modelWithTemplate(real);
    try {
      const model = await loadModel(d, { backend: 'cpu', contextSize: 256 });
      try {
        expect(model.renderChat([{ role: 'user', content: 'Hello!' }])).toBe(
          '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' +
            '<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n',
        );
      } finally {
        await model.dispose();
      }
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
