/**
 * Renders a parsed chat template under limits. Templates come from model files,
 * so they are untrusted code: @huggingface/jinja keeps them away from Node, and
 * this interpreter keeps them from exhausting the process. Every node it
 * evaluates counts against an operation budget and a wall-clock deadline (both
 * a fixed base plus an allowance per input item, so long conversations still
 * render and a hostile template with a short one fails in milliseconds), the
 * call depth is bounded, `range()` yields at most MAX_RANGE numbers, and no
 * string or list may outgrow a size limit derived from the input. Operations
 * that could build a huge value in one step (`indent`, `join`, `replace`,
 * `list`, `tojson(indent)`) are checked before they run; everything else is
 * checked as it returns. A template over a limit throws TemplateLimitError.
 */
import { Environment, Interpreter } from '@huggingface/jinja';

type Program = Parameters<Interpreter['run']>[0];
type Statement = Parameters<Interpreter['evaluate']>[0] & object;
type Value = ReturnType<Interpreter['evaluate']>;

/** As in Jinja2's sandbox: the most numbers one range() may produce. */
export const MAX_RANGE = 100_000;
/** Nested evaluations (macros calling macros, deep expressions). */
const MAX_DEPTH = 250;
/** Most spaces tojson may indent by. */
const MAX_JSON_INDENT = 64;

export interface RenderLimits {
  /** Evaluated nodes. */
  ops: number;
  /** Wall-clock milliseconds. */
  ms: number;
  /** Characters in any one string, the output included. */
  chars: number;
  /** Items in any one list. */
  items: number;
}

export class TemplateLimitError extends Error {}

/** What the template receives: string characters and items, to size the limits by. */
export function measureInput(vars: Record<string, unknown>): { chars: number; items: number } {
  let chars = 0;
  let items = 0;
  const seen = new Set<object>();
  const stack: unknown[] = [vars];
  while (stack.length > 0) {
    const v = stack.pop();
    items++;
    if (typeof v === 'string') chars += v.length;
    else if (typeof v === 'object' && v !== null && !seen.has(v)) {
      seen.add(v);
      for (const x of Array.isArray(v) ? v : Object.values(v)) stack.push(x);
    }
  }
  return { chars, items };
}

/** Limits for a render: a base that every real template fits in, plus an allowance per input item. */
export function limitsFor(vars: Record<string, unknown>): RenderLimits {
  const { chars, items } = measureInput(vars);
  return {
    ops: 20_000 + 200 * items + Math.ceil(chars / 8),
    ms: 500 + 0.5 * items,
    chars: (1 << 20) + 4 * chars,
    items: MAX_RANGE + 2 * items,
  };
}

const VALUE = 'MiniMacLLMPrecomputed';
interface ValueNode {
  type: typeof VALUE;
  value: Value;
}

/**
 * range() with Python's semantics and a cap on how many numbers it makes: MAX_RANGE, and what is left of
 * the operation budget (every number costs an op once the list exists: refuse before building it).
 */
function boundedRange(left: () => number, start: unknown, stop?: unknown, step: unknown = 1): number[] {
  let a = start;
  let b = stop;
  if (b === undefined) {
    b = a;
    a = 0;
  }
  if (typeof a !== 'number' || typeof b !== 'number' || typeof step !== 'number')
    throw new Error('range() arguments must be numbers');
  if (step === 0) throw new Error('range() step must not be zero');
  const n = Math.max(0, Math.ceil((b - a) / step));
  if (!Number.isFinite(n) || n > MAX_RANGE) throw new TemplateLimitError(`range() of more than ${MAX_RANGE} numbers`);
  // Building the list costs about two ops a number (it becomes a list of runtime values).
  if (2 * n > left()) throw new TemplateLimitError(`range() of ${n} numbers with ${left()} operations left`);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(a + i * step);
  return out;
}

/** Python's strftime subset that @huggingface/jinja's strftime_now supports (%Y %m %d %b %B %H %M %%). */
function strftimeNow(format: unknown): string {
  if (typeof format !== 'string') throw new Error('strftime_now() format must be a string');
  const date = new Date();
  const pad2 = (n: number) => (n < 10 ? '0' + n : String(n));
  return format.replace(/%[YmdbBHM%]/g, (t) => {
    switch (t) {
      case '%Y':
        return String(date.getFullYear());
      case '%m':
        return pad2(date.getMonth() + 1);
      case '%d':
        return pad2(date.getDate());
      case '%b':
        return new Intl.DateTimeFormat(undefined, { month: 'short' }).format(date);
      case '%B':
        return new Intl.DateTimeFormat(undefined, { month: 'long' }).format(date);
      case '%H':
        return pad2(date.getHours());
      case '%M':
        return pad2(date.getMinutes());
      default:
        return '%';
    }
  });
}

type Node = Record<string, unknown> & { type: string };

const strOf = (v: Value | undefined): string | undefined =>
  v !== undefined && v.type === 'StringValue' ? (v.value as string) : undefined;
const intOf = (v: Value | undefined): number | undefined =>
  v !== undefined && v.type === 'IntegerValue' ? (v.value as number) : undefined;

function count(s: string, sub: string): number {
  if (sub.length === 0) return s.length + 1;
  let n = 0;
  for (let i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length)) n++;
  return n;
}

/** Operators that scan their operands. */
const SCANS = new Set(['in', 'not in', '==', '!=']);
/** Ops charged per loop iteration (each builds a scope and a `loop` object: a few microseconds). */
const OPS_PER_ITERATION = 4;
/** Characters of a new string that cost one op. */
const CHARS_PER_OP = 64;

class BudgetInterpreter extends Interpreter {
  ops = 0;
  depth = 0;
  readonly deadline: number;
  #nextClockCheck = 256;
  /** Values already charged for their size (a variable looked up again costs nothing more). */
  readonly #charged = new WeakSet<object>();

  constructor(
    env: Environment,
    private readonly limits: RenderLimits,
  ) {
    super(env);
    this.deadline = performance.now() + limits.ms;
  }

  override evaluate(statement: Parameters<Interpreter['evaluate']>[0], environment: Environment): Value {
    const node = statement as unknown as Node | undefined;
    if (node?.type === VALUE) return (node as unknown as ValueNode).value;
    this.#charge(1);
    if (++this.depth > MAX_DEPTH) throw new TemplateLimitError(`nested deeper than ${MAX_DEPTH}`);
    try {
      let v: Value;
      if (node?.type === 'FilterExpression') v = this.#filter(node, environment);
      else if (node?.type === 'CallExpression') v = this.#call(node, environment);
      else if (node?.type === 'For') v = this.#for(node, environment);
      else if (node?.type === 'BinaryExpression' && SCANS.has((node.operator as { value: string }).value))
        v = this.#scan(node, environment);
      else v = super.evaluate(statement, environment);
      this.#checkSize(v);
      return v;
    } finally {
      this.depth--;
    }
  }

  /** Counts `n` ops against the budget; looks at the clock every 256. */
  #charge(n: number): void {
    this.ops += n;
    if (this.ops > this.limits.ops) throw new TemplateLimitError(`more than ${this.limits.ops} operations`);
    if (this.ops >= this.#nextClockCheck) {
      this.#nextClockCheck = this.ops + 256;
      if (performance.now() > this.deadline) throw new TemplateLimitError(`more than ${this.limits.ms.toFixed(0)} ms`);
    }
  }

  /** Size limits, and a charge for building a new string or list (native work the op count does not see). */
  #checkSize(v: Value): void {
    let size = 0;
    if (v.type === 'StringValue') {
      const n = (v.value as string).length;
      if (n > this.limits.chars) throw new TemplateLimitError(`a string of more than ${this.limits.chars} characters`);
      size = Math.floor(n / CHARS_PER_OP);
    } else if (Array.isArray(v.value)) {
      size = (v.value as unknown[]).length;
      if (size > this.limits.items) throw new TemplateLimitError(`a list of more than ${this.limits.items} items`);
    }
    if (size > 0 && !this.#charged.has(v)) {
      this.#charged.add(v);
      this.#charge(size);
    }
  }

  /** `in` and comparisons scan their operands: charged by size like building them would be. */
  #scan(node: Node, env: Environment): Value {
    const left = this.#pre(node.left, env);
    const right = this.#pre(node.right, env);
    const size = (v: Value) =>
      v.type === 'StringValue'
        ? (v.value as string).length / CHARS_PER_OP
        : Array.isArray(v.value)
          ? (v.value as unknown[]).length
          : 0;
    this.#charge(Math.floor(size(left.value) + size(right.value)));
    return super.evaluate({ ...node, left, right } as never, env);
  }

  /** Loops: every iteration is charged up front, so an empty body cannot spin for free. */
  #for(node: Node, env: Environment): Value {
    const it = node.iterable as Node;
    const select = it.type === 'SelectExpression';
    const iterable = this.#pre(select ? it.lhs : it, env);
    const v = iterable.value.value;
    const n = Array.isArray(v) ? v.length : v instanceof Map ? v.size : 0;
    this.#charge(n * OPS_PER_ITERATION);
    const pre = select ? { ...it, lhs: iterable } : iterable;
    return super.evaluate({ ...node, iterable: pre } as never, env);
  }

  #tooBig(chars: number): void {
    if (chars > this.limits.chars)
      throw new TemplateLimitError(`a string of more than ${this.limits.chars} characters`);
  }

  #pre(node: unknown, env: Environment): ValueNode {
    return { type: VALUE, value: this.evaluate(node as Statement, env) };
  }

  /** Evaluates call arguments up front (keeping keyword and spread wrappers) for the size checks. */
  #args(args: Node[], env: Environment): { nodes: Node[]; pos: Value[]; kw: Map<string, Value> } {
    const pos: Value[] = [];
    const kw = new Map<string, Value>();
    const nodes = args.map((a): Node => {
      if (a.type === 'KeywordArgumentExpression') {
        const value = this.#pre(a.value, env);
        kw.set((a.key as { value: string }).value, value.value);
        return { ...a, value };
      }
      if (a.type === 'SpreadExpression' || a.type === 'KeywordSpreadExpression')
        return { ...a, argument: this.#pre(a.argument, env) };
      const value = this.#pre(a, env);
      pos.push(value.value);
      return value as unknown as Node;
    });
    return { nodes, pos, kw };
  }

  #filter(node: Node, env: Environment): Value {
    const f = node.filter as Node;
    const name = f.type === 'Identifier' ? (f.value as string) : ((f.callee as Node | undefined)?.value as string);
    if (!['indent', 'join', 'replace', 'tojson', 'list'].includes(name)) return super.evaluate(node, env);
    const operand = this.#pre(node.operand, env);
    let filter = f;
    let a = { nodes: [] as Node[], pos: [] as Value[], kw: new Map<string, Value>() };
    if (f.type === 'CallExpression') {
      a = this.#args(f.args as Node[], env);
      filter = { ...f, args: a.nodes };
    }
    this.#checkOp(name, operand.value, a.pos, a.kw);
    return super.evaluate({ ...node, operand, filter } as never, env);
  }

  #call(node: Node, env: Environment): Value {
    const callee = node.callee as Node;
    if (callee.type !== 'MemberExpression' || callee.computed || (callee.property as Node).value !== 'replace')
      return super.evaluate(node, env);
    const a = this.#args(node.args as Node[], env);
    const object = this.#pre(callee.object, env);
    this.#checkOp('replace', object.value, a.pos, a.kw);
    return super.evaluate({ ...node, args: a.nodes, callee: { ...callee, object } } as never, env);
  }

  /** Size checks for the operations that can build a large value from small inputs in one step. */
  #checkOp(name: string, operand: Value, pos: Value[], kw: Map<string, Value>): void {
    const s = strOf(operand);
    switch (name) {
      case 'indent': {
        if (s === undefined) return;
        const w = pos[0] ?? kw.get('width');
        const width = intOf(w) ?? strOf(w)?.length ?? 4;
        this.#tooBig(s.length + (count(s, '\n') + 1) * Math.max(0, width));
        return;
      }
      case 'replace': {
        const from = strOf(pos[0]);
        const to = strOf(pos[1]);
        if (s === undefined || from === undefined || to === undefined) return;
        const n = Math.min(count(s, from), intOf(pos[2]) ?? intOf(kw.get('count')) ?? Infinity);
        this.#tooBig(s.length + Math.max(0, n) * (to.length - from.length));
        return;
      }
      case 'join': {
        if (!Array.isArray(operand.value)) return;
        const items = operand.value;
        const sep = strOf(pos[0] ?? kw.get('separator'))?.length ?? 0;
        let total = Math.max(0, items.length - 1) * sep;
        for (const x of items) total += strOf(x)?.length ?? 24;
        this.#tooBig(total);
        return;
      }
      case 'tojson': {
        const indent = intOf(kw.get('indent'));
        if (indent !== undefined && indent > MAX_JSON_INDENT)
          throw new TemplateLimitError(`tojson indent over ${MAX_JSON_INDENT}`);
        return;
      }
      case 'list':
        if (s !== undefined && s.length > this.limits.items)
          throw new TemplateLimitError(`a list of more than ${this.limits.items} items`);
        return;
    }
  }
}

/** Renders `program` with `vars` under `limits` (as @huggingface/jinja's Template.render does, with bounded globals). */
export function renderProgram(program: Program, vars: Record<string, unknown>, limits: RenderLimits): string {
  const env = new Environment();
  const interpreter = new BudgetInterpreter(env, limits);
  env.set('false', false);
  env.set('true', true);
  env.set('none', null);
  env.set('raise_exception', (msg: unknown) => {
    throw new TemplateRaisedError(String(msg));
  });
  env.set('range', (a: unknown, b?: unknown, c?: unknown) => boundedRange(() => limits.ops - interpreter.ops, a, b, c));
  env.set('strftime_now', strftimeNow);
  env.set('True', true);
  env.set('False', false);
  env.set('None', null);
  for (const [k, v] of Object.entries(vars)) {
    try {
      env.set(k, v);
    } catch (e) {
      throw new TemplateVariableError(
        `${k}: ${e instanceof RangeError ? 'nested too deeply or cyclic' : (e as Error).message}`,
      );
    }
  }
  const result = interpreter.run(program);
  return result.value as string;
}

/** The template called raise_exception(): it rejects the messages it was given. */
export class TemplateRaisedError extends Error {}

/** A variable given to the template cannot be one (cyclic, a BigInt, a name the template reserves). */
export class TemplateVariableError extends Error {}
