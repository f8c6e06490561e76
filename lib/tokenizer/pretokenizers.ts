/**
 * Pre-tokenizers: split a text fragment into the pieces BPE runs on.
 *
 * Each splitter reproduces one of the regexes llama.cpp (and the HF
 * tokenizer.json files) use, hand-written so that every one runs in linear
 * time: no backtracking regex engine ever sees user text. Splitters work on
 * codepoint indices of a CodepointView and cover their whole range; a "finder"
 * (a regex that does not match everywhere) is turned into a splitter that
 * keeps the unmatched gaps as pieces, which is what llama.cpp's
 * unicode_regex_split and HF's `Split(behavior: Isolated)` both do.
 */
import { UnsupportedError } from '../errors';
import { type CodepointView, LETTER, NUMBER, PUNCT, toCodepoints, WHITESPACE } from './unicode';

export type Emit = (start: number, end: number) => void;
export type Splitter = (v: CodepointView, start: number, end: number, emit: Emit) => void;
/** Emits the matches of a regex, leftmost-first and non-overlapping. */
export type Finder = Splitter;

const APOS = 0x27;
const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;
const WLN = WHITESPACE | LETTER | NUMBER;

function lowerAscii(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}

/** Length of an English contraction at `pos` ('s 't 're 've 'm 'll 'd), or 0. */
function contraction(cps: Uint32Array, pos: number, end: number, anyCase: boolean): number {
  if (cps[pos] !== APOS || pos + 1 >= end) return 0;
  const fold = anyCase ? lowerAscii : (c: number) => c;
  const a = fold(cps[pos + 1]!);
  if (a === 0x73 || a === 0x74 || a === 0x6d || a === 0x64) return 2; // s t m d
  if (pos + 2 >= end) return 0;
  const b = fold(cps[pos + 2]!);
  if ((a === 0x72 && b === 0x65) || (a === 0x76 && b === 0x65) || (a === 0x6c && b === 0x6c)) return 3; // re ve ll
  return 0;
}

/**
 * GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * (llama.cpp's form lacks the final \s+; it makes no difference to the pieces).
 */
export const gpt2Split: Splitter = (v, start, end, emit) => {
  const { cps, flags } = v;
  let pos = start;
  while (pos < end) {
    const c = contraction(cps, pos, end, false);
    if (c) {
      emit(pos, pos + c);
      pos += c;
      continue;
    }
    const sp = cps[pos] === SPACE ? 1 : 0;
    const q = pos + sp;
    if (q < end) {
      const f = flags[q]!;
      const cls = f & LETTER ? LETTER : f & NUMBER ? NUMBER : f & WHITESPACE ? 0 : -1;
      if (cls !== 0) {
        let p = q + 1;
        if (cls > 0) while (p < end && flags[p]! & cls) p++;
        else while (p < end && !(flags[p]! & WLN)) p++;
        emit(pos, p);
        pos = p;
        continue;
      }
    }
    let w = 0;
    while (pos + w < end && flags[pos + w]! & WHITESPACE) w++;
    if (w > 1 && pos + w < end) w--; // \s+(?!\S): leave the last space to prefix the next word
    if (w === 0) w = 1;
    emit(pos, pos + w);
    pos += w;
  }
};

/**
 * Llama 3 (maxDigits 3) and Qwen2 (maxDigits 1):
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 */
export function llama3Split(maxDigits: number): Splitter {
  return (v, start, end, emit) => {
    const { cps, flags } = v;
    let pos = start;
    while (pos < end) {
      const c = contraction(cps, pos, end, true);
      if (c) {
        emit(pos, pos + c);
        pos += c;
        continue;
      }
      const cp = cps[pos]!;
      const f = flags[pos]!;
      if (cp !== CR && cp !== LF && !(f & NUMBER)) {
        if (f & LETTER || (pos + 1 < end && flags[pos + 1]! & LETTER)) {
          let p = pos + 1;
          while (p < end && flags[p]! & LETTER) p++;
          emit(pos, p);
          pos = p;
          continue;
        }
      }
      if (f & NUMBER) {
        let p = pos;
        while (p < end && flags[p]! & NUMBER && p - pos < maxDigits) p++;
        emit(pos, p);
        pos = p;
        continue;
      }
      const sp = cp === SPACE && pos + 1 < end ? 1 : 0;
      if (!(flags[pos + sp]! & WLN)) {
        let p = pos + sp + 1;
        while (p < end && !(flags[p]! & WLN)) p++;
        while (p < end && (cps[p] === CR || cps[p] === LF)) p++;
        emit(pos, p);
        pos = p;
        continue;
      }
      let w = 0;
      let lastNl = -1;
      while (pos + w < end && flags[pos + w]! & WHITESPACE) {
        const x = cps[pos + w];
        if (x === CR || x === LF) lastNl = pos + w + 1;
        w++;
      }
      if (lastNl > 0) {
        // \s*[\r\n]+: up to and including the last line break of the run
        emit(pos, lastNl);
        pos = lastNl;
        continue;
      }
      if (w > 1 && pos + w < end) w--;
      if (w === 0) w = 1;
      emit(pos, pos + w);
      pos += w;
    }
  };
}

type Pred = (cp: number, flags: number) => boolean;

/** Finder for X (one character per match). */
export function singles(pred: Pred): Finder {
  return (v, start, end, emit) => {
    for (let p = start; p < end; p++) if (pred(v.cps[p]!, v.flags[p]!)) emit(p, p + 1);
  };
}

/** Finder for X+ . */
export function runs(pred: Pred): Finder {
  return (v, start, end, emit) => {
    const { cps, flags } = v;
    for (let p = start; p < end;) {
      if (!pred(cps[p]!, flags[p]!)) {
        p++;
        continue;
      }
      let q = p + 1;
      while (q < end && pred(cps[q]!, flags[q]!)) q++;
      emit(p, q);
      p = q;
    }
  };
}

/** Finder for P?X+ where P is one optional leading character class. */
export function prefixedRuns(lead: Pred, pred: Pred): Finder {
  return (v, start, end, emit) => {
    const { cps, flags } = v;
    for (let p = start; p < end;) {
      let q: number;
      if (p + 1 < end && lead(cps[p]!, flags[p]!) && pred(cps[p + 1]!, flags[p + 1]!)) q = p + 1;
      else if (pred(cps[p]!, flags[p]!)) q = p;
      else {
        p++;
        continue;
      }
      q++;
      while (q < end && pred(cps[q]!, flags[q]!)) q++;
      emit(p, q);
      p = q;
    }
  };
}

/** Finder for \s+$ (the whitespace run that ends the range). */
export const trailingWhitespace: Finder = (v, start, end, emit) => {
  let p = end;
  while (p > start && v.flags[p - 1]! & WHITESPACE) p--;
  if (p < end) emit(p, end);
};

/** Finder for [0-9][0-9][0-9]. */
export const asciiDigitTriples: Finder = (v, start, end, emit) => {
  const d = (c: number) => c >= 0x30 && c <= 0x39;
  for (let p = start; p + 2 < end;) {
    if (d(v.cps[p]!) && d(v.cps[p + 1]!) && d(v.cps[p + 2]!)) {
      emit(p, p + 3);
      p += 3;
    } else p++;
  }
};

/** Turns a finder into a splitter that also emits the unmatched gaps. */
export function isolate(find: Finder): Splitter {
  return (v, start, end, emit) => {
    let last = start;
    find(v, start, end, (s, e) => {
      if (s > last) emit(last, s);
      emit(s, e);
      last = e;
    });
    if (last < end) emit(last, end);
  };
}

/** Character class from a bracket-expression body of literal characters and ranges (no escapes). */
export function charClass(body: string): (cp: number) => boolean {
  const chars = Array.from(body, (ch) => ch.codePointAt(0)!);
  const lo: number[] = [];
  const hi: number[] = [];
  for (let i = 0; i < chars.length; i++) {
    if (i + 2 < chars.length && chars[i + 1] === 0x2d) {
      lo.push(chars[i]!);
      hi.push(chars[i + 2]!);
      i += 2;
    } else {
      lo.push(chars[i]!);
      hi.push(chars[i]!);
    }
  }
  return (cp) => {
    for (let i = 0; i < lo.length; i++) if (cp >= lo[i]! && cp <= hi[i]!) return true;
    return false;
  };
}

const isWs: Pred = (_c, f) => (f & WHITESPACE) !== 0;
const isLetter: Pred = (_c, f) => (f & LETTER) !== 0;
const isNumber: Pred = (_c, f) => (f & NUMBER) !== 0;
const isPunct: Pred = (_c, f) => (f & PUNCT) !== 0;
const isCrLf: Pred = (c) => c === CR || c === LF;
const isSpace: Pred = (c) => c === SPACE;

/** [\p{P}\$\+<=>\^~\|] (default) and with a backtick (falcon). */
function punctOrSymbols(extra: string): Pred {
  const set = new Set(Array.from(extra, (ch) => ch.codePointAt(0)!));
  return (c, f) => (f & PUNCT) !== 0 || set.has(c);
}

// Character classes spelled out in llama.cpp's deepseek / bloom regexes. Escapes keep compatibility
// characters (U+1F7D, U+2126, U+212A...) from being NFC-normalized by editors.
const deepseekLetters = charClass(
  'A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u1F7Dᾀ-ᾴᾶ-ᾼ\u1FBEῂ-ῄῆ-ῌῐ-\u1FD3ῖ-\u1FDBῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤ\u2126ℨ\u212A-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃',
);
const deepseekPunct = charClass('!-/:-~！-／：-～‘-‟　-。');
const cjk = charClass('一-龥ࠀ-一가-퟿');
const bloomStop = charClass('(|.,!?…。，、।۔،)');

/** The pre-tokenizer stages llama.cpp uses for each `tokenizer.ggml.pre` value. */
export interface GGUFPreTokenizer {
  stages: Splitter[];
  /** Llama 3-style: a piece that is a whole token skips merging. */
  ignoreMerges: boolean;
  /** Default for `add_bos_token` when the GGUF does not say. */
  addBos: boolean;
  /** The stages always split at cuts.ts's splitter boundaries (they run the GPT-2 or Llama 3 splitter). */
  cuts: boolean;
}

const GPT2 = [gpt2Split];
const LLAMA3 = [llama3Split(3)];
const QWEN2 = [llama3Split(1)];

const PRE_GROUPS: Array<[string[], Splitter[], Partial<GGUFPreTokenizer>?]> = [
  [
    ['default', ''],
    [isolate(runs(punctOrSymbols('$+<=>^~|'))), gpt2Split, isolate(runs(isNumber)), isolate(asciiDigitTriples)],
  ],
  [
    ['llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'falcon-h1', 'pixtral', 'midm-2.0', 'lfm2', 'jina-v5-nano'],
    LLAMA3,
    { ignoreMerges: true, addBos: true },
  ],
  [['dbrx', 'smaug-bpe', 'glm4', 'chatglm-bpe'], LLAMA3],
  [['qwen2', 'deepseek-r1-qwen', 'kormo', 'f2llmv2', 'megrez', 'stablelm2', 'hunyuan', 'solar-open', 'grok-2'], QWEN2],
  [
    // 'gpt-neox' is not a llama.cpp name; GPT-NeoX's tokenizer.json uses the GPT-2 regex.
    [
      'gpt-2',
      'gpt2',
      'gpt-neox',
      'phi-2',
      'jina-es',
      'jina-de',
      'gigachat',
      'jina-v2-es',
      'jina-v2-de',
      'a.x-4.0',
      'mellum',
      'modern-bert',
      'jina-v1-en',
      'jina-v2-code',
      'roberta-bpe',
      'exaone4',
      'mpt',
      'olmo',
      'jais',
      'trillion',
      'granite-docling',
    ],
    GPT2,
  ],
  [
    ['starcoder', 'refact', 'command-r', 'smollm', 'codeshell', 'exaone', 'minerva-7b', 'mellum2'],
    [isolate(singles(isNumber)), gpt2Split],
  ],
  [['falcon'], [isolate(runs(punctOrSymbols('$+<=>^~|`'))), gpt2Split, isolate(asciiDigitTriples)]],
  [
    ['deepseek-llm'],
    [
      isolate(singles(isCrLf)),
      isolate(prefixedRuns(isWs, (c) => deepseekLetters(c))),
      isolate(prefixedRuns(isWs, (c) => deepseekPunct(c))),
      isolate(trailingWhitespace),
      isolate(runs((c) => cjk(c))),
      isolate(runs(isNumber)),
    ],
  ],
  [
    ['deepseek-coder'],
    [
      isolate(singles(isCrLf)),
      isolate(prefixedRuns(isWs, isLetter)),
      isolate(prefixedRuns(isWs, isPunct)),
      isolate(runs((c) => cjk(c))),
      isolate(singles(isNumber)),
    ],
  ],
  [
    ['poro-chat', 'bloom', 'gpt3-finnish'],
    [isolate(prefixedRuns(isSpace, (c, f) => !(f & WHITESPACE) && !bloomStop(c)))],
  ],
];

const PRE_TABLE = new Map<string, GGUFPreTokenizer>();
for (const [names, stages, extra] of PRE_GROUPS) {
  // The other stages of these groups only isolate character classes that contain no space, letter boundary
  // or digit boundary the splitter would not also split at (cuts.ts).
  const cuts = stages.some((st) => st === gpt2Split || st === LLAMA3[0] || st === QWEN2[0]);
  for (const name of names) PRE_TABLE.set(name, { stages, ignoreMerges: false, addBos: false, cuts, ...extra });
}

/** Pre-tokenizer for a GGUF `tokenizer.ggml.pre` value (missing → llama.cpp's "default"). */
export function ggufPreTokenizer(pre: string | undefined): GGUFPreTokenizer {
  const p = PRE_TABLE.get(pre ?? 'default');
  if (!p) throw new UnsupportedError(`unsupported pre-tokenizer type tokenizer.ggml.pre = '${pre}'`);
  return p;
}

/** Names accepted for `tokenizer.ggml.pre`. */
export function supportedPreTokenizers(): string[] {
  return [...PRE_TABLE.keys()].filter((k) => k !== '');
}

/** Runs `stages` over `text`, calling `cb` with the UTF-16 [start, end) of every piece in order. */
export function splitText(text: string, stages: readonly Splitter[], cb: (start: number, end: number) => void): void {
  const v = toCodepoints(text);
  const pos = v.pos;
  if (stages.length === 1) {
    stages[0]!(v, 0, v.length, (s, e) => cb(pos[s]!, pos[e]!));
    return;
  }
  let ranges = [0, v.length];
  for (const stage of stages) {
    const next: number[] = [];
    const push: Emit = (s, e) => {
      next.push(s, e);
    };
    for (let i = 0; i < ranges.length; i += 2) stage(v, ranges[i]!, ranges[i + 1]!, push);
    ranges = next;
  }
  for (let i = 0; i < ranges.length; i += 2) cb(pos[ranges[i]!]!, pos[ranges[i + 1]!]!);
}
