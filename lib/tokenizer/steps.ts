/**
 * Builds written as generators that `yield` between steps: run at once (the synchronous API), or with
 * the event loop free every ~5 ms (loading inside loadModel / loadTokenizer).
 */

/** Yielded by a build to give the event loop a turn now, however little of the slice was used. */
export const TURN = 'turn';
/** What a build's steps yield: nothing (a turn when the slice is spent) or TURN. */
export type Step = void | typeof TURN;

/**
 * Whether adding a key to a Map of this size makes V8 grow its table: a rehash of every entry in one
 * step (~12 ms at 131,072 entries on a quiet machine). Builds put such an add in a turn of its own.
 */
export function mapGrowsOnAdd(size: number): boolean {
  return size >= 1 << 14 && (size & (size - 1)) === 0;
}

export function runSteps<T>(g: Generator<Step, T, undefined>): T {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
}

export async function runStepsAsync<T>(g: Generator<Step, T, undefined>, sliceMs = 5): Promise<T> {
  let t0 = performance.now();
  for (;;) {
    const r = g.next();
    if (r.done) {
      // What the caller does with the result starts a fresh slice.
      await new Promise((res) => setImmediate(res));
      return r.value;
    }
    if (r.value === TURN || performance.now() - t0 > sliceMs) {
      await new Promise((res) => setImmediate(res));
      t0 = performance.now();
    }
  }
}
