/**
 * The harness checking itself (test/fuzz.test.ts runs it, not as a suite):
 * case 0 crashes the process, case 1 hangs, case 2 throws a raw TypeError,
 * case 3 passes. Each must be reported against the right case.
 */
import type { FuzzSuite } from './suite';

export const selftestSuite: FuzzSuite<undefined> = {
  name: 'selftest',
  count: 4,
  batch: 1,
  caseTimeoutMs: 3000,
  setup: () => Promise.resolve(undefined),
  make(i) {
    const cases = [
      { desc: 'abort the process', run: () => process.abort() },
      {
        desc: 'never settle, keeping the event loop alive',
        run: () => new Promise<void>(() => setInterval(() => {}, 1000)),
      },
      { desc: 'throw a raw TypeError', run: () => (null as unknown as { x: number }).x as unknown as void },
      { desc: 'pass', run: () => undefined },
    ];
    return cases[i]!;
  },
};
