/**
 * The fuzz harness's randomness: one seeded generator per case, derived from
 * (seed, suite, case index), so any case can be re-run alone.
 */

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
}

function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** mulberry32 over a seed mixed from `parts`. */
export function caseRng(...parts: Array<string | number>): Rng {
  let s = hash32(parts.join('\u0000')) || 1;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!,
  };
}

/** A typed array whose ArrayBuffer has been transferred away. */
export function detached(): Float32Array {
  const a = new Float32Array(8);
  structuredClone(a.buffer, { transfer: [a.buffer] });
  return a;
}

/** Values no public function should turn into anything but a coded error (or a documented default). */
export function hostileValue(r: Rng): unknown {
  const values: Array<() => unknown> = [
    () => undefined,
    () => null,
    () => 0,
    () => -1,
    () => NaN,
    () => Infinity,
    () => -Infinity,
    () => 2 ** 31,
    () => 2 ** 32,
    () => 2 ** 53,
    () => 1e300,
    () => 1.5,
    () => -0.5,
    () => '',
    () => 'x',
    () => '\u0000\ud800',
    () => Symbol('hostile'),
    () => 10n,
    () => true,
    () => false,
    () => ({}),
    () => [],
    () => [null],
    () => [1, 'a'],
    () => ({ length: 2 ** 32 }),
    () => ({ length: -1 }),
    () => ({ length: NaN }),
    () => ({ length: 3 }),
    () => () => 1,
    () => new Float32Array(0),
    () => new Float32Array(new SharedArrayBuffer(16)),
    () => detached(),
    () => new Uint8Array(3),
    () => new Int32Array([-1, 2 ** 31 - 1]),
    () => Object.create(null) as unknown,
    () => new Date(0),
    () => new Map(),
  ];
  return r.pick(values)();
}

/** Short text for a value in a case description. */
export function describe(v: unknown): string {
  if (typeof v === 'symbol') return 'Symbol()';
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'function';
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null) return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 30 ? `${v.slice(0, 30)}…` : v);
  if (ArrayBuffer.isView(v)) {
    let kind = v.constructor.name;
    try {
      new Uint8Array(v.buffer, 0, 0);
    } catch {
      kind += ' (detached)';
    }
    if (typeof SharedArrayBuffer !== 'undefined' && v.buffer instanceof SharedArrayBuffer) kind += ' (shared)';
    return `${kind}[${(v as unknown as { length: number }).length}]`;
  }
  try {
    const s = JSON.stringify(v);
    return s === undefined ? typeof v : s.length > 60 ? `${s.slice(0, 60)}…` : s;
  } catch {
    return typeof v;
  }
}
