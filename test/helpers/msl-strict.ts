/**
 * The strict kernel check (issue 14 item 13): Metal Shading Language rules that
 * compiling the kernels as plain C++ (metal-sim) cannot see, checked with clang
 * on Linux. Three passes over a Metal source (normally the embedded library,
 * scripts/embed-kernels.js):
 *  1. preprocess (clang -E, __METAL_VERSION__ defined, an empty <metal_stdlib>),
 *     then read every [[attribute]]: it must be one of MSL's, on a parameter of
 *     a `kernel` function (host_name / max_total_threads_per_threadgroup on the
 *     function), with a parameter type MSL accepts for it (buffer: a device or
 *     constant pointer/reference; threadgroup: a threadgroup pointer; position
 *     builtins: uint/ushort scalars or vectors; index builtins: uint/ushort),
 *     each index and builtin once per kernel;
 *  2. compile (clang -fsyntax-only -Werror -Wdouble-promotion, C++17, no
 *     exceptions, no RTTI, no system headers) against test/metal-strict/metal_stdlib.h,
 *     where the address spaces are real clang address spaces and half is _Float16;
 *  3. walk clang's AST (JSON) of the kernel code: no address-space conversions,
 *     no function pointers or references to functions, no recursion (a cycle in
 *     the call graph, template instantiations included), program-scope variables
 *     only in `constant`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const STDLIB = path.join(__dirname, '..', 'metal-strict', 'metal_stdlib.h');

/** clang 15 or newer (for _Float16 on x86-64 and __builtin_bit_cast), or undefined. */
export function findClang(): string | undefined {
  for (const c of ['clang++-16', 'clang++-17', 'clang++-18', 'clang++-15', 'clang++']) {
    const r = spawnSync(c, ['--version'], { encoding: 'utf8' });
    const m = r.status === 0 ? /clang version (\d+)/.exec(r.stdout) : null;
    if (m && Number(m[1]) >= 15) return c;
  }
  return undefined;
}

// MSL attributes of kernel parameters (MSL spec 5.2.3.1, 5.2.1), and of kernel functions.
const POSITION = new Set([
  'thread_position_in_grid',
  'thread_position_in_threadgroup',
  'threadgroup_position_in_grid',
  'threads_per_grid',
  'threads_per_threadgroup',
  'threadgroups_per_grid',
  'dispatch_threads_per_threadgroup',
  'grid_origin',
  'grid_size',
]);
const INDEX = new Set([
  'thread_index_in_threadgroup',
  'thread_index_in_simdgroup',
  'thread_index_in_quadgroup',
  'simdgroup_index_in_threadgroup',
  'quadgroup_index_in_threadgroup',
  'simdgroups_per_threadgroup',
  'quadgroups_per_threadgroup',
  'threads_per_simdgroup',
  'dispatch_simdgroups_per_threadgroup',
  'dispatch_quadgroups_per_threadgroup',
]);
const RESOURCE = new Set(['buffer', 'threadgroup', 'texture', 'sampler']);
const FUNCTION_ATTRS = new Set(['host_name', 'max_total_threads_per_threadgroup']);
const UINT_TYPES = new Set(['uint', 'ushort']);
const UINT_VECTORS = new Set(['uint', 'uint2', 'uint3', 'ushort', 'ushort2', 'ushort3']);

export interface Diagnostic {
  pass: 'attributes' | 'compile' | 'ast';
  message: string;
}

interface Attr {
  name: string;
  arg: string;
}
function parseAttrs(text: string): Attr[] {
  const out: Attr[] = [];
  for (const m of text.matchAll(/\[\[(.*?)\]\]/g))
    for (const part of m[1]!.split(/,(?![^(]*\))/)) {
      const a = /^\s*([A-Za-z_][\w:]*)\s*(?:\((.*)\))?\s*$/.exec(part);
      out.push(a ? { name: a[1]!, arg: (a[2] ?? '').trim() } : { name: part.trim(), arg: '' });
    }
  return out;
}

/** The index of the parenthesis closing the one at `open`. */
function closing(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth === 0) return i;
  }
  return -1;
}

/** Pass 1 on preprocessed text: checks every attribute; returns the text with them removed. */
export function checkAttributes(pre: string, diags: Diagnostic[]): string {
  const err = (message: string): void => void diags.push({ pass: 'attributes', message });
  const allowed = new Set<number>(); // offsets of [[ that were checked in a legal place
  for (const k of pre.matchAll(/((?:\[\[[^\]]*\]\]\s*)*)\bkernel\s+void\s+(\w+)\s*\(/g)) {
    const name = k[2]!;
    const fnAttrStart = k.index;
    for (const a of parseAttrs(k[1]!))
      if (!FUNCTION_ATTRS.has(a.name)) err(`kernel ${name}: [[${a.name}]] is not an MSL kernel function attribute`);
    for (const m of k[1]!.matchAll(/\[\[/g)) allowed.add(fnAttrStart + m.index);
    const open = k.index + k[0].length - 1;
    const close = closing(pre, open);
    if (close < 0) {
      err(`kernel ${name}: unbalanced parameter list`);
      continue;
    }
    const params: Array<[string, number]> = [];
    let depth = 0,
      start = open + 1;
    for (let i = open + 1; i < close; i++) {
      const c = pre[i];
      if (c === '(' || c === '<' || c === '[') depth++;
      else if (c === ')' || c === '>' || c === ']') depth--;
      else if (c === ',' && depth === 0) {
        params.push([pre.slice(start, i), start]);
        start = i + 1;
      }
    }
    params.push([pre.slice(start, close), start]);
    const used = new Map<string, string>();
    for (const [p, at] of params) {
      const attrText = /(\[\[.*\]\])\s*$/.exec(p);
      const decl = (attrText ? p.slice(0, attrText.index) : p).replace(/\s+/g, ' ').trim();
      const pname = /(\w+)$/.exec(decl)?.[1] ?? '?';
      const type = decl.slice(0, decl.length - pname.length).trim();
      const attrs = attrText ? parseAttrs(attrText[1]!) : [];
      if (attrText) for (const m of attrText[1]!.matchAll(/\[\[/g)) allowed.add(at + attrText.index + m.index);
      const where = `kernel ${name}, parameter ${pname}`;
      if (attrs.length === 0) err(`${where}: a kernel parameter needs an attribute ([[buffer(n)]], a builtin, ...)`);
      const words = new Set(type.split(/[\s*&]+/).filter(Boolean));
      const isRef = /[*&]/.test(type);
      const base = [...words].filter((w) => !['const', 'volatile', 'device', 'constant', 'threadgroup'].includes(w));
      for (const a of attrs) {
        const key = RESOURCE.has(a.name) ? `${a.name}(${a.arg})` : a.name;
        if (used.has(key)) err(`${where}: [[${key}]] already used by parameter ${used.get(key)}`);
        used.set(key, pname);
        if (a.name === 'buffer') {
          if (!/^\d+$/.test(a.arg) || Number(a.arg) > 30) err(`${where}: [[buffer(${a.arg})]] needs an index 0..30`);
          if (!isRef || !(words.has('device') || words.has('constant')))
            err(`${where}: [[buffer]] needs a device or constant pointer or reference, not '${type}'`);
        } else if (a.name === 'threadgroup') {
          if (!/^\d+$/.test(a.arg) || Number(a.arg) > 30)
            err(`${where}: [[threadgroup(${a.arg})]] needs an index 0..30`);
          if (!type.includes('*') || !words.has('threadgroup'))
            err(`${where}: [[threadgroup]] needs a threadgroup pointer, not '${type}'`);
        } else if (POSITION.has(a.name)) {
          if (isRef || base.length !== 1 || !UINT_VECTORS.has(base[0]!))
            err(`${where}: [[${a.name}]] takes uint, uint2, uint3 or the ushort forms, not '${type}'`);
        } else if (INDEX.has(a.name)) {
          if (isRef || base.length !== 1 || !UINT_TYPES.has(base[0]!))
            err(`${where}: [[${a.name}]] takes uint or ushort, not '${type}'`);
        } else if (RESOURCE.has(a.name)) {
          err(`${where}: [[${a.name}]] (textures and samplers are not used by these kernels)`);
        } else {
          err(`${where}: [[${a.name}]] is not an MSL attribute`);
        }
      }
    }
  }
  for (const m of pre.matchAll(/\[\[(.*?)\]\]/g))
    if (!allowed.has(m.index))
      err(`[[${m[1]}]] outside a kernel signature (MSL attributes belong to kernel functions and their parameters)`);
  // Same length per line, so clang's columns still match the preprocessed text.
  return pre.replace(/\[\[.*?\]\]/g, (a) => ' '.repeat(a.length));
}

// ---- pass 3: clang's AST ----------------------------------------------------------------------
interface Loc {
  file?: string;
  line?: number;
  presumedFile?: string; // the #line / linemarker view: kernels/<file>
  presumedLine?: number;
  includedFrom?: { file: string };
  spellingLoc?: Loc;
  expansionLoc?: Loc;
}
interface AstNode {
  id?: string;
  kind?: string;
  name?: string;
  loc?: Loc;
  range?: { begin?: Loc };
  type?: { qualType?: string; desugaredQualType?: string };
  castKind?: string;
  opcode?: string;
  storageClass?: string;
  referencedDecl?: { id: string; kind: string; name?: string };
  referencedMemberDecl?: string;
  inner?: AstNode[];
}

const FUNCTION_KINDS = new Set(['FunctionDecl', 'CXXMethodDecl', 'CXXConstructorDecl', 'CXXConversionDecl']);

export function checkAst(ast: AstNode, stdlib: string, diags: Diagnostic[]): void {
  const err = (where: string, message: string): void =>
    void diags.push({ pass: 'ast', message: `${where}: ${message}` });
  const names = new Map<string, string>(); // function decl id -> name
  const edges = new Map<string, Set<string>>(); // caller id -> callee ids
  const where = { file: '?', line: 0 };
  const track = (l?: Loc): void => {
    if (!l) return;
    const s = l.expansionLoc ?? l.spellingLoc ?? l;
    const file = s.presumedFile ?? s.file;
    if (file) where.file = file;
    const line = s.presumedLine ?? s.line;
    if (line) where.line = line;
  };
  const at = (): string => `${where.file}:${where.line}`;
  const fnType = (t?: { qualType?: string; desugaredQualType?: string }): boolean =>
    !!t && /\((?:\*|&|\^)/.test(`${t.qualType ?? ''} ${t.desugaredQualType ?? ''}`);

  function visit(n: AstNode, parent: AstNode | undefined, fn: string | undefined, top: boolean): void {
    track(n.loc);
    track(n.range?.begin);
    const k = n.kind ?? '';
    let current = fn;
    if (FUNCTION_KINDS.has(k) && n.id && (n.inner ?? []).some((c) => c.kind === 'CompoundStmt')) {
      current = n.id;
      names.set(n.id, n.name ?? '?');
    }
    if (n.castKind === 'AddressSpaceConversion')
      err(at(), `an address-space cast to '${n.type?.qualType}' (MSL has no casts between address spaces)`);
    if (n.castKind === 'FunctionToPointerDecay' && !(parent?.kind?.endsWith('CallExpr') && parent.inner?.[0] === n))
      err(at(), 'a function used as a pointer (MSL has no function pointers)');
    if (k === 'UnaryOperator' && n.opcode === '&' && n.inner?.[0]?.kind === 'DeclRefExpr') {
      const r = n.inner[0].referencedDecl;
      if (r && FUNCTION_KINDS.has(r.kind))
        err(at(), `the address of function ${r.name} (MSL has no function pointers)`);
    }
    if (['VarDecl', 'ParmVarDecl', 'FieldDecl', 'TypedefDecl', 'TypeAliasDecl'].includes(k) && fnType(n.type))
      err(at(), `${n.name}: a pointer or reference to a function (MSL has none)`);
    if (k === 'VarDecl' && top && !/address_space\(2\)|\bconstant\b/.test(n.type?.qualType ?? ''))
      err(at(), `program-scope variable ${n.name} outside the constant address space`);
    if (current && (k === 'DeclRefExpr' || k === 'MemberExpr')) {
      const callee = k === 'DeclRefExpr' ? n.referencedDecl : undefined;
      const id = callee && FUNCTION_KINDS.has(callee.kind) ? callee.id : n.referencedMemberDecl;
      if (id) {
        if (!edges.has(current)) edges.set(current, new Set());
        edges.get(current)!.add(id);
      }
    }
    const childTop = top && (k === 'TranslationUnitDecl' || k === 'NamespaceDecl' || k === 'LinkageSpecDecl');
    for (const c of n.inner ?? []) visit(c, n, current, childTop);
  }

  // Top-level declarations from the stand-in header are the library, not kernel code.
  for (const d of ast.inner ?? []) {
    track(d.loc);
    track(d.range?.begin);
    if (path.resolve(where.file) === path.resolve(stdlib) || where.file === '?') continue;
    visit(d, ast, undefined, true);
  }

  // Recursion: a cycle among functions with bodies in the kernel code.
  const state = new Map<string, number>(); // 1: on the stack, 2: done
  const stack: string[] = [];
  const dfs = (f: string): void => {
    state.set(f, 1);
    stack.push(f);
    for (const g of edges.get(f) ?? []) {
      if (!names.has(g)) continue;
      if (state.get(g) === 1) {
        const cycle = stack.slice(stack.indexOf(g)).map((id) => names.get(id));
        err(names.get(g)!, `recursion (${[...cycle, names.get(g)].join(' -> ')}); MSL does not allow it`);
      } else if (!state.has(g)) dfs(g);
    }
    stack.pop();
    state.set(f, 2);
  };
  for (const f of names.keys()) if (!state.has(f)) dfs(f);
}

/** Runs the three passes on a Metal source; an empty list means it passed. */
export function strictCheck(clang: string, source: string, name = 'input.metal'): Diagnostic[] {
  const diags: Diagnostic[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'minimacllm-msl-strict-'));
  try {
    const empty = path.join(dir, 'phase1');
    fs.mkdirSync(empty);
    fs.writeFileSync(path.join(empty, 'metal_stdlib'), '');
    const input = path.join(dir, name);
    fs.writeFileSync(input, source);
    const common = ['-x', 'c++', '-std=c++17', '-nostdinc', '-nostdinc++'];
    const pre = spawnSync(clang, [...common, '-E', '-D__METAL_VERSION__=230', '-I', empty, input], {
      encoding: 'utf8',
      maxBuffer: 256 << 20,
    });
    if (pre.status !== 0) {
      diags.push({ pass: 'compile', message: `preprocessing failed:\n${pre.stderr}` });
      return diags;
    }
    const stripped = path.join(dir, 'stripped.cc');
    fs.writeFileSync(stripped, checkAttributes(pre.stdout, diags));
    const astFile = path.join(dir, 'ast.json');
    const flags = [
      ...common,
      '-fsyntax-only',
      '-fno-exceptions',
      '-fno-rtti',
      '-Wall',
      '-Wdouble-promotion',
      '-Werror',
      '-ferror-limit=50',
      '-include',
      STDLIB,
    ];
    const cc = spawnSync(clang, [...flags, stripped], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (cc.status !== 0) {
      diags.push({ pass: 'compile', message: cc.stderr.trim() });
      return diags;
    }
    const fd = fs.openSync(astFile, 'w');
    const dump = spawnSync(clang, [...flags, '-Xclang', '-ast-dump=json', stripped], {
      stdio: ['ignore', fd, 'pipe'],
      encoding: 'utf8',
    });
    fs.closeSync(fd);
    if (dump.status !== 0) {
      diags.push({ pass: 'compile', message: `AST dump failed:\n${dump.stderr}` });
      return diags;
    }
    checkAst(JSON.parse(fs.readFileSync(astFile, 'utf8')) as AstNode, STDLIB, diags);
    return diags;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
