/**
 * A long piece's merge loop, run a slice at a time: tokenizeAsync hands the models a `defer` callback,
 * and a piece longer than `longPiece.chars` is not merged on the spot but queued as a job that
 * tokenizeAsync runs in ~10 ms slices (the event loop free in between). The job runs the same code as
 * the synchronous path (encode() runs it with no deadline), so the tokens are the same.
 */
export interface MergeJob {
  /** At least this many tokens come out of the piece (known before merging: overflow is found early). */
  readonly minTokens: number;
  /** Merges until done (true) or until performance.now() passes `deadline` (false: call again). */
  run(deadline: number): boolean;
  /** Appends the piece's tokens (once run() returned true). */
  finish(out: number[]): void;
}

/** Takes a job; returns the placeholder (a negative number) the model pushes where its tokens go. */
export type Defer = (job: MergeJob) => number;

/** @internal Pieces longer than this (UTF-16 units) are merged as jobs by tokenizeAsync (tests lower it). */
export const longPiece = { chars: 8192 };

/** How many loop steps run between clock reads. */
export const CLOCK_EVERY = 1024;
