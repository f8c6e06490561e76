/**
 * The tokenizer of a described model: from the GGUF metadata, or from a HF
 * folder's tokenizer.json (+ tokenizer_config.json, + config.json's BOS/EOS ids).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BadModelError } from '../errors';
import { readJsonObject } from '../hf/folder';
import { readTokenizerJson } from '../tokenizer/load';
import { familyOf } from './arch/registry';
import { Tokenizer } from '../tokenizer/tokenizer';
import type { ModelDescription } from './description';

export async function loadModelTokenizer(desc: ModelDescription): Promise<Tokenizer> {
  const tok = await buildTokenizer(desc);
  // The merge and cut tables, in slices in the background: the first generate() then need not build
  // them (tokenize() would build the merge table at once: ~300 ms for Qwen2's 151k merges).
  tok.prepare().catch(() => undefined);
  return tok;
}

async function buildTokenizer(desc: ModelDescription): Promise<Tokenizer> {
  if (desc.format === 'gguf') {
    if (!desc.metadata) throw new BadModelError(`${desc.source}: GGUF metadata is missing`);
    return Tokenizer.fromGGUFMetadataAsync(desc.metadata);
  }
  const dir = desc.source;
  const parts = await readTokenizerJson(path.join(dir, 'tokenizer.json'));
  const cfgFile = path.join(dir, 'tokenizer_config.json');
  const tokCfg = fs.existsSync(cfgFile) ? await readJsonObject(cfgFile) : {};
  const modelCfg = (desc.hfConfig ?? {}) as Record<string, unknown>;
  const config: Record<string, unknown> = {
    bos_token_id: modelCfg['bos_token_id'],
    eos_token_id: Array.isArray(modelCfg['eos_token_id']) ? modelCfg['eos_token_id'][0] : modelCfg['eos_token_id'],
    // e.g. transformers' Llama tokenizers add BOS unless told otherwise (as llama.cpp's converter records).
    ...(familyOf(desc.architecture).hfAddsBos ? { add_bos_token: true } : {}),
    ...tokCfg,
    // Every token id must have a row of logits.
    vocab_size: desc.hparams.vocabSize,
  };
  return Tokenizer.fromTokenizerJsonPartsAsync(parts, config);
}
