/**
 * Compiles a tokenizer.json (Oniguruma-flavoured) regex as a JS RegExp, for
 * patterns that have no hand-written splitter. Inline case-insensitive groups
 * `(?i:...)`, which Node 20 lacks, are rewritten with [xX] classes.
 */
import { UnsupportedError } from '../errors';

function caseFold(body: string): string {
  let out = '';
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\\') {
      out += c + (body[i + 1] ?? '');
      i++;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    if (!inClass && /[a-zA-Z]/.test(c)) out += `[${c.toLowerCase()}${c.toUpperCase()}]`;
    else out += c;
  }
  return out;
}

export function jsRegex(src: string, flags: string): RegExp {
  let s = src;
  for (;;) {
    const at = s.indexOf('(?i:');
    if (at < 0) break;
    let depth = 0;
    let end = -1;
    for (let i = at; i < s.length; i++) {
      const c = s[i];
      if (c === '\\') {
        i++;
        continue;
      }
      if (c === '(') depth++;
      else if (c === ')' && --depth === 0) {
        end = i;
        break;
      }
    }
    if (end < 0) break;
    s = s.slice(0, at) + '(?:' + caseFold(s.slice(at + 4, end)) + ')' + s.slice(end + 1);
  }
  try {
    return new RegExp(s, flags);
  } catch (e) {
    throw new UnsupportedError(`unsupported regex in tokenizer.json: ${src} (${(e as Error).message})`);
  }
}
