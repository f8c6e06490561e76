/**
 * Option fuzzing of every public function (lib/index.ts), and random
 * lifecycle orders on a model. A call gets valid arguments with, most of the
 * time, one argument or option replaced by a hostile value; it must succeed or
 * fail with a coded MiniMacLLMError (never a raw TypeError/RangeError, never
 * ERR_INTERNAL). A lifecycle case runs a random sequence of generate / stream
 * (abandoned or not) / abort / evaluate / chat / dispose and must settle in time.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as api from '../../lib/index';
import { describe, hostileValue, type Rng } from './rng';
import type { FuzzSuite } from './suite';

const FIXTURES = path.join(__dirname, '..', 'fixtures');
const STORIES = path.join(FIXTURES, 'models', 'stories260K.gguf');
const HF = path.join(FIXTURES, 'models', 'gutenberg-16m-hf');

interface State {
  dir: string;
  model: api.Model;
  tokenizer: api.Tokenizer;
  gguf: Uint8Array;
}

type Args = unknown[];
interface Entry {
  name: string;
  args(st: State, r: Rng): Args;
  call(st: State, a: Args): unknown;
  /** Argument positions that are paths written to: only non-strings or paths in the temp folder replace them. */
  writes?: number[];
  /** Valid arguments still fail (a wrong checksum, an unknown type): a coded error is the success. */
  mustFail?: boolean;
  /** A known open issue owned by someone else (see FuzzCase.known). */
  known?: string;
}

const msgs = [{ role: 'user', content: 'Hi there' }];
const genOptions = (r: Rng): Record<string, unknown> => ({
  maxTokens: r.int(1, 3),
  temperature: r.pick([0, 0.7]),
  topK: 40,
  topP: 0.9,
  minP: 0.05,
  repeatPenalty: 1.1,
  repeatLastN: 16,
  presencePenalty: 0,
  frequencyPenalty: 0,
  seed: r.int(0, 100),
  stop: ['\n\n'],
});

async function drain(it: AsyncIterable<unknown>, n: number): Promise<void> {
  const i = it[Symbol.asyncIterator]();
  for (let k = 0; k < n; k++) if ((await i.next()).done) return;
  await i.return?.(undefined);
}

const ENTRIES: Entry[] = [
  {
    name: 'loadModel',
    args: () => [STORIES, { backend: 'cpu', threads: 1, contextSize: 32, quiet: true }],
    call: async (_, a) => (await api.loadModel(a[0] as never, a[1] as never)).dispose(),
  },
  {
    name: 'model.generate',
    args: (_, r) => [r.pick(['Once', [1, 2, 3]]), genOptions(r)],
    call: (s, a) => s.model.generate(a[0] as never, a[1] as never),
  },
  {
    name: 'model.stream',
    args: (_, r) => ['Lily', genOptions(r)],
    call: (s, a) => drain(s.model.stream(a[0] as never, a[1] as never), 2),
  },
  {
    name: 'model.chat',
    args: (_, r) => [msgs, { ...genOptions(r), templateVariables: {} }],
    call: (s, a) => s.model.chat(a[0] as never, a[1] as never),
  },
  {
    name: 'model.renderChat',
    args: () => [msgs, { addGenerationPrompt: true, templateVariables: { x: 1 } }],
    call: (s, a) => s.model.renderChat(a[0] as never, a[1] as never),
  },
  {
    name: 'model.chatTokens',
    args: () => [msgs, { templateVariables: {} }],
    call: (s, a) => s.model.chatTokens(a[0] as never, a[1] as never),
  },
  {
    name: 'model.tokenize',
    args: () => ['Hello <s>', { addSpecial: true, parseSpecial: false }],
    call: (s, a) => s.model.tokenize(a[0] as never, a[1] as never),
  },
  {
    name: 'model.detokenize',
    args: () => [[1, 100, 200], { skipSpecial: true }],
    call: (s, a) => s.model.detokenize(a[0] as never, a[1] as never),
  },
  {
    name: 'model.createContext',
    args: () => [{ contextSize: 16 }],
    call: (s, a) => s.model.createContext(a[0] as never).dispose(),
  },
  {
    name: 'context.evaluate',
    args: () => [[1, 2, 3], { allLogits: false }],
    call: async (s, a) => {
      const c = s.model.createContext({ contextSize: 16 });
      try {
        await c.evaluate(a[0] as never, a[1] as never);
      } finally {
        await c.dispose();
      }
    },
  },
  {
    name: 'perplexity',
    args: () => ['Once upon a time there was a cat.', { ctx: 8, windows: 1 }],
    call: (s, a) => api.perplexity(s.model, a[0] as never, a[1] as never),
  },
  {
    name: 'tokenizer.tokenize',
    args: () => ['Hello world', { addSpecial: false }],
    call: (s, a) => s.tokenizer.tokenize(a[0] as never, a[1] as never),
  },
  {
    name: 'tokenizer.tokenizeAsync',
    args: (_, r) => [
      'Hello world, once upon a time',
      { addSpecial: false, maxTokens: 100, signal: new AbortController().signal, as: r.pick(['array', 'uint32']) },
    ],
    call: (s, a) => s.tokenizer.tokenizeAsync(a[0] as never, a[1] as never),
  },
  {
    name: 'tokenizer.detokenize',
    args: () => [[10, 20], {}],
    call: (s, a) => s.tokenizer.detokenize(a[0] as never, a[1] as never),
  },
  {
    name: 'tokenizer.createDecoder',
    args: () => [{}],
    call: (s, a) => s.tokenizer.createDecoder(a[0] as never).push(5),
  },
  { name: 'loadTokenizer', args: () => [HF], call: (_, a) => api.loadTokenizer(a[0] as never) },
  {
    name: 'readGGUF',
    args: () => [STORIES, { maxHeaderBytes: 1 << 20 }],
    call: (_, a) => api.readGGUF(a[0] as never, a[1] as never),
  },
  { name: 'readGGUFSync', args: () => [STORIES], call: (_, a) => api.readGGUFSync(a[0] as never) },
  {
    name: 'parseGGUFBuffer',
    args: (s) => [s.gguf, s.gguf.length],
    call: (_, a) => api.parseGGUFBuffer(a[0] as never, a[1] as never),
  },
  {
    name: 'writeGGUF',
    args: (s, r) => [
      path.join(s.dir, `w${r.int(0, 1e9)}.gguf`),
      {
        metadata: { 'general.name': 'x', n: api.ggufTyped(4, 3) },
        tensors: [{ name: 't', type: 0, shape: [4], data: new Uint8Array(16) }],
      },
      { overwrite: false },
    ],
    call: (_, a) => api.writeGGUF(a[0] as never, a[1] as never, a[2] as never),
    writes: [0],
  },
  {
    name: 'writeGGUFSync',
    args: (s, r) => [path.join(s.dir, `s${r.int(0, 1e9)}.gguf`), { metadata: { s: 'x' }, tensors: [] }],
    call: (_, a) => api.writeGGUFSync(a[0] as never, a[1] as never),
    writes: [0],
  },
  { name: 'ggufTyped', args: () => [4, 3], call: (_, a) => api.ggufTyped(a[0] as never, a[1] as never) },
  { name: 'ggmlTypeName', args: () => [8], call: (_, a) => api.ggmlTypeName(a[0] as never) },
  {
    name: 'readSafetensorsHeader',
    args: () => [path.join(HF, 'model-00001-of-00003.safetensors')],
    call: (_, a) => api.readSafetensorsHeader(a[0] as never),
  },
  {
    name: 'readSafetensorsHeaderSync',
    args: () => [path.join(HF, 'model-00002-of-00003.safetensors')],
    call: (_, a) => api.readSafetensorsHeaderSync(a[0] as never),
  },
  { name: 'describeModel', args: (_, r) => [r.pick([STORIES, HF])], call: (_, a) => api.describeModel(a[0] as never) },
  { name: 'describeGGUF', args: () => [STORIES], call: (_, a) => api.describeGGUF(a[0] as never) },
  { name: 'describeGGUFSync', args: () => [STORIES], call: (_, a) => api.describeGGUFSync(a[0] as never) },
  { name: 'describeHF', args: () => [HF], call: (_, a) => api.describeHF(a[0] as never) },
  {
    // Invalid options only (a real conversion takes seconds): the output never exists.
    name: 'convert',
    mustFail: true,
    args: (s, r) => [HF, path.join(s.dir, `c${r.int(0, 1e9)}.gguf`), { type: 'bogus', overwrite: false }],
    call: (_, a) => api.convert(a[0] as never, a[1] as never, a[2] as never),
    writes: [1],
  },
  { name: 'sha256File', args: () => [STORIES], call: (_, a) => api.sha256File(a[0] as never) },
  {
    name: 'verifySha256',
    mustFail: true,
    args: () => [STORIES, '0'.repeat(64)],
    call: (_, a) => api.verifySha256(a[0] as never, a[1] as never),
  },
  {
    name: 'Backend.create',
    args: () => ['cpu', { threads: 1 }],
    call: async (_, a) => api.Backend.create(a[0] as never, a[1] as never).dispose(),
  },
  {
    name: 'ChatTemplate',
    args: () => ['{% for m in messages %}{{ m.content }}{% endfor %}', msgs, { addGenerationPrompt: true }],
    call: (_, a) => new api.ChatTemplate(a[0] as never).render(a[1] as never, a[2] as never),
  },
  { name: 'renderPlain', args: () => [msgs, true], call: (_, a) => api.renderPlain(a[0] as never, a[1] as never) },
];

function corrupt(r: Rng, e: Entry, st: State, args: Args): string {
  if (r.chance(0.2)) return 'valid';
  const k = r.int(0, args.length - 1);
  const a = args[k];
  const safe = (v: unknown): unknown =>
    e.writes?.includes(k) && typeof v === 'string' ? path.join(st.dir, `hostile-${v.length}`) : v;
  if (a !== null && typeof a === 'object' && !Array.isArray(a) && !ArrayBuffer.isView(a) && r.chance(0.7)) {
    const keys = Object.keys(a);
    const key = keys.length > 0 && r.chance(0.85) ? r.pick(keys) : r.pick(['bogus', 'signal', 'onToken', '__proto__']);
    const v = hostileValue(r);
    args[k] = { ...a, [key]: v };
    return `arg ${k}.${key} = ${describe(v)}`;
  }
  const v = safe(hostileValue(r));
  args[k] = v;
  return `arg ${k} = ${describe(v)}`;
}

/** A random order of operations on a fresh model; everything must settle. */
function lifecycle(r: Rng): { desc: string; run: () => Promise<void> } {
  const ops = Array.from({ length: r.int(2, 7) }, () =>
    r.pick([
      'generate',
      'stream-abandon',
      'stream-all',
      'abort',
      'evaluate',
      'chat',
      'dispose',
      'dispose-context',
      'concurrent',
    ]),
  );
  return {
    desc: `lifecycle ${ops.join(' → ')}`,
    run: async () => {
      const m = await api.loadModel(STORIES, { backend: 'cpu', threads: 1, contextSize: 48 });
      const ctx = m.createContext({ contextSize: 16 });
      const pending: Array<Promise<unknown>> = [];
      // Each operation runs in an async function: a synchronous throw becomes a rejection, never an unhandled one.
      const settle = (f: () => unknown): Promise<unknown> =>
        Promise.resolve()
          .then(f)
          .catch((e: unknown) => {
            if (!(e instanceof api.MiniMacLLMError) || e.code === 'ERR_INTERNAL') throw e;
          });
      for (const op of ops) {
        switch (op) {
          case 'generate':
            pending.push(settle(() => m.generate('Once', { maxTokens: 4, seed: 1 })));
            break;
          case 'stream-abandon':
            pending.push(settle(() => m.stream('Lily', { maxTokens: 20 })[Symbol.asyncIterator]().next()));
            break;
          case 'stream-all':
            pending.push(settle(() => drain(m.stream('Tom', { maxTokens: 5 }), 100)));
            break;
          case 'abort': {
            const ac = new AbortController();
            pending.push(settle(() => m.generate('Ben', { maxTokens: 50, signal: ac.signal })));
            setTimeout(() => ac.abort(), r.int(0, 5));
            break;
          }
          case 'evaluate':
            pending.push(settle(() => ctx.evaluate([1, 2, 3, 4])));
            break;
          case 'chat':
            pending.push(settle(() => m.chat(msgs, { maxTokens: 3 })));
            break;
          case 'dispose':
            pending.push(settle(() => m.dispose()));
            break;
          case 'dispose-context':
            pending.push(settle(() => ctx.dispose()));
            break;
          default:
            pending.push(
              settle(() =>
                Promise.all([
                  settle(() => m.generate('A', { maxTokens: 2 })),
                  settle(() => drain(m.stream('B', { maxTokens: 3 }), 2)),
                ]),
              ),
            );
        }
        if (r.chance(0.5)) await pending[pending.length - 1];
      }
      await Promise.all(pending);
      await m.dispose();
    },
  };
}

export const apiSuite: FuzzSuite<State> = {
  name: 'api',
  count: 900,
  batch: 450,
  caseTimeoutMs: 15000,
  async setup() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mm-fuzz-api-'));
    return {
      dir,
      model: await api.loadModel(STORIES, { backend: 'cpu', threads: 1, contextSize: 64 }),
      tokenizer: await api.loadTokenizer(HF),
      gguf: new Uint8Array(fs.readFileSync(STORIES)),
    };
  },
  async teardown(st) {
    await st.model.dispose();
    fs.rmSync(st.dir, { recursive: true, force: true });
  },
  make(i, r, st) {
    if (i % 10 === 9) return lifecycle(r);
    const e = r.pick(ENTRIES);
    const args = e.args(st, r);
    const how = corrupt(r, e, st, args);
    return {
      desc: `${e.name} ${how}`,
      valid: how === 'valid' && !e.mustFail,
      mustFail: e.mustFail === true && how === 'valid',
      ...(e.known ? { known: e.known } : {}),
      run: async () => {
        await e.call(st, args);
      },
    };
  },
};
