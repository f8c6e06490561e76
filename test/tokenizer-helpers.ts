/** Shared fixture access for the tokenizer tests (all data lives in test/fixtures/tokenizer). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readGGUFSync } from '../lib/gguf/reader';
import { Tokenizer } from '../lib/tokenizer';

export const FIX = path.join(__dirname, 'fixtures', 'tokenizer');

export function fixture(...p: string[]): string {
  return path.join(FIX, ...p);
}

export function readJson<T = unknown>(...p: string[]): T {
  return JSON.parse(fs.readFileSync(fixture(...p), 'utf8')) as T;
}

const cache = new Map<string, Tokenizer>();

/** A GGUF vocabulary from test/fixtures/tokenizer (cached per test file). */
export function ggufTokenizer(rel: string): Tokenizer {
  let t = cache.get(rel);
  if (!t) {
    t = Tokenizer.fromGGUFMetadata(readGGUFSync(fixture(rel)).metadata);
    cache.set(rel, t);
  }
  return t;
}

/** An HF tokenizer.json (+ tokenizer_config.json when present) from test/fixtures/tokenizer/hf. */
export function hfTokenizer(name: string, extraConfig: Record<string, unknown> = {}): Tokenizer {
  const key = 'hf:' + name + JSON.stringify(extraConfig);
  let t = cache.get(key);
  if (!t) {
    const dir = fixture('hf', name);
    const cfgFile = path.join(dir, 'tokenizer_config.json');
    const cfg = fs.existsSync(cfgFile) ? (JSON.parse(fs.readFileSync(cfgFile, 'utf8')) as Record<string, unknown>) : {};
    t = Tokenizer.fromTokenizerJson(JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')), {
      ...cfg,
      ...extraConfig,
    });
    cache.set(key, t);
  }
  return t;
}

export interface VocabCase {
  text: string;
  ids: number[];
}

/** llama.cpp's test-tokenizer-0 data: texts split by "\n__ggml_vocab_test__\n", one line of ids per text. */
export function llamaCppCases(vocab: string): VocabCase[] {
  const base = fixture('vocab', `ggml-vocab-${vocab}.gguf`);
  const texts = fs.readFileSync(base + '.inp', 'utf8').split('\n__ggml_vocab_test__\n');
  if (texts[texts.length - 1] === '') texts.pop(); // the file ends with a separator
  const lines = fs.readFileSync(base + '.out', 'utf8').split('\n');
  return texts.map((text, i) => ({
    text,
    ids: (lines[i] ?? '').trim() === '' ? [] : lines[i]!.trim().split(/\s+/).map(Number),
  }));
}

/** Texts beyond llama.cpp's suite: scripts, emoji sequences, combining marks, whitespace runs, digits... */
export const EXTRA_TEXTS: readonly string[] = [
  'Hello wörld — ça va? Привет мир! 你好，世界。 こんにちは 안녕하세요 مرحبا שלום नमस्ते',
  '👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏽 thumbs, 🧑🏿‍🚀 astronaut',
  'e\u0301 a\u0308 n\u0303 cafe\u0301 Z\u0351\u036b\u0343 \u0915\u094d\u0937',
  ' '.repeat(100) + 'x' + '\t'.repeat(20) + '\n'.repeat(30) + ' \n \n  ',
  '0123456789 12345678901234567890 3.14159 1,000,000 ١٢٣ ⅷ ²³ 007',
  "I'M HERE, YOU'RE THERE, WE'VE GOT IT, THEY'LL SEE, HE'D KNOW, IT'S DONE, DON'T; i'm 'S 's",
  'line1\r\nline2\r\n\r\n  \r\nend\r',
  'nul\u0000byte\u0000\u0000end \u0000',
  '\u00a0non-breaking\u2003em-space\u3000ideographic\u200bzero-width\ufeffbom\u0085nel',
  'def f(x):\n\treturn x**2  # comment\n\n\nclass A:\n    pass\n',
  '<s> </s> <|im_start|>user\nhi<|im_end|> <|begin_of_text|> <unk> <|eot_id|>',
  '',
  ' ',
  'a',
];
