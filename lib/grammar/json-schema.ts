/**
 * JSON Schema → GBNF. Every sentence of the grammar is JSON that validates
 * against the schema (the grammar may allow fewer documents than the schema:
 * one property order, canonical string escapes, no properties beyond
 * `properties` unless `additionalProperties` asks for them).
 *
 * Supported: type (and type arrays), properties, required,
 * additionalProperties (false / true / schema), enum, const, anyOf, oneOf
 * (generated like anyOf: give it disjoint branches), allOf of object schemas,
 * $ref to `#`, `#/$defs/…`, `#/definitions/…` and other local JSON pointers
 * (recursion included), items, prefixItems (and draft-07 array `items` +
 * additionalItems), minItems, maxItems, uniqueItems: false, minLength,
 * maxLength, pattern (see regex.ts), format (date, time, date-time, uuid),
 * integer minimum / maximum / exclusiveMinimum / exclusiveMaximum.
 * Annotations (title, description, default, examples, $schema, $id,
 * $comment, deprecated, readOnly, writeOnly) are ignored; any other keyword
 * is ERR_UNSUPPORTED naming it.
 *
 * Termination: whitespace between tokens is at most one space or a newline
 * plus 20 spaces/tabs, numbers have at most 16 integer and 16 fraction digits
 * (exponents 2), so a schema whose strings, arrays and objects are bounded
 * always ends.
 */
import { InvalidArgumentError, UnsupportedError } from '../errors';
import { gbnfClass, gbnfLiteral } from './gbnf-text';
import { patternToGbnf } from './regex';

type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set([
  'title',
  'description',
  'default',
  'examples',
  '$schema',
  '$id',
  '$comment',
  'deprecated',
  'readOnly',
  'writeOnly',
  '$defs',
  'definitions',
]);
const GENERIC = new Set(['type', 'enum', 'const', 'anyOf', 'oneOf', 'allOf', '$ref']);
const BY_TYPE: Record<string, readonly string[]> = {
  object: ['properties', 'required', 'additionalProperties'],
  array: ['items', 'prefixItems', 'additionalItems', 'minItems', 'maxItems', 'uniqueItems'],
  string: ['minLength', 'maxLength', 'pattern', 'format'],
  number: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'],
};
const KNOWN = new Set([...ANNOTATIONS, ...GENERIC, ...Object.values(BY_TYPE).flat()]);
const TYPES = ['object', 'array', 'string', 'number', 'integer', 'boolean', 'null'] as const;
type TypeName = (typeof TYPES)[number];

/** Integer digits a number may have (and fraction digits). */
const MAX_DIGITS = 16;

const PRIMITIVES: Record<string, string> = {
  space: '| " " | "\\n" [ \\t]{0,20}',
  char: '[^"\\\\\\x7F\\x00-\\x1F] | "\\\\" (["\\\\/bfnrt] | "u" ([0-9a-cA-C] [0-9a-fA-F]{3} | [dD] [0-7] [0-9a-fA-F]{2} | [e-fE-F] [0-9a-fA-F]{3}))',
  string: '"\\"" char* "\\"" space',
  'integral-part': `"0" | [1-9] [0-9]{0,${MAX_DIGITS - 1}}`,
  number: `"-"? integral-part ("." [0-9]{1,${MAX_DIGITS}})? ([eE] [-+]? [0-9]{1,2})? space`,
  integer: '"-"? integral-part space',
  boolean: '("true" | "false") space',
  null: '"null" space',
  value: 'object | array | string | number | boolean | null',
  object: '"{" space (string ":" space value ("," space string ":" space value)*)? "}" space',
  array: '"[" space (value ("," space value)*)? "]" space',
  // Formats, exactly as a strict validator (ajv-formats "full") checks them.
  'date-day28': '"0" [1-9] | "1" [0-9] | "2" [0-8]',
  'date-md': `("01" | "03" | "05" | "07" | "08" | "10" | "12") "-" (date-day28 | "29" | "30" | "31") | ("04" | "06" | "09" | "11") "-" (date-day28 | "29" | "30") | "02-" date-day28`,
  // Leap years: divisible by 4, except centuries not divisible by 400.
  'date-leap-year': '[0-9] [0-9] ("0" [48] | [2468] [048] | [13579] [26]) | ([02468] [048] | [13579] [26]) "00"',
  date: '[0-9]{4} "-" date-md | date-leap-year "-02-29"',
  'time-hm': '([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9]',
  time: 'time-hm ":" [0-5] [0-9] ("." [0-9]{1,9})? ("Z" | [+-] time-hm)',
  'date-time': 'date "T" time',
  uuid: '[0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12}',
};
const DEPENDS: Record<string, readonly string[]> = {
  char: [],
  string: ['char', 'space'],
  number: ['integral-part', 'space'],
  integer: ['integral-part', 'space'],
  boolean: ['space'],
  null: ['space'],
  value: ['object', 'array', 'string', 'number', 'boolean', 'null'],
  object: ['string', 'space', 'value'],
  array: ['value', 'space'],
  'date-md': ['date-day28'],
  date: ['date-md', 'date-leap-year'],
  time: ['time-hm'],
  'date-time': ['date', 'time'],
};
const FORMATS = new Set(['date', 'time', 'date-time', 'uuid']);

const isObj = (x: unknown): x is Schema => typeof x === 'object' && x !== null && !Array.isArray(x);
const show = (x: unknown): string => JSON.stringify(x) ?? String(x);

/**
 * Builds one GBNF grammar from any number of schemas (tool calling puts every
 * tool's parameters in one grammar); shared rules (string, number, ...) are
 * written once.
 */
export class SchemaGrammarBuilder {
  #root: unknown;
  readonly #rules = new Map<string, string>();
  readonly #refRules = new Map<unknown, Map<string, string>>();
  readonly #names = new Set<string>(['root']);

  /** Adds the rules for `schema` and returns a GBNF expression for its JSON documents. */
  add(schema: unknown, hint: string): string {
    this.#root = schema;
    return this.visit(schema, hint, '#');
  }

  /** Adds a rule of your own (its name is made unique); returns its name. */
  addRule(hint: string, body: string): string {
    return this.#rule(hint, body);
  }

  /** The grammar: `root ::= rootExpr` and every rule added. */
  gbnf(rootExpr: string): string {
    const lines = [`root ::= ${rootExpr}`];
    for (const [k, v] of this.#rules) if (k !== 'root') lines.push(`${k} ::= ${v}`);
    return lines.join('\n') + '\n';
  }

  #use(name: string): string {
    if (!this.#rules.has(name)) {
      this.#rules.set(name, PRIMITIVES[name]!);
      for (const d of DEPENDS[name] ?? []) this.#use(d);
    }
    return name;
  }

  /** A fresh rule name derived from `hint`. */
  #name(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'rule';
    let name = base;
    for (let i = 1; this.#names.has(name) || (name in PRIMITIVES && name !== 'root'); i++) name = `${base}-${i}`;
    this.#names.add(name);
    return name;
  }

  #rule(hint: string, body: string): string {
    const name = this.#name(hint);
    this.#rules.set(name, body);
    return name;
  }

  #unsupported(path: string, what: string): never {
    throw new UnsupportedError(`JSON Schema at ${path}: ${what} is not supported`);
  }

  #invalid(path: string, what: string): never {
    throw new InvalidArgumentError(`JSON Schema at ${path}: ${what}`);
  }

  /** Resolves a local reference ("#", "#/$defs/x", any JSON pointer into the root). */
  #resolve(ref: string, path: string): unknown {
    if (!ref.startsWith('#')) this.#unsupported(path, `$ref ${show(ref)} (only references inside the schema, "#...")`);
    let cur: unknown = this.#root;
    const pointer = ref.slice(1);
    if (pointer === '') return cur;
    if (!pointer.startsWith('/')) this.#unsupported(path, `$ref ${show(ref)} (anchors)`);
    for (const raw of pointer.slice(1).split('/')) {
      const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
      if (Array.isArray(cur) && /^\d+$/.test(key)) cur = cur[Number(key)];
      else if (isObj(cur) && key in cur) cur = cur[key];
      else this.#invalid(path, `$ref ${show(ref)} points at nothing`);
    }
    return cur;
  }

  visit(schema: unknown, hint: string, path: string): string {
    if (schema === true) return this.#use('value');
    if (schema === false) this.#invalid(path, 'the schema false matches nothing');
    if (!isObj(schema)) this.#invalid(path, `a schema must be an object or a boolean, got ${show(schema)}`);
    for (const k of Object.keys(schema)) {
      if (!KNOWN.has(k)) this.#unsupported(path, `keyword "${k}"`);
    }
    const constraining = Object.keys(schema).filter((k) => !ANNOTATIONS.has(k));

    if ('$ref' in schema) {
      const ref = schema['$ref'];
      if (typeof ref !== 'string') this.#invalid(path, '$ref must be a string');
      const others = constraining.filter((k) => k !== '$ref');
      if (others.length > 0) this.#unsupported(path, `"${others[0]}" next to $ref`);
      let refs = this.#refRules.get(this.#root);
      if (!refs) {
        refs = new Map();
        this.#refRules.set(this.#root, refs);
      }
      let name = refs.get(ref);
      if (name === undefined) {
        name = this.#name(ref === '#' ? `${hint}-self` : ref.slice(ref.lastIndexOf('/') + 1));
        refs.set(ref, name);
        this.#rules.set(name, ''); // reserve: recursion refers to the name
        this.#rules.set(name, this.visit(this.#resolve(ref, path), name, ref));
      }
      return name;
    }

    if ('const' in schema || 'enum' in schema) return this.#enum(schema, path);

    for (const comb of ['anyOf', 'oneOf'] as const) {
      if (!(comb in schema)) continue;
      const alts = schema[comb];
      if (!Array.isArray(alts) || alts.length === 0) this.#invalid(path, `${comb} must be a non-empty array`);
      const others = constraining.filter((k) => k !== comb);
      if (others.length > 0) this.#unsupported(path, `"${others[0]}" next to ${comb}`);
      const parts = alts.map((s, i) => this.visit(s, `${hint}-${i}`, `${path}/${comb}/${i}`));
      return parts.length === 1 ? parts[0]! : `(${parts.join(' | ')})`;
    }

    if ('allOf' in schema) return this.visit(this.#mergeAllOf(schema, path), hint, path);

    const types = this.#types(schema, path);
    if (types.length === 0) return this.#use('value');
    const parts = types.map((t) => this.#typed(schema, t, types.length > 1 ? `${hint}-${t}` : hint, path));
    return parts.length === 1 ? parts[0]! : `(${parts.join(' | ')})`;
  }

  #types(schema: Schema, path: string): TypeName[] {
    const t = schema['type'];
    if (t !== undefined) {
      const list = Array.isArray(t) ? t : [t];
      if (list.length === 0) this.#invalid(path, 'type must not be an empty array');
      for (const x of list)
        if (!TYPES.includes(x as TypeName)) this.#invalid(path, `unknown type ${show(x)} (one of ${TYPES.join(', ')})`);
      return [...new Set(list as TypeName[])];
    }
    // No type: the keywords present say which type is meant; none at all means any value.
    const implied = Object.keys(BY_TYPE).filter((ty) => BY_TYPE[ty]!.some((k) => k in schema));
    if (implied.length > 1) this.#unsupported(path, `keywords of several types without "type" (${implied.join(', ')})`);
    if (implied.length === 0) return [];
    return [implied[0] as TypeName];
  }

  #typed(schema: Schema, type: TypeName, hint: string, path: string): string {
    switch (type) {
      case 'boolean':
        return this.#use('boolean');
      case 'null':
        return this.#use('null');
      case 'number':
        for (const k of BY_TYPE['number']!)
          if (k in schema) this.#unsupported(path, `"${k}" on a number (integers only)`);
        return this.#use('number');
      case 'integer':
        return this.#integer(schema, hint, path);
      case 'string':
        return this.#string(schema, hint, path);
      case 'array':
        return this.#array(schema, hint, path);
      case 'object':
        return this.#object(schema, hint, path);
    }
  }

  #enum(schema: Schema, path: string): string {
    let values: unknown[];
    if ('const' in schema) values = [schema['const']];
    else {
      const e = schema['enum'];
      if (!Array.isArray(e) || e.length === 0) this.#invalid(path, 'enum must be a non-empty array');
      values = e;
    }
    const others = Object.keys(schema).filter(
      (k) => !ANNOTATIONS.has(k) && k !== 'enum' && k !== 'const' && k !== 'type',
    );
    if (others.length > 0) this.#unsupported(path, `"${others[0]}" next to enum / const`);
    if ('const' in schema && 'enum' in schema) {
      const c = JSON.stringify(schema['const']);
      values = (schema['enum'] as unknown[]).filter((v) => JSON.stringify(v) === c);
    }
    if ('type' in schema) {
      const types = this.#types(schema, path);
      values = values.filter((v) => types.some((t) => valueHasType(v, t)));
    }
    if (values.length === 0) this.#invalid(path, 'no enum / const value has the given type');
    const lits = [...new Set(values.map((v) => gbnfLiteral(JSON.stringify(v))))];
    this.#use('space');
    return `${lits.length === 1 ? lits[0] : `(${lits.join(' | ')})`} space`;
  }

  #mergeAllOf(schema: Schema, path: string): Schema {
    const parts = schema['allOf'];
    if (!Array.isArray(parts) || parts.length === 0) this.#invalid(path, 'allOf must be a non-empty array');
    const merged: Schema = { type: 'object', properties: {}, required: [] };
    const props = merged['properties'] as Schema;
    const required = new Set<string>();
    let closedTo: Set<string> | undefined;
    const add = (s: unknown, p: string): void => {
      if (isObj(s) && typeof s['$ref'] === 'string') {
        const others = Object.keys(s).filter((k) => !ANNOTATIONS.has(k) && k !== '$ref');
        if (others.length > 0) this.#unsupported(p, `"${others[0]}" next to $ref`);
        add(this.#resolve(s['$ref'], p), s['$ref']);
        return;
      }
      if (!isObj(s)) this.#unsupported(p, 'allOf of schemas other than objects');
      for (const k of Object.keys(s)) {
        if (ANNOTATIONS.has(k)) continue;
        if (!KNOWN.has(k)) this.#unsupported(p, `keyword "${k}"`);
        if (k === 'allOf') {
          (s[k] as unknown[]).forEach((x, i) => add(x, `${p}/allOf/${i}`));
          continue;
        }
        if (k === 'type') {
          const t = s[k];
          if (t !== 'object' && !(Array.isArray(t) && t.includes('object')))
            this.#unsupported(p, 'allOf of schemas other than objects');
          continue;
        }
        if (!BY_TYPE['object']!.includes(k)) this.#unsupported(p, `"${k}" in allOf (only object schemas merge)`);
      }
      const ps = s['properties'];
      if (ps !== undefined) {
        if (!isObj(ps)) this.#invalid(p, 'properties must be an object');
        for (const [name, sub] of Object.entries(ps)) {
          if (name in props && JSON.stringify(props[name]) !== JSON.stringify(sub))
            this.#unsupported(p, `allOf giving property "${name}" two different schemas`);
          props[name] = sub;
        }
      }
      const req = s['required'];
      if (req !== undefined) {
        if (!Array.isArray(req)) this.#invalid(p, 'required must be an array');
        for (const r of req) required.add(String(r));
      }
      const ap = s['additionalProperties'];
      if (ap === false) {
        const own = new Set(Object.keys(isObj(ps) ? ps : {}));
        closedTo = closedTo ? new Set([...closedTo].filter((x) => own.has(x))) : own;
      } else if (ap !== undefined && ap !== true) this.#unsupported(p, 'additionalProperties schemas inside allOf');
    };
    const own = Object.fromEntries(Object.entries(schema).filter(([k]) => k !== 'allOf'));
    if (Object.keys(own).some((k) => !ANNOTATIONS.has(k))) add(own, path);
    parts.forEach((x, i) => add(x, `${path}/allOf/${i}`));
    if (closedTo) {
      for (const name of [...Object.keys(props), ...required]) {
        if (!closedTo.has(name)) {
          if (required.has(name))
            this.#invalid(path, `allOf requires "${name}" but another part forbids it (additionalProperties: false)`);
          delete props[name];
        }
      }
      merged['additionalProperties'] = false;
    }
    merged['required'] = [...required];
    return merged;
  }

  #integer(schema: Schema, hint: string, path: string): string {
    const num = (k: string): number | undefined => {
      const v = schema[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v))
        this.#unsupported(path, `${k} ${show(v)} (a number is expected; the draft-04 boolean form is not supported)`);
      return v;
    };
    const limit = 10n ** BigInt(MAX_DIGITS) - 1n;
    let lo = -limit,
      hi = limit;
    const min = num('minimum'),
      max = num('maximum'),
      xmin = num('exclusiveMinimum'),
      xmax = num('exclusiveMaximum');
    const big = (x: number): bigint => BigInt(x);
    if (min !== undefined) lo = bigMax(lo, big(Math.ceil(min)));
    if (xmin !== undefined) lo = bigMax(lo, big(Math.floor(xmin)) + 1n);
    if (max !== undefined) hi = bigMin(hi, big(Math.floor(max)));
    if (xmax !== undefined) hi = bigMin(hi, big(Math.ceil(xmax)) - 1n);
    if (lo === -limit && hi === limit) return this.#use('integer');
    if (lo > hi) this.#invalid(path, 'no integer satisfies minimum / maximum');
    this.#use('space');
    return this.#rule(hint, `(${integerRange(lo, hi)}) space`);
  }

  #string(schema: Schema, hint: string, path: string): string {
    const fmt = schema['format'];
    const pattern = schema['pattern'];
    const minLen = schema['minLength'],
      maxLen = schema['maxLength'];
    const checkLen = (k: string, v: unknown): number | undefined => {
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.#invalid(path, `${k} must be an integer >= 0`);
      return v;
    };
    const lo = checkLen('minLength', minLen) ?? 0;
    const hi = checkLen('maxLength', maxLen) ?? Infinity;
    if (hi < lo) this.#invalid(path, 'maxLength is below minLength');
    const lengths = minLen !== undefined || maxLen !== undefined;
    this.#use('space');
    if (fmt !== undefined) {
      if (typeof fmt !== 'string' || !FORMATS.has(fmt))
        this.#unsupported(path, `format ${show(fmt)} (supported: ${[...FORMATS].join(', ')})`);
      if (pattern !== undefined || lengths) this.#unsupported(path, 'format together with pattern or lengths');
      return `"\\"" ${this.#use(fmt)} "\\"" space`;
    }
    if (pattern !== undefined) {
      if (typeof pattern !== 'string') this.#invalid(path, 'pattern must be a string');
      if (lengths) this.#unsupported(path, 'pattern together with minLength / maxLength');
      return this.#rule(hint, `"\\"" ${patternToGbnf(pattern, this.#use('char'))} "\\"" space`);
    }
    if (!lengths) return this.#use('string');
    this.#use('char');
    return `"\\"" char{${lo},${hi === Infinity ? '' : hi}} "\\"" space`;
  }

  #count(schema: Schema, k: string, path: string): number | undefined {
    const v = schema[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) this.#invalid(path, `${k} must be an integer >= 0`);
    return v;
  }

  #array(schema: Schema, hint: string, path: string): string {
    if (schema['uniqueItems'] === true) this.#unsupported(path, 'uniqueItems: true');
    let prefix: unknown[] = [];
    let rest: unknown = schema['items'];
    if (schema['prefixItems'] !== undefined) {
      if (!Array.isArray(schema['prefixItems'])) this.#invalid(path, 'prefixItems must be an array');
      prefix = schema['prefixItems'];
      if ('additionalItems' in schema) this.#unsupported(path, 'additionalItems with prefixItems (use items)');
    } else if (Array.isArray(rest)) {
      // Draft-07 tuples: items is the prefix, additionalItems the rest.
      prefix = rest;
      rest = schema['additionalItems'];
    } else if ('additionalItems' in schema) {
      rest = schema['items'];
    }
    const minItems = this.#count(schema, 'minItems', path) ?? 0;
    let maxItems = this.#count(schema, 'maxItems', path) ?? Infinity;
    if (rest === false) maxItems = Math.min(maxItems, prefix.length);
    if (maxItems < minItems) this.#invalid(path, 'no array length satisfies minItems / maxItems (and items)');
    this.#use('space');
    if (maxItems === 0) return `"[" space "]" space`;
    const elems = prefix.map((x, i) => this.visit(x, `${hint}-${i}`, `${path}/prefixItems/${i}`));
    let restExpr = '';
    if (maxItems > prefix.length)
      restExpr =
        rest === undefined || rest === true ? this.#use('value') : this.visit(rest, `${hint}-item`, `${path}/items`);
    const itemAt = (i: number): string => elems[i] ?? restExpr;
    // Items i.. after at least one item: each behind a comma; a missing prefix item ends the array.
    const from = (i: number): string => {
      if (i < prefix.length) {
        if (i >= maxItems) return '';
        const body = `"," space ${itemAt(i)} ${from(i + 1)}`;
        return i < minItems ? body : `(${body})?`;
      }
      const lo = Math.max(minItems - i, 0),
        hi = maxItems - i;
      if (hi <= 0) return '';
      return `("," space ${restExpr}){${lo},${hi === Infinity ? '' : hi}}`;
    };
    const items = `${itemAt(0)} ${from(1)}`;
    const inner = minItems > 0 ? items : `(${items})?`;
    return this.#rule(hint, `"[" space ${inner} "]" space`.replace(/\s+/g, ' '));
  }

  #object(schema: Schema, hint: string, path: string): string {
    const ps = schema['properties'] ?? {};
    if (!isObj(ps)) this.#invalid(path, 'properties must be an object');
    const req = schema['required'] ?? [];
    if (!Array.isArray(req) || !req.every((x) => typeof x === 'string'))
      this.#invalid(path, 'required must be an array of strings');
    const required = new Set(req);
    const ap = schema['additionalProperties'];
    this.#use('space');
    const kv = (name: string, sub: unknown, p: string): string => {
      const value = this.visit(sub, `${hint}-${name}`, p);
      return `${gbnfLiteral(JSON.stringify(name))} space ":" space ${value}`;
    };
    const items: Array<{ kv: string; required: boolean }> = [];
    for (const [name, sub] of Object.entries(ps)) {
      items.push({ kv: kv(name, sub, `${path}/properties/${name}`), required: required.has(name) });
    }
    for (const name of required) {
      if (name in ps) continue;
      if (ap === false) this.#invalid(path, `"${name}" is required but additionalProperties is false`);
      items.push({ kv: kv(name, ap === undefined ? true : ap, `${path}/additionalProperties`), required: true });
    }
    let extra = '';
    if (ap !== undefined && ap !== false) {
      const names = [...Object.keys(ps), ...required];
      const key = this.#rule(`${hint}-extra-key`, keyNotIn(names));
      const value = this.visit(ap, `${hint}-extra-value`, `${path}/additionalProperties`);
      extra = this.#rule(`${hint}-extra-kv`, `${key} space ":" space ${value}`);
    }
    // after[i]: items i.. once something came before (each behind a comma), named as a rule
    // since first[] uses it too; first[i]: items i.. with nothing before.
    const n = items.length;
    const afterRef: string[] = [];
    const first: string[] = [];
    afterRef[n] = extra ? this.#rule(`${hint}-more`, `("," space ${extra})*`) : '';
    first[n] = extra ? `(${extra} ${afterRef[n]})?` : '';
    for (let i = n - 1; i >= 0; i--) {
      const it = items[i]!;
      const tail = afterRef[i + 1]!;
      const own = it.required ? `"," space ${it.kv}` : `("," space ${it.kv})?`;
      afterRef[i] = i === 0 ? '' : this.#rule(`${hint}-after-${i}`, `${own} ${tail}`.trim());
      const f = `${it.kv} ${tail}`.trim();
      first[i] = it.required ? f : `(${f} | ${first[i + 1] || '""'})`;
    }
    const body = first[0] ?? '';
    return this.#rule(hint, `"{" space ${body} "}" space`.replace(/\s+/g, ' '));
  }
}

function valueHasType(v: unknown, t: TypeName): boolean {
  switch (t) {
    case 'null':
      return v === null;
    case 'boolean':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'array':
      return Array.isArray(v);
    case 'object':
      return isObj(v);
  }
}

const bigMax = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const bigMin = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/** GBNF for the decimal digits of the integers in [a, b] (equal lengths, a <= b), parenthesized if needed. */
function sameLength(a: string, b: string): string {
  const n = a.length;
  if (n === 0) return '""';
  if (a === b) return gbnfLiteral(a);
  if (n === 1) return gbnfClass([[a.charCodeAt(0), b.charCodeAt(0)]]);
  const a0 = a.charCodeAt(0) - 48,
    b0 = b.charCodeAt(0) - 48;
  const ra = a.slice(1),
    rb = b.slice(1);
  if (a0 === b0) return `("${a0}" ${sameLength(ra, rb)})`;
  const nines = '9'.repeat(n - 1),
    zeros = '0'.repeat(n - 1);
  const alts: string[] = [];
  // A first digit whose tail can be anything joins the middle range.
  const lo = ra === zeros ? a0 : a0 + 1;
  const hi = rb === nines ? b0 : b0 - 1;
  if (lo === a0 + 1) alts.push(`"${a0}" ${sameLength(ra, nines)}`);
  if (lo <= hi) alts.push(`${gbnfClass([[48 + lo, 48 + hi]])} [0-9]{${n - 1}}`);
  if (hi === b0 - 1) alts.push(`"${b0}" ${sameLength(zeros, rb)}`);
  return alts.length === 1 ? `(${alts[0]})` : `(${alts.join(' | ')})`;
}

/** GBNF for the non-negative integers in [lo, hi] without leading zeros. */
function nonNegative(lo: bigint, hi: bigint): string {
  const alts: string[] = [];
  for (let len = lo.toString().length; len <= hi.toString().length; len++) {
    const min = bigMax(lo, len === 1 ? 0n : 10n ** BigInt(len - 1));
    const max = bigMin(hi, 10n ** BigInt(len) - 1n);
    if (min <= max) alts.push(sameLength(min.toString(), max.toString()));
  }
  return alts.join(' | ');
}

/** GBNF for the JSON integers in [lo, hi] (no "-0"). */
export function integerRange(lo: bigint, hi: bigint): string {
  const alts: string[] = [];
  if (lo < 0n) {
    const nlo = hi < 0n ? -hi : 1n;
    alts.push(`"-" (${nonNegative(nlo, -lo)})`);
  }
  if (hi >= 0n) alts.push(nonNegative(bigMax(lo, 0n), hi));
  return alts.join(' | ');
}

/**
 * GBNF for a JSON object key (quotes included) that is none of `names`.
 * Keys outside `names` are written without escapes, so a key can't spell a
 * listed name in disguise ("\u0061" for "a").
 */
function keyNotIn(names: string[]): string {
  const keyChar = '[^"\\\\\\x7F\\x00-\\x1F]';
  interface TrieNode {
    end: boolean;
    kids: Map<number, TrieNode>;
  }
  const root: TrieNode = { end: false, kids: new Map() };
  for (const name of names) {
    let n = root;
    for (const ch of name) {
      const cp = ch.codePointAt(0)!;
      let k = n.kids.get(cp);
      if (!k) {
        k = { end: false, kids: new Map() };
        n.kids.set(cp, k);
      }
      n = k;
    }
    n.end = true;
  }
  // Strings that leave the trie, or stop at a node that is not a name.
  const rest = (n: TrieNode): string => {
    const alts: string[] = [];
    if (!n.end) alts.push('""');
    const kids = [...n.kids.keys()].sort((x, y) => x - y);
    const ranges: Array<[number, number]> = [];
    let next = 0x20;
    for (const cp of [...kids, 0x110000]) {
      if (cp > next) ranges.push([next, cp - 1]);
      next = cp + 1;
    }
    // Exclude " \ and DEL from the "other character" class.
    const other = ranges
      .flatMap(([a, b]) => splitOut([a, b], [0x22, 0x5c, 0x7f]))
      .filter(([a, b]) => a <= b && !(a >= 0xd800 && b <= 0xdfff));
    if (other.length > 0) alts.push(`${gbnfClass(other)} ${keyChar}*`);
    for (const cp of kids) {
      if (cp === 0x22 || cp === 0x5c || cp < 0x20 || cp === 0x7f) continue; // never written unescaped
      alts.push(`${gbnfLiteral(String.fromCodePoint(cp))} (${rest(n.kids.get(cp)!)})`);
    }
    return alts.join(' | ');
  };
  return `"\\"" (${rest(root)}) "\\""`;
}

function splitOut([a, b]: [number, number], cps: number[]): Array<[number, number]> {
  let parts: Array<[number, number]> = [[a, b]];
  for (const c of cps) {
    parts = parts.flatMap(([x, y]): Array<[number, number]> =>
      c < x || c > y
        ? [[x, y]]
        : (
            [
              [x, c - 1],
              [c + 1, y],
            ] as Array<[number, number]>
          ).filter(([p, q]) => p <= q),
    );
  }
  return parts;
}

/** GBNF whose sentences are exactly JSON documents valid against `schema` (see the module comment for the subset). */
export function jsonSchemaToGbnf(schema: unknown): string {
  const b = new SchemaGrammarBuilder();
  return b.gbnf(b.add(schema, 'root'));
}
