/** What a fuzz suite is: numbered cases, each built from its own seeded Rng, run in child-process batches. */
import type { ErrorCode } from '../../lib/errors';
import type { Rng } from './rng';

export interface FuzzCase {
  /** Printed before the case runs: enough to see what it does (the index and seed re-create it exactly). */
  desc: string;
  run(): Promise<void> | void;
  /** The case's arguments are all valid: any error at all fails it. */
  valid?: boolean;
  /** The case is built to fail: succeeding fails it. */
  mustFail?: boolean;
  /**
   * A known open issue this case may hit (owner and item): a raw error or an
   * unexpected code is reported as known instead of failing. Crashes and hangs
   * still fail.
   */
  known?: string;
  /** Error codes this case may also end with, beyond the suite's `allowed`. */
  alsoAllowed?: readonly ErrorCode[];
}

export interface FuzzSuite<S = unknown> {
  name: string;
  /** Cases in `npm test` (a seeded, bounded run). */
  count: number;
  /** Cases per child process. */
  batch: number;
  /** Longest one case may take before the batch counts as hung. */
  caseTimeoutMs: number;
  /** Error codes a case may end with (any MiniMacLLMError code when absent). ERR_INTERNAL never passes. */
  allowed?: readonly ErrorCode[];
  /** Built once per child process (e.g. a loaded model). */
  setup(): Promise<S>;
  teardown?(state: S): Promise<void>;
  make(i: number, r: Rng, state: S): FuzzCase;
}
