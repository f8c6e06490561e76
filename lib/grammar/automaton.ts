/**
 * A compiled grammar: one deterministic byte automaton per rule, whose states
 * may also call other rules (a recursive transition network). Bytes are
 * mapped to equivalence classes first (bytes no rule tells apart share a
 * class), so a state's transitions are one row of `nClasses` entries.
 *
 * Counted loops: `X{m,n}` over a call-free, prefix-free body X (a string of
 * at most n characters, a number's digits) is a synthetic callee whose states
 * are (count, body state), created on demand instead of unrolled n times;
 * the mask code classifies tokens for all counts at once (see masks.ts).
 */

/** Flag bits of a state. */
export const ACCEPTING = 1; // the rule may end here
export const HAS_BYTES = 2; // some byte continues the rule here

/** A byte automaton over the global byte classes (-1 = no transition). */
export interface BodyDfa {
  readonly nStates: number;
  /** [nStates * nClasses] */
  readonly trans: Int32Array;
  readonly accepting: Uint8Array;
  readonly start: number;
}

export interface CountedLoop {
  readonly id: number;
  readonly min: number;
  /** Infinity when unbounded. */
  readonly max: number;
  readonly body: BodyDfa;
  /** Loops with the same body share their token classification. */
  readonly bodyKey: string;
  /** (count, body state) → state id; body state `body.nStates` is the head (between iterations). */
  readonly states: Map<number, number>;
}

const LAZY = -2;

export class Automaton {
  readonly nClasses: number;
  /** [256] byte → class */
  readonly classOf: Uint8Array;
  /** [nClasses] a byte of each class */
  readonly classByte: Uint8Array;
  rootStart = -1;
  readonly loops: CountedLoop[] = [];
  /** Rule names by start state, for messages. */
  readonly ruleNames = new Map<number, string>();

  #count = 0;
  /** [capacity * nClasses] next state, -1 none, LAZY not computed yet */
  #trans: Int32Array;
  /** [capacity] ACCEPTING | HAS_BYTES */
  #flags: Uint8Array;
  /** [capacity * 3] loop id (or -1), count, body state */
  #counted: Int32Array;
  /** Per state: [callee start, return state (-1: tail call)] pairs, or undefined. */
  readonly #calls: Array<Int32Array | undefined> = [];

  constructor(classOf: Uint8Array, nClasses: number) {
    this.classOf = classOf;
    this.nClasses = nClasses;
    this.classByte = new Uint8Array(nClasses);
    for (let b = 255; b >= 0; b--) this.classByte[classOf[b]!] = b;
    this.#trans = new Int32Array(64 * nClasses);
    this.#flags = new Uint8Array(64);
    this.#counted = new Int32Array(64 * 3).fill(-1);
  }

  get stateCount(): number {
    return this.#count;
  }

  /** Adds a state; its transitions start out absent (-1). */
  addState(flags = 0): number {
    const id = this.#count++;
    if (id >= this.#flags.length) {
      const cap = this.#flags.length * 2;
      const t = new Int32Array(cap * this.nClasses);
      t.set(this.#trans);
      this.#trans = t;
      const f = new Uint8Array(cap);
      f.set(this.#flags);
      this.#flags = f;
      const c = new Int32Array(cap * 3).fill(-1);
      c.set(this.#counted);
      this.#counted = c;
    }
    this.#trans.fill(-1, id * this.nClasses, (id + 1) * this.nClasses);
    this.#flags[id] = flags;
    return id;
  }

  setTransition(s: number, cls: number, to: number): void {
    this.#trans[s * this.nClasses + cls] = to;
  }

  setFlags(s: number, flags: number): void {
    this.#flags[s] = flags;
  }

  setCalls(s: number, calls: Int32Array | undefined): void {
    this.#calls[s] = calls && calls.length > 0 ? calls : undefined;
  }

  flags(s: number): number {
    return this.#flags[s]!;
  }

  calls(s: number): Int32Array | undefined {
    return this.#calls[s];
  }

  /** The state after a byte of class `cls`, or -1. */
  step(s: number, cls: number): number {
    const i = s * this.nClasses + cls;
    const t = this.#trans[i]!;
    if (t !== LAZY) return t;
    const v = this.#countedStep(s, cls);
    this.#trans[i] = v;
    return v;
  }

  /** Loop id, count and body state of a counted-loop state; undefined for rule states. */
  countedOf(s: number): { loop: CountedLoop; count: number; bodyState: number } | undefined {
    const l = this.#counted[s * 3]!;
    if (l < 0) return undefined;
    return { loop: this.loops[l]!, count: this.#counted[s * 3 + 1]!, bodyState: this.#counted[s * 3 + 2]! };
  }

  /** The state (count, body state) of a loop, created on first use. */
  countedState(loop: CountedLoop, count: number, bodyState: number): number {
    const head = loop.body.nStates;
    const key = count * (head + 1) + bodyState;
    const known = loop.states.get(key);
    if (known !== undefined) return known;
    const accepting = bodyState === head && count >= loop.min;
    const hasBytes = bodyState !== head || count < loop.max;
    const id = this.addState((accepting ? ACCEPTING : 0) | (hasBytes ? HAS_BYTES : 0));
    if (hasBytes) this.#trans.fill(LAZY, id * this.nClasses, (id + 1) * this.nClasses);
    this.#counted[id * 3] = loop.id;
    this.#counted[id * 3 + 1] = count;
    this.#counted[id * 3 + 2] = bodyState;
    loop.states.set(key, id);
    return id;
  }

  #countedStep(s: number, cls: number): number {
    const c = this.countedOf(s)!;
    const { loop, count, bodyState } = c;
    const body = loop.body;
    const head = body.nStates;
    const from = bodyState === head ? body.start : bodyState;
    const t = body.trans[from * this.nClasses + cls]!;
    if (t < 0) return -1;
    if (!body.accepting[t]) return this.countedState(loop, count, t);
    // One more iteration done: back to the head (counts saturate at `min` when there is no maximum).
    const next = count + 1;
    if (next > loop.max) return -1;
    return this.countedState(loop, loop.max === Infinity ? Math.min(next, loop.min) : next, head);
  }
}
