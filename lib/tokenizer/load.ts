/** loadTokenizer: a Tokenizer from a GGUF file, a tokenizer.json, or a Hugging Face model folder. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BadModelError, InvalidArgumentError, IOError } from '../errors';
import { readGGUF } from '../gguf/reader';
import { openRegularFile, readRegularTextFile } from '../regular-file';
import { parseTokenizerJson } from './json-parts';
import { Tokenizer } from './tokenizer';
import type { TokenizerJsonParts } from './tokenizer-json';

const MAX_JSON_BYTES = 64 * 1024 * 1024;

/** A JSON file that must be a regular file (a FIFO would block forever), size-capped. */
async function readJson(file: string): Promise<unknown> {
  const text = await readRegularTextFile(
    file,
    MAX_JSON_BYTES,
    () => new BadModelError(`${file} is larger than ${MAX_JSON_BYTES} bytes`),
  );
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new BadModelError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** @internal A tokenizer.json, parsed off the main thread when it is large (json-parts.ts). */
export async function readTokenizerJson(file: string): Promise<TokenizerJsonParts> {
  const { fh, stats } = await openRegularFile(file);
  let data: Buffer;
  try {
    if (stats.size > MAX_JSON_BYTES) throw new BadModelError(`${file} is larger than ${MAX_JSON_BYTES} bytes`);
    try {
      data = await fh.readFile();
    } catch (e) {
      throw new IOError(`cannot read ${file}: ${(e as Error).message}`, { cause: e });
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
  return parseTokenizerJson(data, file);
}

async function readJsonIfExists(file: string): Promise<Record<string, unknown> | undefined> {
  if (!fs.existsSync(file)) return undefined;
  const v = await readJson(file);
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

async function isGGUF(file: string): Promise<boolean> {
  const { fh } = await openRegularFile(file);
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return bytesRead === 4 && buf.toString('latin1') === 'GGUF';
  } finally {
    await fh.close();
  }
}

/** tokenizer.json with the tokenizer_config.json (and config.json for BOS/EOS ids) beside it. */
async function fromTokenizerJsonFile(file: string): Promise<Tokenizer> {
  const dir = path.dirname(file);
  const parts = await readTokenizerJson(file);
  const config = (await readJsonIfExists(path.join(dir, 'tokenizer_config.json'))) ?? {};
  const modelConfig = await readJsonIfExists(path.join(dir, 'config.json'));
  const merged: Record<string, unknown> = { ...config };
  // HF models without a tokenizer_config.json name BOS/EOS only by id in config.json.
  for (const k of ['bos_token_id', 'eos_token_id'] as const) {
    if (merged[k] === undefined && typeof modelConfig?.[k] === 'number') merged[k] = modelConfig[k];
  }
  // Token ids beyond the model's vocab_size have no logits row: the loader rejects them.
  if (modelConfig?.vocab_size !== undefined) merged.vocab_size = modelConfig.vocab_size;
  return Tokenizer.fromTokenizerJsonPartsAsync(parts, merged);
}

/**
 * Loads a tokenizer from `source`: a GGUF file (vocab-only GGUFs included), a
 * tokenizer.json file, or a folder holding tokenizer.json (+ tokenizer_config.json).
 */
export async function loadTokenizer(source: string): Promise<Tokenizer> {
  if (typeof source !== 'string' || source.length === 0) {
    throw new InvalidArgumentError('loadTokenizer: source must be a path to a GGUF file, a tokenizer.json or a folder');
  }
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(source);
  } catch (e) {
    throw new IOError(`cannot open ${source}: ${(e as Error).message}`, { cause: e });
  }
  if (st.isDirectory()) {
    const file = path.join(source, 'tokenizer.json');
    if (!fs.existsSync(file)) throw new IOError(`${source} has no tokenizer.json`);
    return fromTokenizerJsonFile(file);
  }
  if (await isGGUF(source)) {
    const { metadata } = await readGGUF(source);
    return Tokenizer.fromGGUFMetadataAsync(metadata);
  }
  return fromTokenizerJsonFile(source);
}
