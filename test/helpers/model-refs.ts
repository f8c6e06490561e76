/** Loading the llama.cpp / HF reference outputs under test/fixtures (see test/fixtures/reference/README.md). */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const FIXTURES = path.join(__dirname, '..', 'fixtures');
export const fixture = (...p: string[]): string => path.join(FIXTURES, ...p);

export interface RefCase {
  text: string;
  tokens: number[];
  greedy: number[];
  /** logits[pos][token] */
  logits: number[][];
}

export function readJson<T>(...p: string[]): T {
  return JSON.parse(fs.readFileSync(fixture(...p), 'utf8')) as T;
}

export function refCases(...p: string[]): RefCase[] {
  return readJson<{ cases: RefCase[] }>(...p).cases;
}

/** Largest |a - b| over every position, and the largest |b| (scale of the reference). */
export function maxAbsDiff(
  ours: Float32Array,
  ref: number[][],
  vocab: number,
): { maxDiff: number; maxRef: number; argmaxAgree: number } {
  let maxDiff = 0,
    maxRef = 0,
    agree = 0;
  ref.forEach((row, pos) => {
    let ai = 0,
      bi = 0;
    for (let i = 0; i < vocab; i++) {
      const a = ours[pos * vocab + i]!;
      const b = row[i]!;
      maxDiff = Math.max(maxDiff, Math.abs(a - b));
      maxRef = Math.max(maxRef, Math.abs(b));
      if (a > ours[pos * vocab + ai]!) ai = i;
      if (b > row[bi]!) bi = i;
    }
    if (ai === bi) agree++;
  });
  return { maxDiff, maxRef, argmaxAgree: agree / ref.length };
}
