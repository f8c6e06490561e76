/** Loading the llama.cpp / HF reference outputs under test/fixtures (see test/fixtures/reference/README.md). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Model } from '../../lib/model/model';

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

/**
 * Logits against a reference by the measures: nrmse = RMS(ours - ref) /
 * standard deviation of ref, over every position and token; and the top-1
 * agreement over the positions where the reference is confident (its top
 * logit leads the second by at least `margin` times that position's standard
 * deviation).
 */
export function logitStats(
  ours: Float32Array,
  ref: number[][],
  vocab: number,
  margin = 0.25,
): { nrmse: number; confident: number; top1Agree: number } {
  let se = 0,
    sum = 0,
    sumSq = 0,
    count = 0,
    confident = 0,
    agree = 0;
  ref.forEach((row, pos) => {
    let ai = 0,
      b1 = 0,
      rs = 0,
      rss = 0;
    for (let i = 0; i < vocab; i++) {
      const a = ours[pos * vocab + i]!;
      const b = row[i]!;
      se += (a - b) * (a - b);
      rs += b;
      rss += b * b;
      if (a > ours[pos * vocab + ai]!) ai = i;
      if (b > row[b1]!) b1 = i;
    }
    let b2 = b1 === 0 ? 1 : 0;
    for (let i = 0; i < vocab; i++) if (i !== b1 && row[i]! > row[b2]!) b2 = i;
    const sd = Math.sqrt(Math.max(0, rss / vocab - (rs / vocab) ** 2));
    if (row[b1]! - row[b2]! >= margin * sd) {
      confident++;
      if (ai === b1) agree++;
    }
    sum += rs;
    sumSq += rss;
    count += vocab;
  });
  const sd = Math.sqrt(Math.max(0, sumSq / count - (sum / count) ** 2));
  return { nrmse: Math.sqrt(se / count) / sd, confident, top1Agree: confident ? agree / confident : 1 };
}

/** The greedy continuation of `c` equals llama.cpp's. */
export async function expectGreedy(model: Model, c: RefCase): Promise<void> {
  const g = await model.generate(c.tokens, { maxTokens: c.greedy.length, temperature: 0 });
  expect(g.tokens).toEqual(c.greedy);
}
