/**
 * Token masks for a compiled grammar and a tokenizer's trie.
 *
 * Matcher state: a set of stacks (a "configuration"). A stack is a linked
 * list of frames (automaton state, parent frame), interned so equal stacks
 * are one id; its top state is one with byte transitions (calls and rule ends
 * are expanded into further stacks). `complete` says some path has finished
 * the whole grammar. Configurations are interned too, and the transition
 * configuration × byte class → configuration is computed once and cached, so
 * walking the trie costs one array lookup per node.
 *
 * A configuration's mask is the union of its stacks' masks, plus the
 * end-of-generation tokens when complete. A stack's mask splits (as in
 * XGrammar) into a part that depends only on its top state — the tokens the
 * top rule consumes entirely, found by one walk over the whole trie and
 * cached per state, so a JSON string's contents are classified once however
 * many strings a schema has — and the few tokens that run past the end of the
 * top rule ("pop points": trie nodes), which are walked on with the rest of
 * the stack. Counted loops `X{m,n}` are classified once for every count:
 * per token, how many iterations it needs.
 */
import { InternalError } from '../errors';
import { ACCEPTING, HAS_BYTES, type Automaton, type CountedLoop } from './automaton';
import type { TokenTrie } from './token-trie';

const UNKNOWN = -2;
/**
 * Token bitsets an engine keeps (masks and per-state classifications; each
 * is vocab / 8 bytes: 1000 ≈ 19 MB for a 150k vocabulary) before it drops
 * them and starts over.
 */
const MAX_CACHED_MASKS = 1000;
const MAX_NODES = 8_000_000;

/**
 * Pop points (trie nodes where the top rule can end inside a token), indexed
 * by the byte that follows: the parent takes only a few first bytes (a
 * string's closing quote, a comma), so resolving a stack looks only at the
 * children it can take instead of walking under every pop point.
 */
interface PopIndex {
  /** [257] entries for byte b are [start[b], start[b + 1]) */
  start: Int32Array;
  /** [entries] the child node (the byte after the pop point) */
  child: Int32Array;
  /** [entries] which pop point it hangs from (index into the pop list) */
  pop: Int32Array;
  /** Pop points where a token ends. */
  tokenNodes: Int32Array;
}

interface LocalClass {
  /** Tokens consumed entirely inside the top rule. */
  accept: Uint32Array;
  pops: PopIndex;
}

interface CountedClass {
  /** Tokens that stay inside the loop, and how many iterations each needs (started ones included). */
  ids: Int32Array;
  need: Uint16Array;
  /** Where an iteration ends (the loop may exit there); popIters[k]: iterations done by pop point k. */
  pops: PopIndex;
  popIters: Uint16Array;
}

export interface Mask {
  /** [words] bit t set = token t allowed */
  readonly bits: Uint32Array;
  /** Number of allowed tokens (end-of-generation tokens included). */
  readonly allowed: number;
}

function popcount(bits: Uint32Array): number {
  let n = 0;
  for (let i = 0; i < bits.length; i++) {
    let v = bits[i]!;
    v = v - ((v >>> 1) & 0x55555555);
    v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
    n += (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
  }
  return n;
}

export class MaskEngine {
  readonly automaton: Automaton;
  readonly #trie: TokenTrie | undefined;
  readonly #nC: number;
  readonly #classOf: Uint8Array;

  // Stack frames: [node] state and parent node (-1 at the bottom).
  #nState: Int32Array = new Int32Array(4096);
  #nParent: Int32Array = new Int32Array(4096);
  #nCount = 0;
  readonly #nIndex = new Map<number, number>();
  #mark: Int32Array = new Int32Array(4096);
  #epoch = 0;

  // Configurations.
  readonly #cStacks: Int32Array[] = [];
  #cFlags = new Uint8Array(1024); // 1 = has stacks, 2 = complete
  #cTrans = new Int32Array(1024);
  readonly #cIndex = new Map<string, number>();
  readonly #cMask: Array<Mask | undefined> = [];
  #cachedMasks = 0;

  readonly #local = new Map<number, LocalClass>();
  readonly #counted = new Map<string, CountedClass>();
  /** Tokens a counted loop's state accepts with `room` iterations left, by body key, state and room. */
  readonly #countedAccept = new Map<string, Uint32Array>();
  readonly #stackMasks = new Map<number, Uint32Array>();
  readonly #firstMask = new Map<number, Mask>();
  /** [maxDepth + 1] configuration per trie depth during a walk */
  readonly #cfgAt: Int32Array;
  /** The configuration that has finished the grammar and can take nothing more. */
  readonly completeConfig: number;
  /** The grammar's initial configuration. */
  readonly startConfig: number;

  /** Without a trie the engine only steps configurations (no masks). */
  constructor(automaton: Automaton, trie?: TokenTrie) {
    this.automaton = automaton;
    this.#trie = trie;
    this.#nC = automaton.nClasses;
    this.#classOf = automaton.classOf;
    this.#cTrans = new Int32Array(1024 * this.#nC).fill(UNKNOWN);
    this.#cfgAt = new Int32Array((trie?.maxDepth ?? 0) + 1);
    this.completeConfig = this.#intern([], true);
    const out: number[] = [];
    const complete = this.#expand(this.#node(automaton.rootStart, -1), out);
    this.startConfig = this.#intern(out, complete);
  }

  // ------------------------------------------------------------------ stacks and configurations

  #node(state: number, parent: number): number {
    const key = state * 0x4000000 + (parent + 1);
    let id = this.#nIndex.get(key);
    if (id !== undefined) return id;
    id = this.#nCount++;
    if (id >= MAX_NODES) throw new InternalError('grammar matcher: too many stack frames (runaway recursion?)');
    if (id >= this.#nState.length) {
      const grow = (a: Int32Array): Int32Array => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.#nState = grow(this.#nState);
      this.#nParent = grow(this.#nParent);
      this.#mark = grow(this.#mark);
    }
    this.#nState[id] = state;
    this.#nParent[id] = parent;
    this.#nIndex.set(key, id);
    return id;
  }

  /** Adds to `out` the stacks `node` stands for once calls and rule ends are followed; returns whether one finishes. */
  #expand(node: number, out: number[]): boolean {
    const A = this.automaton;
    const epoch = ++this.#epoch;
    let complete = false;
    const todo = [node];
    while (todo.length > 0) {
      const x = todo.pop()!;
      if (this.#mark[x] === epoch) continue;
      this.#mark[x] = epoch;
      const s = this.#nState[x]!;
      const f = A.flags(s);
      if (f & HAS_BYTES) out.push(x);
      const parent = this.#nParent[x]!;
      const calls = A.calls(s);
      if (calls) {
        for (let k = 0; k < calls.length; k += 2) {
          const ret = calls[k + 1]!;
          const under = ret < 0 ? parent : this.#node(ret, parent);
          todo.push(this.#node(calls[k]!, under));
        }
      }
      if (f & ACCEPTING) {
        if (parent < 0) complete = true;
        else todo.push(parent);
      }
    }
    return complete;
  }

  #intern(stacks: number[], complete: boolean): number {
    stacks.sort((a, b) => a - b);
    let n = 0;
    for (let i = 0; i < stacks.length; i++) if (i === 0 || stacks[i] !== stacks[i - 1]) stacks[n++] = stacks[i]!;
    stacks.length = n;
    const key = complete ? `${stacks.join(',')}!` : stacks.join(',');
    let id = this.#cIndex.get(key);
    if (id !== undefined) return id;
    id = this.#cStacks.length;
    this.#cStacks.push(Int32Array.from(stacks));
    if (id >= this.#cFlags.length) {
      const f = new Uint8Array(this.#cFlags.length * 2);
      f.set(this.#cFlags);
      this.#cFlags = f;
      const t = new Int32Array(this.#cTrans.length * 2).fill(UNKNOWN);
      t.set(this.#cTrans);
      this.#cTrans = t;
    }
    this.#cFlags[id] = (n > 0 ? 1 : 0) | (complete ? 2 : 0);
    this.#cIndex.set(key, id);
    return id;
  }

  #advance(cfg: number, cls: number): number {
    const A = this.automaton;
    const out: number[] = [];
    let complete = false;
    for (const s of this.#cStacks[cfg]!) {
      const t = A.step(this.#nState[s]!, cls);
      if (t < 0) continue;
      if (this.#expand(this.#node(t, this.#nParent[s]!), out)) complete = true;
    }
    if (out.length === 0 && !complete) return -1;
    return this.#intern(out, complete);
  }

  /** The configuration after one byte, or -1 when the byte is not allowed. */
  step(cfg: number, byte: number): number {
    const cls = this.#classOf[byte]!;
    const i = cfg * this.#nC + cls;
    let t = this.#cTrans[i]!;
    if (t === UNKNOWN) {
      t = this.#advance(cfg, cls);
      this.#cTrans[cfg * this.#nC + cls] = t; // (#advance may have grown the table)
    }
    return t;
  }

  /** Whether some path has finished the grammar. */
  isComplete(cfg: number): boolean {
    return (this.#cFlags[cfg]! & 2) !== 0;
  }

  /** Whether any byte can still follow. */
  canContinue(cfg: number): boolean {
    return (this.#cFlags[cfg]! & 1) !== 0;
  }

  // ------------------------------------------------------------------ walks over the trie

  get trie(): TokenTrie {
    if (!this.#trie) throw new InternalError('grammar matcher: masks need a tokenizer');
    return this.#trie;
  }

  /**
   * Walks the trie nodes [from, to) whose depth is >= base, nodes at depth
   * `base` continuing from configuration `start`. Marks tokens that end in a
   * live configuration (one with stacks, or — with acceptComplete — a
   * finished one); records in `pops` the nodes where the walk's bottom frame
   * ended.
   */
  #walk(
    from: number,
    to: number,
    base: number,
    start: number,
    bits: Uint32Array,
    acceptComplete: boolean,
    pops: number[] | null,
  ): void {
    const { byte, end, depth, token } = this.trie;
    const classOf = this.#classOf;
    const nC = this.#nC;
    const cfgAt = this.#cfgAt;
    let trans = this.#cTrans;
    let flags = this.#cFlags;
    const trie = this.trie;
    for (let i = from; i < to;) {
      const d = depth[i]!;
      const parent = d === base ? start : cfgAt[d - 1]!;
      const cls = classOf[byte[i]!]!;
      let c = trans[parent * nC + cls]!;
      if (c === UNKNOWN) {
        c = this.#advance(parent, cls);
        trans = this.#cTrans;
        flags = this.#cFlags;
        trans[parent * nC + cls] = c;
      }
      if (c < 0) {
        i = end[i]!;
        continue;
      }
      const f = flags[c]!;
      if (token[i]! >= 0 && (f & 1 || (acceptComplete && f & 2))) trie.markNode(i, bits);
      if (pops !== null && f & 2) pops.push(i);
      if (!(f & 1)) {
        i = end[i]!;
        continue;
      }
      cfgAt[d] = c;
      i++;
    }
  }

  /** Tokens of the subtree at `node` whose bytes after it are accepted from configuration `cfg`. */
  #resolve(node: number, cfg: number, bits: Uint32Array): void {
    if (cfg < 0) return;
    const trie = this.trie;
    if (trie.token[node]! >= 0) trie.markNode(node, bits);
    if (this.canContinue(cfg)) this.#walk(node + 1, trie.end[node]!, trie.depth[node]! + 1, cfg, bits, true, null);
  }

  #indexPops(pops: number[]): PopIndex {
    const { byte, end, token } = this.trie;
    const start = new Int32Array(257);
    for (const p of pops) for (let c = p + 1; c < end[p]!; c = end[c]!) start[byte[c]! + 1]!++;
    for (let b = 0; b < 256; b++) start[b + 1] = start[b + 1]! + start[b]!;
    const fill = start.slice(0, 256);
    const child = new Int32Array(start[256]!),
      pop = new Int32Array(start[256]!);
    pops.forEach((p, k) => {
      for (let c = p + 1; c < end[p]!; c = end[c]!) {
        const at = fill[byte[c]!]!++;
        child[at] = c;
        pop[at] = k;
      }
    });
    return { start, child, pop, tokenNodes: Int32Array.from(pops.filter((p) => token[p]! >= 0)) };
  }

  /**
   * Tokens that run past pop points and continue in configuration `cfg` (the
   * rest of the stack); `keep(k)` filters pop points (counted loops: counts).
   */
  #resolvePops(idx: PopIndex, cfg: number, bits: Uint32Array, keep?: (k: number) => boolean): void {
    if (cfg < 0 || !this.canContinue(cfg)) return;
    const trie = this.trie;
    const { start, child, pop } = idx;
    for (let b = 0; b < 256; b++) {
      const from = start[b]!,
        to = start[b + 1]!;
      if (from === to) continue;
      const next = this.step(cfg, b);
      if (next < 0) continue;
      const f = this.#cFlags[next]!;
      for (let j = from; j < to; j++) {
        if (keep && !keep(pop[j]!)) continue;
        const c = child[j]!;
        if (trie.token[c]! >= 0) trie.markNode(c, bits);
        if (f & 1) this.#walk(c + 1, trie.end[c]!, trie.depth[c]! + 1, next, bits, true, null);
      }
    }
  }

  #localClass(state: number): LocalClass {
    let lc = this.#local.get(state);
    if (lc) return lc;
    const bits = new Uint32Array(this.trie.words);
    const pops: number[] = [];
    const start = this.#intern([this.#node(state, -1)], false);
    this.#walk(0, this.trie.nodeCount, 0, start, bits, false, pops);
    lc = { accept: bits, pops: this.#indexPops(pops) };
    this.#remember();
    this.#local.set(state, lc);
    return lc;
  }

  /** Walks the trie through a loop's body alone, counting iterations (see CountedClass). */
  #countedClass(loop: CountedLoop, bodyState: number): CountedClass {
    const key = `${loop.bodyKey}#${bodyState}`;
    let cc = this.#counted.get(key);
    if (cc) return cc;
    const { byte, end, depth, token, sameBytes } = this.trie;
    const body = loop.body;
    const head = body.nStates;
    const nC = this.#nC;
    const classOf = this.#classOf;
    const stateAt = new Int32Array(this.trie.maxDepth + 1);
    const itersAt = new Int32Array(this.trie.maxDepth + 1);
    const ids = new Int32Array(this.trie.vocabSize),
      need = new Uint16Array(this.trie.vocabSize);
    let count = 0;
    const popNode: number[] = [],
      popIters: number[] = [];
    for (let i = 0; i < this.trie.nodeCount;) {
      const d = depth[i]!;
      const s = d === 0 ? bodyState : stateAt[d - 1]!;
      let it = d === 0 ? 0 : itersAt[d - 1]!;
      const t = body.trans[(s === head ? body.start : s) * nC + classOf[byte[i]!]!]!;
      if (t < 0) {
        i = end[i]!;
        continue;
      }
      let next = t;
      if (body.accepting[t]) {
        next = head;
        it++;
        popNode.push(i);
        popIters.push(Math.min(it, 0xffff));
      }
      const n = Math.min(it + (next === head ? 0 : 1), 0xffff);
      for (let tok = token[i]!; tok >= 0; tok = sameBytes[tok]!) {
        ids[count] = tok;
        need[count++] = n;
      }
      stateAt[d] = next;
      itersAt[d] = it;
      i++;
    }
    cc = {
      ids: ids.slice(0, count),
      need: need.slice(0, count),
      pops: this.#indexPops(popNode),
      popIters: Uint16Array.from(popIters),
    };
    this.#remember();
    this.#counted.set(key, cc);
    return cc;
  }

  /** The tokens a counted loop's state keeps inside the loop with `room` iterations left (shared by all stacks). */
  #countedAcceptBits(loop: CountedLoop, bodyState: number, cc: CountedClass, room: number): Uint32Array {
    const key = `${loop.bodyKey}#${bodyState}#${room}`;
    let bits = this.#countedAccept.get(key);
    if (bits) return bits;
    bits = new Uint32Array(this.trie.words);
    const { ids, need } = cc;
    for (let k = 0; k < ids.length; k++) {
      if (need[k]! <= room) {
        const t = ids[k]!;
        bits[t >>> 5] = bits[t >>> 5]! | (1 << (t & 31));
      }
    }
    this.#remember();
    this.#countedAccept.set(key, bits);
    return bits;
  }

  /** The configuration a stack continues in once its top frame's rule has ended. */
  #parentConfig(node: number): number {
    const parent = this.#nParent[node]!;
    if (parent < 0) return this.completeConfig;
    const out: number[] = [];
    const complete = this.#expand(parent, out);
    if (out.length === 0 && !complete) return -1;
    return this.#intern(out, complete);
  }

  #stackMask(node: number): Uint32Array {
    const cached = this.#stackMasks.get(node);
    if (cached) return cached;
    const state = this.#nState[node]!;
    const counted = this.automaton.countedOf(state);
    let bits: Uint32Array;
    if (counted) {
      const { loop, count, bodyState } = counted;
      const cc = this.#countedClass(loop, bodyState);
      bits = this.#countedAcceptBits(loop, bodyState, cc, loop.max - count).slice();
      const { popIters } = cc;
      this.#resolvePops(cc.pops, this.#parentConfig(node), bits, (k) => {
        const total = count + popIters[k]!;
        return total >= loop.min && total <= loop.max;
      });
      // (Tokens ending exactly where an iteration ends are in the accepted set already.)
    } else {
      const lc = this.#localClass(state);
      bits = lc.accept.slice();
      if (lc.pops.child.length > 0 || lc.pops.tokenNodes.length > 0) {
        const parent = this.#parentConfig(node);
        if (parent >= 0) for (const p of lc.pops.tokenNodes) this.trie.markNode(p, bits);
        this.#resolvePops(lc.pops, parent, bits);
      }
    }
    this.#remember();
    this.#stackMasks.set(node, bits);
    return bits;
  }

  #remember(): void {
    if (++this.#cachedMasks <= MAX_CACHED_MASKS) return;
    // Too many bitsets held: start over.
    this.#stackMasks.clear();
    this.#countedAccept.clear();
    this.#cMask.fill(undefined);
    this.#firstMask.clear();
    this.#local.clear();
    this.#counted.clear();
    this.#cachedMasks = 0;
  }

  #withEog(bits: Uint32Array, complete: boolean): Mask {
    if (complete) for (const t of this.trie.eog) bits[t >>> 5] = bits[t >>> 5]! | (1 << (t & 31));
    return { bits, allowed: popcount(bits) };
  }

  /** The tokens allowed in configuration `cfg`. Do not modify the result. */
  mask(cfg: number): Mask {
    const cached = this.#cMask[cfg];
    if (cached) return cached;
    const stacks = this.#cStacks[cfg]!;
    const complete = this.isComplete(cfg);
    let bits: Uint32Array;
    if (stacks.length === 1 && !complete) bits = this.#stackMask(stacks[0]!);
    else if (stacks.length === 1) bits = this.#stackMask(stacks[0]!).slice();
    else {
      bits = new Uint32Array(this.trie.words);
      for (const s of stacks) {
        const m = this.#stackMask(s);
        for (let w = 0; w < bits.length; w++) bits[w] = bits[w]! | m[w]!;
      }
    }
    const mask = this.#withEog(bits, complete);
    this.#remember();
    this.#cMask[cfg] = mask;
    return mask;
  }

  /**
   * The mask for the first generated token when the tokenizer drops the
   * leading space of the output: tokens starting with a space are matched
   * without it.
   */
  firstMask(cfg: number): Mask {
    const trie = this.trie;
    if (!trie.stripsLeadingSpace || trie.spaceNode < 0) return this.mask(cfg);
    let m = this.#firstMask.get(cfg);
    if (m) return m;
    const bits = this.mask(cfg).bits.slice();
    this.#resolve(trie.spaceNode, cfg, bits);
    m = { bits, allowed: popcount(bits) };
    this.#firstMask.set(cfg, m);
    return m;
  }

  /** Statistics, for tests and benchmarks. */
  stats(): { configs: number; frames: number; states: number; classifiedStates: number } {
    return {
      configs: this.#cStacks.length,
      frames: this.#nCount,
      states: this.automaton.stateCount,
      classifiedStates: this.#local.size + this.#counted.size,
    };
  }
}
