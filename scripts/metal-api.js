#!/usr/bin/env node
// The Metal host's API, checked against Apple's own declarations (issue 14,
// check 14). native/metal/stubs/ declares, in Objective-C, exactly the
// Foundation/Metal API native/metal/*.mm uses; this module reads those stubs
// and compares every selector (name, argument and return types, class or
// instance), property (and whether it can be set), enum value, C function and
// struct field with the facts recorded from Apple's metal-cpp headers in
// native/metal/stubs/metal-cpp-api.json.
//
//   node scripts/metal-api.js record <metal-cpp dir> "<revision>"   re-records the facts
//   node scripts/metal-api.js check                                  compares the stubs with them
//
// Objective-C types are compared in metal-cpp's spelling (NSUInteger ->
// NS::UInteger, id<MTLBuffer> -> MTL::Buffer*, MTLSize -> MTL::Size); `const`
// is ignored (metal-cpp adds it to pointer parameters Objective-C leaves bare).
'use strict';
const fs = require('fs');
const path = require('path');

const stubsDir = path.join(__dirname, '..', 'native', 'metal', 'stubs');
const factsFile = path.join(stubsDir, 'metal-cpp-api.json');

// ---- the stubs (Objective-C) ---------------------------------------------------------------

/** Objective-C class/protocol name -> metal-cpp class. */
function cppClass(objc) {
  if (objc.startsWith('MTL')) return 'MTL::' + objc.slice(3);
  if (objc.startsWith('NS')) return 'NS::' + objc.slice(2);
  throw new Error(`no metal-cpp class for ${objc}`);
}

/** An Objective-C type as metal-cpp spells it (const dropped, no spaces). */
function cppType(objc, owner) {
  let t = objc
    .replace(/\bconst\b/g, '')
    .replace(/\s+/g, ' ')
    .trim();
  const block = /^void \(\^\)\((.*)\)$/.exec(t);
  if (block) {
    const params = block[1].split(',').map((p) => cppType(p.trim().replace(/\s+\w+$/, ''), owner));
    return `void(^)(${params.join(',')})`;
  }
  t = t.replace(/\s+/g, '');
  if (t === 'instancetype') return owner + '*';
  if (t === 'ObjectType') return 'id';
  if (/^NSArray<.*>\*$/.test(t)) return 'NS::Array*';
  let m = /^id<(\w+)>$/.exec(t);
  if (m) return cppClass(m[1]) + '*';
  const simple = { NSUInteger: 'NS::UInteger', NSInteger: 'NS::Integer', BOOL: 'bool', void: 'void', char: 'char' };
  m = /^(\w+)(\**)$/.exec(t);
  if (!m) throw new Error(`cannot map the Objective-C type ${objc}`);
  const base = simple[m[1]] ?? cppClass(m[1]);
  return base + m[2];
}

function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
}

/**
 * Everything the stubs declare: methods/properties per class, enum values,
 * C functions and struct fields, each as { key, decl } with decl in metal-cpp
 * spelling.
 */
function parseStubs(texts) {
  const out = [];
  for (const raw of texts) {
    const text = stripComments(raw);
    for (const blk of text.matchAll(/@(?:protocol|interface)\s+(\w+)(?:<[^>]*>)?[^\n]*\n([\s\S]*?)@end/g)) {
      const owner = cppClass(blk[1]);
      const body = blk[2].replace(/\s+/g, ' ');
      for (const d of body.split(';')) {
        const s = d.trim();
        if (!s) continue;
        const prop = /^@property\s*(?:\(([^)]*)\))?\s*(.+?)\s*(\w+)$/.exec(s);
        if (prop) {
          const readonly = /\breadonly\b/.test(prop[1] ?? '');
          out.push({
            key: `${owner} ${prop[3]}`,
            decl: { kind: 'property', returns: cppType(prop[2], owner), settable: !readonly },
          });
          continue;
        }
        const meth = /^([-+])\s*\(([^)]*(?:\([^)]*\)[^)]*)?)\)\s*(.*)$/.exec(s);
        if (!meth) throw new Error(`cannot read the stub declaration: ${s}`);
        const rest = meth[3];
        const parts = [...rest.matchAll(/(\w+)\s*:\s*\(((?:[^()]|\([^()]*\))*)\)\s*\w+/g)];
        const selector = parts.length ? parts.map((p) => p[1] + ':').join('') : rest.trim();
        out.push({
          key: `${owner} ${selector}`,
          decl: {
            kind: meth[1] === '+' ? 'class method' : 'method',
            returns: cppType(meth[2], owner),
            params: parts.map((p) => cppType(p[2], owner)),
          },
        });
      }
    }
    for (const e of text.matchAll(/NS_(?:ENUM|OPTIONS)\s*\(\s*(\w+)\s*,\s*(\w+)\s*\)\s*\{([^}]*)\}/g)) {
      const underlying = cppType(e[1]);
      for (const v of e[3].matchAll(/(\w+)\s*=\s*([^,]+)/g)) {
        out.push({
          key: `enum ${v[1]}`,
          decl: { kind: 'enum value', type: cppClass(e[2]), underlying, value: evalInt(v[2]) },
        });
      }
    }
    for (const f of text.matchAll(/^\s*(id<\w+>|NSArray<[^;(]*>\s*\*)\s+(\w+)\s*\(void\)/gm)) {
      out.push({ key: `function ${f[2]}`, decl: { kind: 'function', returns: cppType(f[1]), params: [] } });
    }
    for (const s of text.matchAll(/typedef struct \{([^}]*)\}\s*(\w+);/g)) {
      for (const line of s[1].split(';')) {
        const m = /^\s*(\w+)\s+(.+)$/.exec(line);
        if (!m) continue;
        for (const name of m[2].split(',')) {
          out.push({ key: `field ${cppClass(s[2])}.${name.trim()}`, decl: { kind: 'field', type: cppType(m[1]) } });
        }
      }
    }
    for (const f of text.matchAll(/static inline (\w+) (\w+)\(([^)]*)\)/g)) {
      const params = f[3].split(',').map((p) => cppType(p.trim().replace(/\s+\w+$/, '')));
      out.push({ key: `function ${f[2]}`, decl: { kind: 'function', returns: cppType(f[1]), params } });
    }
  }
  return out;
}

function evalInt(expr) {
  const e = expr.trim();
  if (!/^[\d\s()+<*-]+$/.test(e)) throw new Error(`not an integer expression: ${e}`);
  return Function(`"use strict"; return (${e});`)();
}

function readStubs() {
  return parseStubs(
    ['Foundation/Foundation.h', 'Metal/Metal.h'].map((f) => fs.readFileSync(path.join(stubsDir, f), 'utf8')),
  );
}

// ---- metal-cpp (C++) ----------------------------------------------------------------------

function norm(t, ns) {
  let s = t.replace(/\bconst\b/g, '').replace(/\s+/g, '');
  if (s === '_Object*') return 'id';
  // Foundation spells its own types unqualified inside namespace NS.
  if (ns === 'NS' && /^(UInteger|Integer|String|Error|Array|Object|StringEncoding)\b/.test(s)) s = 'NS::' + s;
  return s;
}

function splitParams(list, ns) {
  if (!list.trim()) return [];
  const params = [];
  let depth = 0,
    cur = '';
  for (const ch of list) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      params.push(cur);
      cur = '';
    } else cur += ch;
  }
  params.push(cur);
  return params.map((p) => {
    const b = /void\s*\(\^\s*\w*\)\s*\(([^)]*)\)/.exec(p);
    if (b)
      return `void(^)(${b[1]
        .split(',')
        .map((x) => norm(x, ns))
        .join(',')})`;
    return norm(p.trim().replace(/\s*\b\w+$/, ''), ns);
  });
}

/** Every fact of the metal-cpp tree that the stubs ask about. */
function recordFacts(dir, wanted) {
  const files = { NS: [], MTL: [] };
  for (const [sub, ns] of [
    ['Foundation', 'NS'],
    ['Metal', 'MTL'],
  ]) {
    for (const f of fs.readdirSync(path.join(dir, sub)).sort()) {
      if (f.endsWith('.hpp')) files[ns].push(fs.readFileSync(path.join(dir, sub, f), 'utf8'));
    }
  }
  const all = [...files.NS, ...files.MTL].join('\n');
  const facts = {};
  // Methods: an inline definition whose body sends the selector.
  const defRe =
    /_(?:MTL|NS)_INLINE\s+([\w:*\s]+?)\s*(NS|MTL)::(\w+)::(\w+)\(([^)]*(?:\([^)]*\)[^)]*)*)\)\s*(?:const)?\s*\{\s*(?:return\s+)?Object::sendMessage(?:Safe)?<[^>]+>\(\s*(this|_(?:NS|MTL)_PRIVATE_CLS\(\w+\))\s*,\s*_(?:MTL|NS)_PRIVATE_SEL\((\w+)\)/g;
  for (const m of all.matchAll(defRe)) {
    const [, ret, ns, cls, , params, receiver, sel] = m;
    const owner = `${ns}::${cls}`;
    const selector = sel.replace(/_/g, ':');
    const key = `${owner} ${selector}`;
    (facts[key] ??= []).push({
      kind: receiver === 'this' ? 'method' : 'class method',
      returns: norm(ret, ns),
      params: splitParams(params, ns),
    });
  }
  // Enum values.
  for (const [ns, texts] of Object.entries(files)) {
    for (const e of texts
      .join('\n')
      .matchAll(/_(?:MTL|NS)_(?:ENUM|OPTIONS)\(\s*([\w:]+)\s*,\s*(\w+)\s*\)\s*\{([^}]*)\}/g)) {
      for (const v of e[3].matchAll(/(\w+)\s*=\s*([^,\n]+)/g)) {
        const objcName = (ns === 'MTL' ? 'MTL' : 'NS') + v[1];
        let value;
        try {
          value = evalInt(v[2]);
        } catch {
          continue;
        }
        facts[`enum ${objcName}`] = [{ kind: 'enum value', type: `${ns}::${e[2]}`, underlying: norm(e[1], ns), value }];
      }
    }
  }
  // C functions.
  for (const f of all.matchAll(/extern\s+"C"\s+([\w:*\s]+?)\s*(MTL\w+)\(\s*\)\s*;/g)) {
    facts[`function ${f[2]}`] = [{ kind: 'function', returns: norm(f[1], 'MTL'), params: [] }];
  }
  // MTL::Size: its fields, and Make (MTLSizeMake in Objective-C).
  const size = /struct Size\s*\{([^}]*)\}/.exec(all);
  if (size) {
    for (const m of size[1].matchAll(/^\s*NS::UInteger\s+(\w+);/gm)) {
      facts[`field MTL::Size.${m[1]}`] = [{ kind: 'field', type: 'NS::UInteger' }];
    }
    const make = /static\s+Size\s+Make\(([^)]*)\)/.exec(size[1]);
    if (make) {
      facts['function MTLSizeMake'] = [{ kind: 'function', returns: 'MTL::Size', params: splitParams(make[1], 'MTL') }];
    }
  }
  // Properties: a getter method; settable when metal-cpp also has set<Name>:.
  const out = {};
  for (const { key, decl } of wanted) {
    if (decl.kind === 'property') {
      const [owner, name] = key.split(' ');
      const getter = facts[key]?.find((f) => f.kind === 'method' && f.params.length === 0);
      if (!getter) continue;
      const setter = facts[`${owner} set${name[0].toUpperCase()}${name.slice(1)}:`];
      out[key] = { kind: 'property', returns: getter.returns, settable: Boolean(setter) };
    } else if (facts[key]) {
      // The one declaration matching the stub's shape (a selector may have several
      // overloads in C++ only in name, never in selector; keep the first).
      out[key] = facts[key][0];
    }
  }
  // alloc and init are NSObject's (metal-cpp templates them): recorded as selectors.
  for (const sel of ['alloc', 'init']) {
    if (new RegExp(`_NS_PRIVATE_DEF_SEL\\(${sel},`).test(all)) {
      out[`NS::Object ${sel}`] = {
        kind: sel === 'alloc' ? 'class method' : 'method',
        returns: 'NS::Object*',
        params: [],
      };
    }
  }
  return out;
}

// ---- comparing ---------------------------------------------------------------------------

/** Differences between the stubs' declarations and the facts ([] when they agree). */
function compare(declared, facts) {
  const problems = [];
  for (const { key, decl } of declared) {
    const fact = facts.api[key];
    if (!fact) {
      problems.push(`${key}: not among the metal-cpp facts (${facts.revision}); record them again`);
      continue;
    }
    const a = JSON.stringify(decl),
      b = JSON.stringify(fact);
    if (a !== b) problems.push(`${key}: the stub declares ${a}, metal-cpp ${b}`);
  }
  return problems;
}

function main(argv) {
  if (argv[0] === 'record') {
    const [, dir, revision] = argv;
    if (!dir || !revision) throw new Error('usage: metal-api.js record <metal-cpp dir> "<revision>"');
    const declared = readStubs();
    const api = recordFacts(dir, declared);
    fs.writeFileSync(factsFile, JSON.stringify({ source: "Apple's metal-cpp", revision, api }, null, 2) + '\n');
    const problems = compare(declared, { revision, api });
    for (const p of problems) console.error(p);
    process.exit(problems.length ? 1 : 0);
  }
  if (argv[0] === 'check') {
    const problems = compare(readStubs(), JSON.parse(fs.readFileSync(factsFile, 'utf8')));
    for (const p of problems) console.error(p);
    process.exit(problems.length ? 1 : 0);
  }
  console.error('usage: metal-api.js record <metal-cpp dir> "<revision>" | check');
  process.exit(2);
}

if (require.main === module) main(process.argv.slice(2));
module.exports = { parseStubs, readStubs, compare, recordFacts, factsFile };
