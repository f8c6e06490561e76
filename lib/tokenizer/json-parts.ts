/**
 * A large tokenizer.json parsed off the main thread. Decoding Qwen2's 11 MB file from UTF-8 takes
 * ~100 ms in one call, JSON.parse ~200 ms, collecting the 151k keys of its vocabulary ~40 ms: a worker
 * thread gets the file's bytes (moved, not copied), does all three, and sends back the vocabulary (keys
 * and ids) and the rest of the file as UTF-8 JSON texts of 2048 entries each (moved too: a string would
 * be copied in one block of tens of ms), decoded and parsed here one at a time with the event loop free
 * in between (~1-5 ms each). The merges come back as token ids (spec.ts mergeIds), not as strings: 151k
 * pairs of strings are ~450k objects whose young-generation collections stalled the main thread for
 * 25-50 ms at a time (jest); they are sent as texts only when one is malformed, for the builder to say which.
 */
import { Worker } from 'node:worker_threads';
import { BadModelError } from '../errors';
import type { TokenizerJsonParts } from './tokenizer-json';

/** Smaller files are parsed in place (a 1 MB JSON.parse takes ~10-20 ms). */
const IN_PLACE_BYTES = 1 << 20;

/** The worker: plain JavaScript (it needs nothing from the library), run from this string. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const CHUNK = 2048;
const isRecord = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);
const moved = [];
const bytes = (s) => {
  const b = Buffer.from(s, 'utf8');
  // A buffer of its own (a small one could sit in the shared pool), moved to the main thread.
  const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  moved.push(ab);
  return ab;
};
const chunks = (a) => {
  const out = [];
  for (let i = 0; i < a.length; i += CHUNK) out.push(bytes(JSON.stringify(a.slice(i, i + CHUNK))));
  return out;
};
// Token text -> id as the builder (tokenizer-json.ts) has it: the vocabulary, then the added tokens over it
// (a malformed added token or id fails the build there, so what this map makes of it does not matter).
const tokenIds = (vocab, added) => {
  const m = new Map();
  for (const k of Object.keys(vocab)) m.set(k, vocab[k]);
  if (Array.isArray(added))
    for (const a of added) if (isRecord(a) && typeof a.content === 'string' && Number.isInteger(a.id) && a.id >= 0) m.set(a.content, a.id);
  return m;
};
// [2 * rank] and [2 * rank + 1]: the ids of a merge's sides (-1: not a token), split as bpe.ts splits a
// "left right" string (at the first space after the first character); undefined if one is malformed.
const mergeIds = (merges, vocab, added) => {
  const t = tokenIds(vocab, added);
  const out = new Int32Array(merges.length * 2);
  const id = (s) => { const v = t.get(s); return Number.isInteger(v) && v >= 0 && v < 2 ** 31 ? v : -1; };
  for (let i = 0; i < merges.length; i++) {
    const e = merges[i];
    let a, b;
    if (typeof e === 'string') {
      const sp = e.indexOf(' ', 1);
      if (sp < 0) { out[2 * i] = out[2 * i + 1] = -1; continue; }
      a = e.slice(0, sp);
      b = e.slice(sp + 1);
    } else if (Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && typeof e[1] === 'string') {
      a = e[0];
      b = e[1];
    } else return undefined;
    out[2 * i] = id(a);
    out[2 * i + 1] = id(b);
  }
  return out;
};
(() => {
  let j;
  try {
    j = JSON.parse(Buffer.from(workerData).toString('utf8'));
  } catch (e) {
    parentPort.postMessage({ error: String(e && e.message) });
    return;
  }
  const msg = {};
  const model = isRecord(j) && isRecord(j.model) ? j.model : undefined;
  if (model && Array.isArray(model.merges)) {
    const ids = isRecord(model.vocab) ? mergeIds(model.merges, model.vocab, j.added_tokens) : undefined;
    if (ids) {
      msg.mergeIds = ids.buffer;
      moved.push(ids.buffer);
    } else msg.merges = chunks(model.merges);
    delete model.merges;
  }
  if (model && isRecord(model.vocab)) {
    const v = model.vocab;
    const keys = Object.keys(v);
    msg.keys = chunks(keys);
    msg.ids = chunks(keys.map((k) => v[k]));
    delete model.vocab;
  }
  msg.rest = bytes(JSON.stringify(j));
  parentPort.postMessage(msg, moved);
})();
`;

interface WorkerReply {
  error?: string;
  rest?: ArrayBuffer;
  keys?: ArrayBuffer[];
  ids?: ArrayBuffer[];
  merges?: ArrayBuffer[];
  mergeIds?: ArrayBuffer;
}

const parseBytes = (b: ArrayBuffer): unknown => JSON.parse(Buffer.from(b).toString('utf8'));

const yieldNow = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Parses JSON texts of arrays one at a time into one array, the event loop free every ~8 ms. */
async function unpack(chunks: readonly ArrayBuffer[]): Promise<unknown[]> {
  const out: unknown[] = [];
  let t0 = performance.now();
  for (const c of chunks) {
    const part = parseBytes(c) as unknown[];
    for (let i = 0; i < part.length; i++) out.push(part[i]);
    if (performance.now() - t0 > 8) {
      await yieldNow();
      t0 = performance.now();
    }
  }
  return out;
}

function parseWorker(data: Uint8Array): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    // The bytes are moved to the worker (a Buffer read from a file owns its ArrayBuffer; else a copy).
    const own =
      data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer
        ? data.buffer
        : data.slice().buffer;
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: own, transferList: [own] });
    let settled = false;
    w.once('message', (m: WorkerReply) => {
      settled = true;
      resolve(m);
      void w.terminate();
    });
    w.once('error', (e) => {
      if (!settled) reject(e);
      settled = true;
    });
    w.once('exit', (code) => {
      if (!settled) reject(new Error(`the JSON worker exited with code ${code}`));
      settled = true;
    });
  });
}

/**
 * The parts of a tokenizer.json from its bytes (read from `file`, named in errors; given to the worker,
 * not to be used after). `file` must hold a JSON object; what is inside is checked by the builder
 * (tokenizer-json.ts).
 */
export async function parseTokenizerJson(data: Uint8Array, file: string): Promise<TokenizerJsonParts> {
  const bad = (msg: string) => new BadModelError(`${file} is not valid JSON: ${msg}`);
  if (data.byteLength <= IN_PLACE_BYTES) {
    let json: unknown;
    try {
      json = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
    } catch (e) {
      throw bad((e as Error).message);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json))
      throw new BadModelError(`${file} is not a JSON object`);
    return { json };
  }
  let reply: WorkerReply;
  try {
    reply = await parseWorker(data);
  } catch (e) {
    throw new BadModelError(`${file} could not be parsed: ${(e as Error).message}`);
  }
  if (reply.error !== undefined || reply.rest === undefined) throw bad(reply.error ?? 'no result');
  await yieldNow();
  const json = parseBytes(reply.rest);
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new BadModelError(`${file} is not a JSON object`);
  const parts: TokenizerJsonParts = { json };
  if (reply.keys && reply.ids) {
    const keys = (await unpack(reply.keys)) as string[];
    const ids = await unpack(reply.ids);
    parts.vocab = { keys, ids };
  }
  if (reply.merges) parts.merges = await unpack(reply.merges);
  else if (reply.mergeIds) parts.mergeIds = new Int32Array(reply.mergeIds);
  return parts;
}
