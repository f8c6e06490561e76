/** HF tokenizer.json normalizers (the subset used by llama-family tokenizers). */
import { UnsupportedError } from '../errors';
import { isRecord } from './metadata';
import { jsRegex } from './js-regex';

export type Normalizer = (s: string) => string;

function pattern(p: unknown): { str?: string; re?: RegExp } {
  if (isRecord(p)) {
    if (typeof p.String === 'string') return { str: p.String };
    if (typeof p.Regex === 'string') return { re: jsRegex(p.Regex, 'gu') };
  }
  throw new UnsupportedError(`unsupported normalizer pattern ${JSON.stringify(p)}`);
}

export function buildNormalizer(cfg: unknown): Normalizer | undefined {
  if (cfg === null || cfg === undefined) return undefined;
  if (!isRecord(cfg)) throw new UnsupportedError('normalizer must be an object');
  switch (cfg.type) {
    case 'Sequence': {
      const list = Array.isArray(cfg.normalizers) ? cfg.normalizers : [];
      const fns = list.map(buildNormalizer).filter((f): f is Normalizer => f !== undefined);
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
      const { str, re } = pattern(cfg.pattern);
      const content = typeof cfg.content === 'string' ? cfg.content : '';
      if (str !== undefined) return (s) => s.replaceAll(str, content);
      return (s) => s.replace(re!, () => content);
    }
    case 'Precompiled':
      if (!cfg.precompiled_charsmap) return undefined;
      throw new UnsupportedError('Precompiled (SentencePiece charsmap) normalizer is not supported');
    default:
      throw new UnsupportedError(`unsupported normalizer type '${String(cfg.type)}'`);
  }
}
