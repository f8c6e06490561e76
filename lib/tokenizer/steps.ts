/**
 * Builds written as generators that `yield` between steps: run at once (the synchronous API), or with
 * the event loop free every ~10 ms (loading inside loadModel / loadTokenizer).
 */

export function runSteps<T>(g: Generator<void, T, undefined>): T {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
}

export async function runStepsAsync<T>(g: Generator<void, T, undefined>, sliceMs = 10): Promise<T> {
  let t0 = performance.now();
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
    if (performance.now() - t0 > sliceMs) {
      await new Promise((res) => setImmediate(res));
      t0 = performance.now();
    }
  }
}
