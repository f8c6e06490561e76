/** HF tokenizer.json normalizers (the subset used by llama-family tokenizers). */
import { BadModelError, UnsupportedError } from '../errors';
import { isRecord, MAX_NESTING } from './metadata';
import { FileRegex } from './regex';

export type Normalizer = (s: string) => string;

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
      return (s) => fns.reduce((acc, f) => f(acc), s);
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
      return (s) => (left && right ? s.trim() : left ? s.trimStart() : right ? s.trimEnd() : s);
    }
    case 'StripAccents':
      return (s) => s.replace(/\p{Mn}/gu, '');
    case 'Prepend': {
      const p = typeof cfg.prepend === 'string' ? cfg.prepend : '';
      // HF prepends only to non-empty text.
      return (s) => (s.length > 0 ? p + s : s);
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
