/**
 * The hand-written (linear-time) pre-tokenizers against an independent
 * reference: the original llama.cpp regexes run by the JS regex engine, each
 * stage splitting every piece into matches and gaps as unicode_regex_split does.
 */
import { ggufPreTokenizer, splitText } from '../lib/tokenizer/pretokenizers';

const WS = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** llama.cpp regex → JS: \s and \S mean Unicode White_Space (JS's own \s differs slightly). */
function toJs(src: string): RegExp {
  let out = '';
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === '\\') {
      const n = src[i + 1];
      i++;
      if (n === 's') out += inClass ? WS : `[${WS}]`;
      else if (n === 'S') out += `[^${WS}]`;
      else out += c + n;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    out += c;
  }
  return new RegExp(out, 'gu');
}

function referenceSplit(text: string, regexes: readonly string[]): string[] {
  let pieces = [text];
  for (const src of regexes) {
    const re = toJs(src);
    const next: string[] = [];
    for (const p of pieces) {
      let last = 0;
      for (const m of p.matchAll(re)) {
        if (m[0].length === 0) continue;
        if (m.index > last) next.push(p.slice(last, m.index));
        next.push(m[0]);
        last = m.index + m[0].length;
      }
      if (last < p.length) next.push(p.slice(last));
    }
    pieces = next;
  }
  return pieces;
}

const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const L3 = (n: string) =>
  `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|${n}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const DS_LETTERS =
  'A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u1F7Dᾀ-ᾴᾶ-ᾼ\u1FBEῂ-ῄῆ-ῌῐ-\u1FD3ῖ-\u1FDBῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212A-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃';
const CJK = '[一-龥ࠀ-一가-퟿]+';

/** tokenizer.ggml.pre → llama.cpp's regexes for it (llama-vocab.cpp). */
const REFERENCE: Record<string, string[]> = {
  'gpt-2': [GPT2],
  mpt: [GPT2],
  'gpt-neox': [GPT2],
  'llama-bpe': [L3('\\p{N}{1,3}')],
  qwen2: [L3('\\p{N}')],
  starcoder: ['\\p{N}', GPT2],
  refact: ['\\p{N}', GPT2],
  smollm: ['\\p{N}', GPT2],
  falcon: ['[\\p{P}\\$\\+<=>\\^~\\|`]+', GPT2, '[0-9][0-9][0-9]'],
  default: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]'],
  'deepseek-llm': ['[\\r\\n]', `\\s?[${DS_LETTERS}]+`, '\\s?[!-/:-~！-／：-～‘-‟　-。]+', '\\s+$', CJK, '\\p{N}+'],
  'deepseek-coder': ['[\\r\\n]', '\\s?\\p{L}+', '\\s?\\p{P}+', CJK, '\\p{N}'],
  bloom: [' ?[^(\\s|.,!?…。，、।۔،)]+'],
};

const ALPHABET = [
  'a',
  'b',
  'Z',
  'é',
  'ж',
  'Ω',
  '中',
  '가',
  'ア',
  'ا',
  'क',
  '\u0301',
  '1',
  '7',
  '٣',
  '²',
  'Ⅷ',
  ' ',
  ' ',
  ' ',
  '\t',
  '\n',
  '\r',
  '!',
  '.',
  ',',
  "'",
  "'",
  's',
  'S',
  't',
  'l',
  'L',
  'r',
  'e',
  'v',
  'm',
  'd',
  'D',
  '`',
  '$',
  '+',
  '|',
  '(',
  ')',
  '…',
  '。',
  '，',
  '\u00a0',
  '\u3000',
  '\u2003',
  '\u0085',
  '\ufeff',
  '🦙',
  '😀',
  '_',
  '-',
  '~',
  '«',
  '€',
  '\u0000',
  '\u200d',
  '？',
];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function ourSplit(text: string, pre: string): string[] {
  const out: string[] = [];
  splitText(text, ggufPreTokenizer(pre).stages, (s, e) => out.push(text.slice(s, e)));
  return out;
}

describe.each(Object.keys(REFERENCE))('pre-tokenizer %s', (pre) => {
  it('splits like the reference regexes on 400 random strings', () => {
    const r = rng(pre.length * 7919 + pre.charCodeAt(0));
    const bad: string[] = [];
    for (let i = 0; i < 400; i++) {
      const len = Math.floor(r() * 24);
      let s = '';
      for (let j = 0; j < len; j++) s += ALPHABET[Math.floor(r() * ALPHABET.length)]!;
      const want = referenceSplit(s, REFERENCE[pre]!);
      const got = ourSplit(s, pre);
      if (JSON.stringify(got) !== JSON.stringify(want))
        bad.push(`${JSON.stringify(s)}\n  want ${JSON.stringify(want)}\n  got  ${JSON.stringify(got)}`);
    }
    expect(bad.slice(0, 5)).toEqual([]);
  });

  it('covers the text exactly (pieces concatenate to the input)', () => {
    const s = "Hello  world!\r\n\r\n  It's 2026-11-24: 12345 €€ 中文字 ... \t\t end  ";
    expect(ourSplit(s, pre).join('')).toBe(s);
  });
});

describe('pre-tokenizer names', () => {
  it('rejects unknown names with UnsupportedError', () => {
    expect(() => ggufPreTokenizer('no-such-pre')).toThrow(expect.objectContaining({ code: 'ERR_UNSUPPORTED' }));
  });
  it('a missing tokenizer.ggml.pre means "default", as in llama.cpp', () => {
    expect(ggufPreTokenizer(undefined)).toBe(ggufPreTokenizer('default'));
  });
});
