/** HF tokenizer.json normalizers (the subset used by llama-family tokenizers). */
import { BadModelError, UnsupportedError } from '../errors';
import { isRecord, MAX_NESTING } from './metadata';
import { FileRegex } from './regex';

/**
 * `edges`: whether the text starts / ends the fragment (false for the inner parts of a text tokenized in
 * slices: Strip and Prepend act only at the real edges). Default both true.
 */
export type Normalizer = (s: string, edges?: Edges) => string;
export interface Edges {
  first: boolean;
  last: boolean;
}
const BOTH: Edges = { first: true, last: true };

/**
 * Whether normalizing the text in two parts cut between characters `x` and `y` gives the same as
 * normalizing it whole (cuts.ts); undefined: never.
 */
export type NormalizerCut = (x: string, y: string) => boolean;

/** Characters Unicode calls case-ignorable (approximately, erring wide): they move Final_Sigma. */
const CASE_IGNORABLE =
  /[\p{Mn}\p{Me}\p{Cf}\p{Lm}\p{Sk}'.:^`\u00a8\u00ad\u00af\u00b4\u00b7\u00b8\u2018\u2019\u2024\u2027\ufe13\ufe52\ufe55\uff07\uff0e\uff1a]/u;
const MARK = /\p{M}/u;

/** Where each normalizer can be cut; undefined: nowhere. */
export function normalizerCuts(cfg: unknown, depth = 0): NormalizerCut | undefined {
  if (cfg === null || cfg === undefined) return () => true;
  if (!isRecord(cfg) || depth >= MAX_NESTING) return undefined;
  switch (cfg.type) {
    case 'Sequence': {
      const parts = (Array.isArray(cfg.normalizers) ? cfg.normalizers : []).map((c) => normalizerCuts(c, depth + 1));
      if (parts.some((p) => p === undefined)) return undefined;
      return (x, y) => parts.every((p) => p!(x, y));
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      // A starter that does not compose with the character before it starts a new normalization segment.
      const form = cfg.type;
      return (x, y) => !MARK.test(y) && (x + y).normalize(form) === x.normalize(form) + y.normalize(form);
    }
    case 'Lowercase':
      // Final sigma looks across case-ignorable characters on both sides.
      return (x, y) => x !== '\u03a3' && y !== '\u03a3' && !CASE_IGNORABLE.test(x) && !CASE_IGNORABLE.test(y);
    case 'Strip':
    case 'Prepend':
    case 'StripAccents':
      return () => true;
    case 'Replace': {
      const p = cfg.pattern;
      // A one-character literal cannot straddle a cut.
      if (isRecord(p) && typeof p.String === 'string' && [...p.String].length === 1) return () => true;
      return undefined;
    }
    default:
      return cfg.type === 'Precompiled' && !cfg.precompiled_charsmap ? () => true : undefined;
  }
}

/** Longest text a Replace may produce (V8's string limit is ~2^29; far beyond any prompt). */
const MAX_NORMALIZED = 1 << 28;

function tooLong(): never {
  throw new BadModelError(
    `tokenizer.json Replace normalizer would make the text longer than ${MAX_NORMALIZED} characters`,
  );
}

/** Replace with a literal: split and join, after checking the size of the result. */
function replaceLiteral(str: string, content: string): Normalizer {
  return (s) => {
    const parts = s.split(str);
    if (parts.length === 1) return s;
    if (s.length + (parts.length - 1) * (content.length - str.length) > MAX_NORMALIZED) tooLong();
    return parts.join(content);
  };
}

function replaceRegex(re: FileRegex, content: string): Normalizer {
  return (s) => {
    const parts: string[] = [];
    let last = 0;
    let kept = 0;
    re.forEachMatch(s, (a, b) => {
      parts.push(s.slice(last, a));
      kept += a - last;
      last = b;
    });
    if (parts.length === 0) return s;
    parts.push(s.slice(last));
    if (kept + s.length - last + (parts.length - 1) * content.length > MAX_NORMALIZED) tooLong();
    return parts.join(content);
  };
}

export function buildNormalizer(cfg: unknown, depth = 0): Normalizer | undefined {
  if (cfg === null || cfg === undefined) return undefined;
  if (!isRecord(cfg)) throw new BadModelError('tokenizer.json normalizer must be an object');
  switch (cfg.type) {
    case 'Sequence': {
      if (depth >= MAX_NESTING)
        throw new BadModelError(`tokenizer.json normalizer: Sequence nested deeper than ${MAX_NESTING}`);
      const list = Array.isArray(cfg.normalizers) ? cfg.normalizers : [];
      const fns = list.map((c) => buildNormalizer(c, depth + 1)).filter((f): f is Normalizer => f !== undefined);
      return (s, edges = BOTH) => fns.reduce((acc, f) => f(acc, edges), s);
    }
    case 'NFC':
    case 'NFD':
    case 'NFKC':
    case 'NFKD': {
      const form = cfg.type;
      return (s) => s.normalize(form);
    }
    case 'Lowercase':
      return (s) => s.toLowerCase();
    case 'Strip': {
      const left = cfg.strip_left !== false;
      const right = cfg.strip_right !== false;
      return (s, edges = BOTH) => {
        const l = left && edges.first;
        const r = right && edges.last;
        return l && r ? s.trim() : l ? s.trimStart() : r ? s.trimEnd() : s;
      };
    }
    case 'StripAccents':
      return (s) => s.replace(/\p{Mn}/gu, '');
    case 'Prepend': {
      const p = typeof cfg.prepend === 'string' ? cfg.prepend : '';
      // HF prepends only to non-empty text.
      return (s, edges = BOTH) => (edges.first && s.length > 0 ? p + s : s);
    }
    case 'Replace': {
      const content = typeof cfg.content === 'string' ? cfg.content : '';
      const p = cfg.pattern;
      if (isRecord(p) && typeof p.String === 'string') {
        if (p.String === '') throw new BadModelError('tokenizer.json Replace normalizer has an empty pattern');
        return replaceLiteral(p.String, content);
      }
      if (isRecord(p) && typeof p.Regex === 'string') return replaceRegex(new FileRegex(p.Regex), content);
      throw new UnsupportedError(`unsupported normalizer pattern ${JSON.stringify(p)}`);
    }
    case 'Precompiled':
      if (!cfg.precompiled_charsmap) return undefined;
      throw new UnsupportedError('Precompiled (SentencePiece charsmap) normalizer is not supported');
    default:
      throw new UnsupportedError(`unsupported normalizer type '${String(cfg.type)}'`);
  }
}
