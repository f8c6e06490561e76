/**
 * The layering rules of DEVELOPERS.md, checked on lib/'s import graph (every
 * import and re-export, `import type` included, resolved with TypeScript's own
 * parser):
 *  - no import cycles;
 *  - format parsing (gguf/, safetensors/, hf/) never reaches the native addon
 *    (lib/native.ts), directly or through another module;
 *  - the model families (model/arch/) never load it (type-only imports aside):
 *    they build graphs from ops, the common code owns memory and backends;
 *  - only lib/native.ts calls native(): the rest goes through nativeCall() (or
 *    Backend / Graph), so every native error is mapped to a MiniMacLLMError.
 * About 1 s.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const LIB = path.join(__dirname, '..', 'lib');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

const rel = (file: string): string => path.relative(LIB, file).split(path.sep).join('/');

/** Whether an import or re-export brings in types only (erased from the compiled JS). */
function typeOnly(node: ts.Node): boolean {
  if (ts.isExportDeclaration(node)) return node.isTypeOnly;
  if (!ts.isImportDeclaration(node)) return false;
  const c = node.importClause;
  if (!c) return false; // import './x': a side effect
  if (c.isTypeOnly) return true;
  const b = c.namedBindings;
  return !c.name && b !== undefined && ts.isNamedImports(b) && b.elements.every((e) => e.isTypeOnly);
}

/** lib-relative file → the lib files it imports or re-exports from (and those it loads at run time). */
function importGraph(): { all: Map<string, string[]>; runtime: Map<string, string[]> } {
  const graph = new Map<string, string[]>();
  const runtime = new Map<string, string[]>();
  for (const file of sources(LIB)) {
    const src = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022);
    const deps: string[] = [];
    const loads: string[] = [];
    const visit = (node: ts.Node): void => {
      const spec =
        (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier
          ? node.moduleSpecifier
          : ts.isCallExpression(node) &&
              (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
                (ts.isIdentifier(node.expression) && node.expression.text === 'require'))
            ? node.arguments[0]
            : undefined;
      if (spec && ts.isStringLiteral(spec) && spec.text.startsWith('.')) {
        const base = path.resolve(path.dirname(file), spec.text);
        const target = [`${base}.ts`, path.join(base, 'index.ts')].find((f) => fs.existsSync(f));
        if (!target) throw new Error(`${rel(file)}: cannot resolve ${spec.text}`);
        deps.push(rel(target));
        if (!typeOnly(node)) loads.push(rel(target));
      }
      ts.forEachChild(node, visit);
    };
    visit(src);
    graph.set(rel(file), [...new Set(deps)].sort());
    runtime.set(rel(file), [...new Set(loads)].sort());
  }
  return { all: graph, runtime };
}

const { all: graph, runtime } = importGraph();

/** Every module `from` reaches (through `edges`), with the path to it. */
function reach(from: string, edges = graph): Map<string, string[]> {
  const seen = new Map<string, string[]>([[from, [from]]]);
  const queue = [from];
  while (queue.length > 0) {
    const f = queue.shift()!;
    for (const d of edges.get(f) ?? []) {
      if (seen.has(d)) continue;
      seen.set(d, [...seen.get(f)!, d]);
      queue.push(d);
    }
  }
  return seen;
}

test('the import graph covers lib/', () => {
  expect(graph.size).toBeGreaterThan(50);
  expect(graph.get('model/model.ts')).toContain('model/arch/registry.ts');
});

test('lib/ has no import cycles', () => {
  // Tarjan's strongly connected components: any component of 2+ modules (or a self-import) is a cycle.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const strong = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) strong(v);
  expect(cycles).toEqual([]);
});

test.each([
  ['gguf/', graph],
  ['safetensors/', graph],
  ['hf/', graph],
  ['model/arch/', runtime],
])('%s never reaches the native addon', (dir, edges) => {
  const files = [...graph.keys()].filter((f) => f.startsWith(dir));
  expect(files.length).toBeGreaterThan(0);
  for (const f of files) {
    const path = reach(f, edges).get('native.ts');
    expect({ file: f, reachesNative: path?.join(' → ') }).toEqual({ file: f, reachesNative: undefined });
  }
});

test('only lib/native.ts calls native(); the rest uses nativeCall()', () => {
  const callers = sources(LIB)
    .filter((f) => rel(f) !== 'native.ts' && /\bnative\(\)/.test(fs.readFileSync(f, 'utf8')))
    .map(rel);
  expect(callers).toEqual([]);
});
