/**
 * The tokenizing worker (offload.ts): builds the tokenizer from the source the main thread sends in
 * chunks, then tokenizes the texts it is given with Tokenizer.tokenizePart, the same code as the main
 * thread's, and sends the ids back (moved, not copied).
 */
import { parentPort } from 'node:worker_threads';
import { specFromGGUF } from './gguf-vocab';
import type { FromWorker, ToWorker } from './offload';
import { Tokenizer } from './tokenizer';
import { specFromTokenizerJsonParts } from './tokenizer-json';

const port = parentPort!;
let kind: 'gguf' | 'json' = 'gguf';
const entries: Record<string, unknown> = {};
let tokenizer: Tokenizer | undefined;
const running = new Map<number, AbortController>();
/** The text of each request, as it arrives in chunks. */
const texts = new Map<number, string[]>();

const post = (m: FromWorker, moved?: ArrayBuffer[]) => port.postMessage(m, moved);

function build(): Tokenizer {
  if (kind === 'gguf') return new Tokenizer({ ...specFromGGUF(entries), source: undefined });
  const vocab =
    entries.keys !== undefined ? { keys: entries.keys as string[], ids: entries.ids as unknown[] } : undefined;
  const parts = {
    json: entries.json,
    vocab,
    merges: entries.merges as unknown[] | undefined,
    mergeIds: entries.mergeIds as Int32Array | undefined,
  };
  return new Tokenizer({ ...specFromTokenizerJsonParts(parts, entries.config), source: undefined });
}

async function run(m: Extract<ToWorker, { t: 'run' }>): Promise<void> {
  const ac = new AbortController();
  running.set(m.id, ac);
  const text = (texts.get(m.id) ?? []).join('');
  texts.delete(m.id);
  try {
    // A Uint32Array of its own: moved to the main thread, not copied.
    const ids = await tokenizer!.tokenizePart(text, {
      parseSpecial: m.parseSpecial,
      continued: m.continued,
      addSpecial: m.addSpecial,
      maxTokens: m.maxTokens,
      signal: ac.signal,
    });
    post({ t: 'done', id: m.id, ids }, [ids.buffer as ArrayBuffer]);
  } catch (e) {
    const err = e as { code?: unknown; message?: unknown };
    post({
      t: 'err',
      id: m.id,
      code: typeof err?.code === 'string' ? err.code : 'ERR_INTERNAL',
      message: typeof err?.message === 'string' ? err.message : String(e),
    });
  } finally {
    running.delete(m.id);
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'src':
      kind = m.kind;
      Object.assign(entries, m.small);
      break;
    case 'arr': {
      const chunk = m.chunk as ArrayLike<unknown>;
      let into = entries[m.key] as { [i: number]: unknown; set?: (a: ArrayLike<unknown>, at: number) => void };
      if (into === undefined) {
        const Ctor = ArrayBuffer.isView(chunk) ? (chunk.constructor as new (n: number) => typeof into) : Array;
        into = new Ctor(m.total);
        entries[m.key] = into;
      }
      if (typeof into.set === 'function') into.set(chunk, m.from);
      else for (let i = 0; i < chunk.length; i++) into[m.from + i] = chunk[i];
      break;
    }
    case 'build':
      try {
        tokenizer = build();
        post({ t: 'ready' });
      } catch (e) {
        post({ t: 'fail', message: (e as Error).message });
      }
      break;
    case 'text': {
      const list = texts.get(m.id) ?? [];
      list.push(m.chunk);
      texts.set(m.id, list);
      break;
    }
    case 'run':
      void run(m);
      break;
    case 'cancel':
      texts.delete(m.id);
      running.get(m.id)?.abort();
      break;
  }
});
