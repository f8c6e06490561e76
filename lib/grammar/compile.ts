/**
 * GBNF AST → Automaton. Each rule becomes a Thompson NFA over bytes (literals
 * and classes spelled in UTF-8, repetition as loops or unrolled copies, rule
 * references as call edges), then one DFA per rule by subset construction
 * over byte classes. States that can never finish their rule are pruned, so
 * every byte the automaton allows leads somewhere that can complete.
 */
import { InvalidArgumentError } from '../errors';
import { isNullable, type Expr, type GrammarAst } from './ast';
import { ACCEPTING, Automaton, HAS_BYTES, type BodyDfa, type CountedLoop } from './automaton';
import { nullableRules } from './gbnf';
import { utf8Encode, utf8Sequences } from './utf8';

/** Most NFA / DFA states a grammar may compile to. */
const MAX_STATES = 400_000;
/** `X{m,n}` with a bound at least this large becomes a counted loop (when X allows it). */
const COUNTED_FROM = 6;
/** Largest flattened body of a counted loop (AST nodes). */
const MAX_FLAT_NODES = 4000;

const tooLarge = (): never => {
  throw new InvalidArgumentError(
    `the grammar is too large: it compiles to more than ${MAX_STATES} states (large repetition counts of complex items?)`,
  );
};

/** A callee: a rule index (>= 0) or a counted loop (-(id + 1)). */
type Callee = number;

class Nfa {
  readonly eps: number[][] = [];
  /** Per state: flat [lo, hi, to] triples. */
  readonly edges: number[][] = [];
  /** Per state: flat [callee, to] pairs. */
  readonly calls: number[][] = [];

  state(): number {
    if (this.eps.length >= MAX_STATES) tooLarge();
    this.eps.push([]);
    this.edges.push([]);
    this.calls.push([]);
    return this.eps.length - 1;
  }
}

/** Byte ranges of every edge of every NFA: they decide the byte classes. */
class RangeCollector {
  readonly ranges = new Map<number, [number, number]>();
  add(lo: number, hi: number): void {
    this.ranges.set(lo * 256 + hi, [lo, hi]);
  }
  /** Bytes grouped into classes that no collected range tells apart. */
  classes(): { classOf: Uint8Array; nClasses: number } {
    const sig: string[] = new Array<string>(256).fill('');
    let i = 0;
    for (const [lo, hi] of this.ranges.values()) {
      for (let b = lo; b <= hi; b++) sig[b] += `${i},`;
      i++;
    }
    const ids = new Map<string, number>();
    const classOf = new Uint8Array(256);
    for (let b = 0; b < 256; b++) {
      let id = ids.get(sig[b]!);
      if (id === undefined) {
        id = ids.size;
        ids.set(sig[b]!, id);
      }
      classOf[b] = id;
    }
    return { classOf, nClasses: ids.size };
  }
}

interface PendingLoop {
  min: number;
  max: number;
  key: string;
  nfa: Nfa;
  start: number;
  end: number;
}

class Compiler {
  readonly #ast: GrammarAst;
  readonly #ruleIndex = new Map<string, number>();
  readonly #nullable: Set<string>;
  readonly #recursive: Set<string>;
  readonly ranges = new RangeCollector();
  readonly loops: PendingLoop[] = [];
  readonly #loopByKey = new Map<string, number>();
  #totalStates = 0;

  constructor(ast: GrammarAst) {
    this.#ast = ast;
    [...ast.rules.keys()].forEach((n, i) => this.#ruleIndex.set(n, i));
    this.#nullable = nullableRules(ast);
    this.#recursive = recursiveRules(ast);
  }

  ruleIndex(name: string): number {
    return this.#ruleIndex.get(name)!;
  }

  #count(nfa: Nfa): void {
    if (this.#totalStates + nfa.eps.length > MAX_STATES) tooLarge();
  }

  /** Connects a → b in `nfa` with a path matching `e`. */
  build(nfa: Nfa, e: Expr, a: number, b: number, flat: boolean): void {
    switch (e.kind) {
      case 'lit': {
        const bytes = e.cps.flatMap(utf8Encode);
        let cur = a;
        bytes.forEach((x, i) => {
          const to = i === bytes.length - 1 ? b : nfa.state();
          nfa.edges[cur]!.push(x, x, to);
          this.ranges.add(x, x);
          cur = to;
        });
        if (bytes.length === 0) nfa.eps[a]!.push(b);
        return;
      }
      case 'class':
        for (const seq of utf8Sequences(e.ranges)) {
          let cur = a;
          seq.forEach(([lo, hi], i) => {
            const to = i === seq.length - 1 ? b : nfa.state();
            nfa.edges[cur]!.push(lo, hi, to);
            this.ranges.add(lo, hi);
            cur = to;
          });
        }
        return;
      case 'ref':
        if (flat) throw new Error('internal: a reference in a flattened expression');
        nfa.calls[a]!.push(this.ruleIndex(e.name), b);
        return;
      case 'seq': {
        let cur = a;
        e.items.forEach((x, i) => {
          const to = i === e.items.length - 1 ? b : nfa.state();
          this.build(nfa, x, cur, to, flat);
          cur = to;
        });
        if (e.items.length === 0) nfa.eps[a]!.push(b);
        return;
      }
      case 'alt':
        for (const x of e.alts) {
          // Own entry state per alternative, so loops inside one never leak into another.
          const s = nfa.state();
          nfa.eps[a]!.push(s);
          this.build(nfa, x, s, b, flat);
        }
        return;
      case 'repeat':
        this.#repeat(nfa, e, a, b, flat);
        return;
    }
  }

  #repeat(nfa: Nfa, e: Extract<Expr, { kind: 'repeat' }>, a: number, b: number, flat: boolean): void {
    const { item, min, max } = e;
    if (max === 0) {
      nfa.eps[a]!.push(b);
      return;
    }
    const bound = max === Infinity ? min : max;
    if (!flat && bound >= COUNTED_FROM) {
      const loop = this.#countedLoop(item, min, max);
      if (loop !== undefined) {
        nfa.calls[a]!.push(-(loop + 1), b);
        return;
      }
    }
    let cur = a;
    for (let i = 0; i < min; i++) {
      const to = nfa.state();
      this.build(nfa, item, cur, to, flat);
      cur = to;
    }
    if (max === Infinity) {
      const head = nfa.state(),
        tail = nfa.state();
      nfa.eps[cur]!.push(head);
      this.build(nfa, item, head, tail, flat);
      nfa.eps[tail]!.push(head);
      nfa.eps[head]!.push(b);
      return;
    }
    for (let i = min; i < max; i++) {
      nfa.eps[cur]!.push(b);
      const to = nfa.state();
      this.build(nfa, item, cur, to, flat);
      cur = to;
    }
    nfa.eps[cur]!.push(b);
  }

  /** A counted loop for item{min,max}, or undefined when the item can't be one (calls, nullable, not prefix-free). */
  #countedLoop(item: Expr, min: number, max: number): number | undefined {
    const flatItem = this.#flatten(item, new Set(), { n: 0 });
    if (flatItem === undefined || isNullable(flatItem, () => false)) return undefined;
    const bodyKey = JSON.stringify(flatItem);
    const key = `${min},${max},${bodyKey}`;
    const known = this.#loopByKey.get(key);
    if (known !== undefined) return known;
    const nfa = new Nfa();
    const start = nfa.state(),
      end = nfa.state();
    this.build(nfa, flatItem, start, end, true);
    if (!isPrefixFree(nfa, start, end)) return undefined;
    this.#count(nfa);
    this.#totalStates += nfa.eps.length;
    const id = this.loops.length;
    this.loops.push({ min, max, key: bodyKey, nfa, start, end });
    this.#loopByKey.set(key, id);
    return id;
  }

  /** The expression with references to non-recursive rules inlined; undefined if it can't be made call-free. */
  #flatten(e: Expr, visiting: Set<string>, size: { n: number }): Expr | undefined {
    if (++size.n > MAX_FLAT_NODES) return undefined;
    switch (e.kind) {
      case 'lit':
      case 'class':
        return e;
      case 'ref': {
        if (this.#recursive.has(e.name) || visiting.has(e.name)) return undefined;
        visiting.add(e.name);
        const r = this.#flatten(this.#ast.rules.get(e.name)!.expr, visiting, size);
        visiting.delete(e.name);
        return r;
      }
      case 'seq': {
        const items: Expr[] = [];
        for (const x of e.items) {
          const f = this.#flatten(x, visiting, size);
          if (f === undefined) return undefined;
          items.push(f);
        }
        return { kind: 'seq', items };
      }
      case 'alt': {
        const alts: Expr[] = [];
        for (const x of e.alts) {
          const f = this.#flatten(x, visiting, size);
          if (f === undefined) return undefined;
          alts.push(f);
        }
        return { kind: 'alt', alts };
      }
      case 'repeat': {
        const item = this.#flatten(e.item, visiting, size);
        if (item === undefined) return undefined;
        // Nested large repetitions would multiply out: keep the loop small.
        const bound = e.max === Infinity ? e.min : e.max;
        if (bound > 64) return undefined;
        return { ...e, item };
      }
    }
  }

  ruleNfa(name: string): { nfa: Nfa; start: number; end: number } {
    const nfa = new Nfa();
    const start = nfa.state(),
      end = nfa.state();
    this.build(nfa, this.#ast.rules.get(name)!.expr, start, end, false);
    this.#count(nfa);
    this.#totalStates += nfa.eps.length;
    return { nfa, start, end };
  }

  isNullableRule(name: string): boolean {
    return this.#nullable.has(name);
  }
}

/** Rules that can reach themselves through references. */
function recursiveRules(ast: GrammarAst): Set<string> {
  const refs = new Map<string, Set<string>>();
  const collect = (e: Expr, out: Set<string>): void => {
    if (e.kind === 'ref') out.add(e.name);
    else if (e.kind === 'seq') e.items.forEach((x) => collect(x, out));
    else if (e.kind === 'alt') e.alts.forEach((x) => collect(x, out));
    else if (e.kind === 'repeat') collect(e.item, out);
  };
  for (const r of ast.rules.values()) {
    const s = new Set<string>();
    collect(r.expr, s);
    refs.set(r.name, s);
  }
  const out = new Set<string>();
  for (const name of ast.rules.keys()) {
    // Depth-first search from the rule's references back to itself.
    const seen = new Set<string>();
    const stack = [...refs.get(name)!];
    while (stack.length > 0) {
      const n = stack.pop()!;
      if (n === name) {
        out.add(name);
        break;
      }
      if (seen.has(n)) continue;
      seen.add(n);
      stack.push(...refs.get(n)!);
    }
  }
  return out;
}

function closure(nfa: Nfa, seeds: Iterable<number>): number[] {
  const seen = new Set<number>();
  const stack = [...seeds];
  while (stack.length > 0) {
    const s = stack.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const t of nfa.eps[s]!) if (!seen.has(t)) stack.push(t);
  }
  return [...seen].sort((x, y) => x - y);
}

/** Whether no word of the NFA's language is a proper prefix of another (checked on its DFA over raw byte ranges). */
function isPrefixFree(nfa: Nfa, start: number, end: number): boolean {
  const rc = new RangeCollector();
  for (const e of nfa.edges) for (let i = 0; i < e.length; i += 3) rc.add(e[i]!, e[i + 1]!);
  const { classOf, nClasses } = rc.classes();
  const dfa = determinizeFlat(nfa, start, end, classOf, nClasses);
  for (let s = 0; s < dfa.nStates; s++) {
    if (!dfa.accepting[s]) continue;
    for (let c = 0; c < nClasses; c++) if (dfa.trans[s * nClasses + c]! >= 0) return false;
  }
  return true;
}

/** Subset construction for a call-free NFA. */
function determinizeFlat(nfa: Nfa, start: number, end: number, classOf: Uint8Array, nClasses: number): BodyDfa {
  const rep = new Uint8Array(nClasses);
  for (let b = 255; b >= 0; b--) rep[classOf[b]!] = b;
  const index = new Map<string, number>();
  const sets: number[][] = [];
  const add = (set: number[]): number => {
    const key = set.join(',');
    let id = index.get(key);
    if (id === undefined) {
      id = sets.length;
      if (id >= MAX_STATES) tooLarge();
      index.set(key, id);
      sets.push(set);
    }
    return id;
  };
  const s0 = add(closure(nfa, [start]));
  const rows: Int32Array[] = [];
  for (let i = 0; i < sets.length; i++) {
    const row = new Int32Array(nClasses).fill(-1);
    for (let c = 0; c < nClasses; c++) {
      const b = rep[c]!;
      const targets: number[] = [];
      for (const s of sets[i]!) {
        const e = nfa.edges[s]!;
        for (let k = 0; k < e.length; k += 3) if (e[k]! <= b && b <= e[k + 1]!) targets.push(e[k + 2]!);
      }
      if (targets.length > 0) row[c] = add(closure(nfa, targets));
    }
    rows.push(row);
  }
  const trans = new Int32Array(sets.length * nClasses);
  rows.forEach((r, i) => trans.set(r, i * nClasses));
  const accepting = Uint8Array.from(sets, (set) => (set.includes(end) ? 1 : 0));
  return { nStates: sets.length, trans, accepting, start: s0 };
}

/** Compiles a checked grammar (see parseGBNF) into its automaton. */
export function compileGrammar(ast: GrammarAst): Automaton {
  const c = new Compiler(ast);
  const names = [...ast.rules.keys()];
  const nfas = names.map((n) => c.ruleNfa(n));
  const { classOf, nClasses } = c.ranges.classes();
  const A = new Automaton(classOf, nClasses);

  // Counted loops: body DFAs over the global classes (which refine each body's own).
  for (const [id, p] of c.loops.entries()) {
    const body = determinizeFlat(p.nfa, p.start, p.end, classOf, nClasses);
    const loop: CountedLoop = { id, min: p.min, max: p.max, body, bodyKey: p.key, states: new Map() };
    A.loops.push(loop);
  }
  const loopStart = A.loops.map((l) => A.countedState(l, 0, l.body.nStates));

  // Rules: subset construction; calls keep (callee, closure of the return NFA state).
  interface Pending {
    rule: number;
    set: number[];
    id: number;
  }
  const ruleStart: number[] = [];
  const stateIndex = new Map<string, number>();
  const pending: Pending[] = [];
  const pendingCalls: Array<{ state: number; calls: Array<[Callee, number]> }> = [];
  const intern = (rule: number, set: number[]): number => {
    const key = `${rule}:${set.join(',')}`;
    let id = stateIndex.get(key);
    if (id === undefined) {
      if (A.stateCount >= MAX_STATES) tooLarge();
      id = A.addState();
      stateIndex.set(key, id);
      pending.push({ rule, set, id });
    }
    return id;
  };
  names.forEach((_, r) => {
    const { nfa, start } = nfas[r]!;
    ruleStart[r] = intern(r, closure(nfa, [start]));
    A.ruleNames.set(ruleStart[r], names[r]!);
  });
  // The classes a byte range covers (ranges are unions of classes).
  const rangeClasses = new Map<number, number[]>();
  const classesOf = (lo: number, hi: number): number[] => {
    const key = lo * 256 + hi;
    let cs = rangeClasses.get(key);
    if (!cs) {
      const seen = new Set<number>();
      for (let b = lo; b <= hi; b++) seen.add(classOf[b]!);
      cs = [...seen];
      rangeClasses.set(key, cs);
    }
    return cs;
  };
  const buckets: number[][] = Array.from({ length: nClasses }, () => []);
  for (let p = 0; p < pending.length; p++) {
    const { rule, set, id } = pending[p]!;
    const { nfa, end } = nfas[rule]!;
    let flags = set.includes(end) ? ACCEPTING : 0;
    const used: number[] = [];
    for (const s of set) {
      const e = nfa.edges[s]!;
      for (let k = 0; k < e.length; k += 3) {
        for (const cls of classesOf(e[k]!, e[k + 1]!)) {
          if (buckets[cls]!.length === 0) used.push(cls);
          buckets[cls]!.push(e[k + 2]!);
        }
      }
    }
    for (const cls of used) {
      A.setTransition(id, cls, intern(rule, closure(nfa, buckets[cls]!)));
      buckets[cls]!.length = 0;
      flags |= HAS_BYTES;
    }
    A.setFlags(id, flags);
    const calls: Array<[Callee, number]> = [];
    const seen = new Set<string>();
    for (const s of set) {
      const cl = nfa.calls[s]!;
      for (let k = 0; k < cl.length; k += 2) {
        const ret = intern(rule, closure(nfa, [cl[k + 1]!]));
        const key = `${cl[k]},${ret}`;
        if (!seen.has(key)) {
          seen.add(key);
          calls.push([cl[k]!, ret]);
        }
      }
    }
    if (calls.length > 0) pendingCalls.push({ state: id, calls });
  }
  const calleeStart = (callee: Callee): number => (callee >= 0 ? ruleStart[callee]! : loopStart[-callee - 1]!);
  for (const { state, calls } of pendingCalls) {
    A.setCalls(state, Int32Array.from(calls.flatMap(([callee, ret]) => [calleeStart(callee), ret])));
  }
  A.rootStart = ruleStart[c.ruleIndex(ast.root)]!;
  pruneUnfinishable(A);
  return A;
}

/**
 * Removes transitions and calls into states that can never finish their
 * rule, and makes a call whose return state only ends the rule a tail call.
 * Counted-loop states always can finish (their bodies are non-empty).
 * "Can finish" spreads backwards from accepting states along transitions,
 * and to a state with a call once both callee and return state can.
 */
function pruneUnfinishable(A: Automaton): void {
  const n = A.stateCount;
  const isLoopState = (s: number): boolean => A.countedOf(s) !== undefined;
  const done = new Uint8Array(n);
  const preds: number[][] = Array.from({ length: n }, () => []);
  const callers: number[][] = Array.from({ length: n }, () => []);
  for (let s = 0; s < n; s++) {
    if (isLoopState(s)) continue;
    for (let cls = 0; cls < A.nClasses; cls++) {
      const t = A.step(s, cls);
      if (t >= 0) preds[t]!.push(s);
    }
    const calls = A.calls(s);
    if (calls) for (let k = 0; k < calls.length; k++) callers[calls[k]!]!.push(s);
  }
  const todo: number[] = [];
  const finish = (s: number): void => {
    if (done[s]) return;
    done[s] = 1;
    todo.push(s);
  };
  for (let s = 0; s < n; s++) if (isLoopState(s) || A.flags(s) & ACCEPTING) finish(s);
  while (todo.length > 0) {
    const x = todo.pop()!;
    for (const p of preds[x]!) finish(p);
    for (const p of callers[x]!) {
      if (done[p]) continue;
      const calls = A.calls(p)!;
      for (let k = 0; k < calls.length; k += 2) {
        if (done[calls[k]!] && done[calls[k + 1]!]) {
          finish(p);
          break;
        }
      }
    }
  }
  if (!done[A.rootStart]) {
    throw new InvalidArgumentError(
      `the grammar matches nothing: rule "${A.ruleNames.get(A.rootStart) ?? 'root'}" can never be completed`,
    );
  }
  for (let s = 0; s < n; s++) {
    if (isLoopState(s)) continue;
    let flags = A.flags(s) & ACCEPTING;
    for (let cls = 0; cls < A.nClasses; cls++) {
      const t = A.step(s, cls);
      if (t < 0) continue;
      if (!done[t]) A.setTransition(s, cls, -1);
      else flags |= HAS_BYTES;
    }
    A.setFlags(s, flags);
    const calls = A.calls(s);
    if (!calls) continue;
    const kept: number[] = [];
    for (let k = 0; k < calls.length; k += 2) {
      const callee = calls[k]!,
        ret = calls[k + 1]!;
      if (!done[callee] || !done[ret]) continue;
      // A return state that can only end the rule: don't keep a frame for it.
      const pureEnd = A.flags(ret) === ACCEPTING && A.calls(ret) === undefined;
      kept.push(callee, pureEnd ? -1 : ret);
    }
    A.setCalls(s, Int32Array.from(kept));
  }
}
