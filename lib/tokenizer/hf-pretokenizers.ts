/**
 * HF tokenizer.json pre-tokenizers. Known split regexes (GPT-2, Llama 3,
 * Qwen2) run on the hand-written linear splitters; any other pattern runs on
 * RE2 (regex.ts), also in linear time.
 */
import { BadModelError, UnsupportedError } from '../errors';
import { isRecord, MAX_NESTING } from './metadata';
import { FileRegex } from './regex';
import { type CutRule, spaceCuts, splitterCuts } from './cuts';
import { gpt2Split, llama3Split, type Splitter } from './pretokenizers';
import { PUNCT, toCodepoints, WHITESPACE } from './unicode';

/** Splits one piece into sub-pieces. `atStart`: the piece begins the input text. */
export type PreTokenizer = (pieces: string[], atStart: boolean) => string[];

export interface HfPreTokenizer {
  run: PreTokenizer;
  /** A ByteLevel step is present: the model sees GPT-2 byte characters. */
  byteLevel: boolean;
}

const GPT2_RE = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3_RE_HEAD = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|";
const LLAMA3_RE_TAIL = '| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';

/** Hand-written splitters for the regexes real tokenizer.json files use. */
const KNOWN: ReadonlyMap<string, Splitter> = new Map([
  [GPT2_RE, gpt2Split],
  [GPT2_RE + '|\\s+', gpt2Split],
  [LLAMA3_RE_HEAD + '\\p{N}{1,3}' + LLAMA3_RE_TAIL, llama3Split(3)],
  [LLAMA3_RE_HEAD + '\\p{N}' + LLAMA3_RE_TAIL, llama3Split(1)],
]);

type Segment = [start: number, end: number, isMatch: boolean];

function regexSegments(re: FileRegex, s: string): Segment[] {
  const segs: Segment[] = [];
  let last = 0;
  re.forEachMatch(s, (a, b) => {
    if (a > last) segs.push([last, a, false]);
    segs.push([a, b, true]);
    last = b;
  });
  if (last < s.length) segs.push([last, s.length, false]);
  return segs;
}

/** Non-overlapping occurrences of a literal, left to right (an empty literal occurs nowhere). */
function literalSegments(lit: string, s: string): Segment[] {
  const segs: Segment[] = [];
  if (lit.length === 0) return s.length > 0 ? [[0, s.length, false]] : [];
  let last = 0;
  for (let i = s.indexOf(lit); i >= 0; i = s.indexOf(lit, i + lit.length)) {
    if (i > last) segs.push([last, i, false]);
    segs.push([i, i + lit.length, true]);
    last = i + lit.length;
  }
  if (last < s.length) segs.push([last, s.length, false]);
  return segs;
}

function splitterSegments(sp: Splitter, s: string): Segment[] {
  const v = toCodepoints(s);
  const segs: Segment[] = [];
  sp(v, 0, v.length, (a, b) => segs.push([v.pos[a]!, v.pos[b]!, true]));
  return segs;
}

/** Applies an HF SplitDelimiterBehavior to match / gap segments. */
function applyBehavior(s: string, segs: Segment[], behavior: string, out: string[]): void {
  switch (behavior) {
    case 'Isolated':
      for (const [a, b] of segs) out.push(s.slice(a, b));
      return;
    case 'Removed':
      for (const [a, b, m] of segs) if (!m) out.push(s.slice(a, b));
      return;
    case 'MergedWithPrevious': {
      let start = 0;
      for (const [, b, m] of segs) {
        if (m) {
          out.push(s.slice(start, b));
          start = b;
        }
      }
      if (start < s.length) out.push(s.slice(start));
      return;
    }
    case 'MergedWithNext': {
      let start = 0;
      for (const [a, , m] of segs) {
        if (m && a > start) {
          out.push(s.slice(start, a));
          start = a;
        }
      }
      if (start < s.length) out.push(s.slice(start));
      return;
    }
    case 'Contiguous': {
      let i = 0;
      while (i < segs.length) {
        const [a, , m] = segs[i]!;
        let j = i;
        while (j + 1 < segs.length && segs[j + 1]![2] === m && m) j++;
        out.push(s.slice(a, segs[j]![1]));
        i = j + 1;
      }
      return;
    }
    default:
      throw new UnsupportedError(`unsupported split behavior '${behavior}'`);
  }
}

const BEHAVIORS = ['Isolated', 'Removed', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'];

/** A SplitDelimiterBehavior, checked at load (not at the first tokenize). */
function splitBehavior(v: unknown): string {
  if (v === undefined || v === null) return 'Isolated';
  if (typeof v === 'string' && BEHAVIORS.includes(v)) return v;
  throw new UnsupportedError(`unsupported split behavior ${JSON.stringify(v)}`);
}

function eachPiece(fn: (s: string, out: string[], atStart: boolean) => void): PreTokenizer {
  return (pieces, atStart) => {
    const out: string[] = [];
    for (let i = 0; i < pieces.length; i++) fn(pieces[i]!, out, atStart && i === 0);
    return out;
  };
}

function classSplit(pred: (f: number, cp: number) => boolean, behavior: string, single: boolean): PreTokenizer {
  return eachPiece((s, out) => {
    const v = toCodepoints(s);
    const segs: Segment[] = [];
    let last = 0;
    for (let i = 0; i < v.length;) {
      if (!pred(v.flags[i]!, v.cps[i]!)) {
        i++;
        continue;
      }
      let j = i + 1;
      if (!single) while (j < v.length && pred(v.flags[j]!, v.cps[j]!)) j++;
      if (i > last) segs.push([v.pos[last]!, v.pos[i]!, false]);
      segs.push([v.pos[i]!, v.pos[j]!, true]);
      last = j;
      i = j;
    }
    if (last < v.length) segs.push([v.pos[last]!, s.length, false]);
    applyBehavior(s, segs, behavior, out);
  });
}

function build(cfg: Record<string, unknown>, flags: { byteLevel: boolean }, depth: number): PreTokenizer {
  switch (cfg.type) {
    case 'Sequence': {
      if (depth >= MAX_NESTING)
        throw new BadModelError(`tokenizer.json pre_tokenizer: Sequence nested deeper than ${MAX_NESTING}`);
      const steps = (Array.isArray(cfg.pretokenizers) ? cfg.pretokenizers : []).map((c) => {
        if (!isRecord(c)) throw new BadModelError('tokenizer.json pre_tokenizer entries must be objects');
        return build(c, flags, depth + 1);
      });
      return (pieces, atStart) => steps.reduce((acc, step) => step(acc, atStart), pieces);
    }
    case 'Split': {
      const behavior = splitBehavior(cfg.behavior);
      const invert = cfg.invert === true;
      const p = cfg.pattern;
      let segments: (s: string) => Segment[];
      if (isRecord(p) && typeof p.Regex === 'string') {
        const known = KNOWN.get(p.Regex);
        if (known && behavior === 'Isolated' && !invert) segments = (s) => splitterSegments(known, s);
        else {
          const re = new FileRegex(p.Regex);
          segments = (s) => regexSegments(re, s);
        }
      } else if (isRecord(p) && typeof p.String === 'string') {
        const lit = p.String;
        segments = (s) => literalSegments(lit, s);
      } else throw new UnsupportedError(`unsupported Split pattern ${JSON.stringify(p)}`);
      return eachPiece((s, out) => {
        let segs = segments(s);
        if (invert) segs = segs.map(([a, b, m]) => [a, b, !m]);
        applyBehavior(s, segs, behavior, out);
      });
    }
    case 'ByteLevel': {
      flags.byteLevel = true;
      const prefix = cfg.add_prefix_space === true;
      const useRegex = cfg.use_regex !== false;
      return eachPiece((s, out) => {
        const t = prefix && !s.startsWith(' ') ? ' ' + s : s;
        if (!useRegex) out.push(t);
        else for (const [a, b] of splitterSegments(gpt2Split, t)) out.push(t.slice(a, b));
      });
    }
    case 'Metaspace': {
      const rep = typeof cfg.replacement === 'string' ? cfg.replacement : '\u2581';
      // HF requires one character; an empty one would make the split below loop forever.
      if ([...rep].length !== 1)
        throw new BadModelError(
          `tokenizer.json Metaspace replacement must be one character, got ${JSON.stringify(rep)}`,
        );
      const scheme =
        typeof cfg.prepend_scheme === 'string'
          ? cfg.prepend_scheme
          : cfg.add_prefix_space === false
            ? 'never'
            : 'always';
      const split = cfg.split !== false;
      return eachPiece((s, out, atStart) => {
        let t = s.replaceAll(' ', rep);
        if ((scheme === 'always' || (scheme === 'first' && atStart)) && !t.startsWith(rep)) t = rep + t;
        if (!split) {
          out.push(t);
          return;
        }
        let start = 0;
        for (let i = t.indexOf(rep, 1); i >= 0; i = t.indexOf(rep, i + rep.length)) {
          out.push(t.slice(start, i));
          start = i;
        }
        if (start < t.length) out.push(t.slice(start));
      });
    }
    case 'Digits': {
      const single = cfg.individual_digits === true;
      return classSplit((_f, cp) => cp >= 0x30 && cp <= 0x39, single ? 'Isolated' : 'Contiguous', single);
    }
    case 'Punctuation': {
      const behavior = splitBehavior(cfg.behavior);
      const ascii = (cp: number) =>
        (cp >= 0x21 && cp <= 0x2f) ||
        (cp >= 0x3a && cp <= 0x40) ||
        (cp >= 0x5b && cp <= 0x60) ||
        (cp >= 0x7b && cp <= 0x7e);
      return classSplit((f, cp) => (f & PUNCT) !== 0 || ascii(cp), behavior, true);
    }
    case 'WhitespaceSplit':
      return classSplit((f) => (f & WHITESPACE) !== 0, 'Removed', false);
    case 'Whitespace': {
      const re = /[\p{L}\p{N}\p{M}\p{Pc}]+|[^\p{L}\p{N}\p{M}\p{Pc}\s]+/gu;
      return eachPiece((s, out) => {
        for (const m of s.matchAll(re)) out.push(m[0]);
      });
    }
    default:
      throw new UnsupportedError(`unsupported pre_tokenizer type '${String(cfg.type)}'`);
  }
}

export function buildPreTokenizer(cfg: unknown): HfPreTokenizer {
  const flags = { byteLevel: false };
  if (cfg === null || cfg === undefined) return { run: (p) => p, byteLevel: false };
  if (!isRecord(cfg)) throw new BadModelError('tokenizer.json pre_tokenizer must be an object');
  const run = build(cfg, flags, 0);
  return { run, byteLevel: flags.byteLevel };
}

/**
 * Where the pre-tokenizer always ends a piece (cuts.ts): the rule of its first splitting step, provided
 * only character-class steps (Digits, Punctuation) come before it. 'whole': no step splits, the model
 * merges across whole fragments. undefined: no safe cuts.
 */
export function preTokenizerCuts(cfg: unknown): CutRule | 'whole' | undefined {
  const steps: Record<string, unknown>[] = [];
  const flatten = (c: unknown, depth: number): boolean => {
    if (!isRecord(c) || depth > MAX_NESTING) return false;
    if (c.type !== 'Sequence') {
      steps.push(c);
      return true;
    }
    return (Array.isArray(c.pretokenizers) ? c.pretokenizers : []).every((x) => flatten(x, depth + 1));
  };
  if (cfg !== null && cfg !== undefined && !flatten(cfg, 0)) return undefined;
  for (const st of steps) {
    switch (st.type) {
      case 'Digits':
      case 'Punctuation':
        continue;
      case 'ByteLevel':
        if (st.use_regex === false) return undefined;
        // A prefix space is added to every piece that lacks one: only cuts before a space keep that unchanged.
        return st.add_prefix_space === true ? spaceCuts : splitterCuts;
      case 'Split': {
        const p = st.pattern;
        const known = isRecord(p) && typeof p.Regex === 'string' && KNOWN.has(p.Regex);
        const isolated = (st.behavior ?? 'Isolated') === 'Isolated' && st.invert !== true;
        return known && isolated ? splitterCuts : undefined;
      }
      case 'Metaspace': {
        if (st.split === false) return undefined;
        const rep = typeof st.replacement === 'string' ? st.replacement.codePointAt(0) : 0x2581;
        return (prev, cur) => (cur === 0x20 || cur === rep) && prev !== 0x20 && prev !== rep;
      }
      case 'WhitespaceSplit':
      case 'Whitespace':
        return spaceCuts;
      default:
        return undefined;
    }
  }
  return 'whole';
}
