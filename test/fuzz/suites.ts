/** Every fuzz suite, in the order test/fuzz.test.ts runs them. */
import { apiSuite } from './api';
import { ggufSuite } from './gguf';
import { kernelsSuite } from './kernels';
import { tokenizerSuite } from './tokenizer';
import type { FuzzSuite } from './suite';

export const SUITES: ReadonlyArray<FuzzSuite<never>> = [
  apiSuite as FuzzSuite<never>,
  ggufSuite as FuzzSuite<never>,
  kernelsSuite as FuzzSuite<never>,
  tokenizerSuite as FuzzSuite<never>,
];
