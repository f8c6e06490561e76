/**
 * The hardware probe behind the kernel benchmark's "% of bandwidth" and "% of
 * peak" columns (native/cpu/probe*.cc): finite positive figures, and a peak
 * that comes from the widest vector unit the kernels use: at the AVX-512
 * level the 16-wide FMA loop, never much below the 8-wide one (equal on Zen 4,
 * which splits a 512-bit FMA in two; twice on Zen 5 and Intel's server cores).
 */
import { native } from '../lib/native';

afterAll(() => native().setCpuSimd('auto'));

test('probeHardware measures read bandwidth and the FMA peak', () => {
  const hw = native().probeHardware({ threads: 1, bandwidthBytes: 32 << 20 });
  for (const v of [hw.readGBs, hw.readGBsSmallPages, hw.peakGflops]) {
    expect(Number.isFinite(v)).toBe(true);
    expect(v).toBeGreaterThan(0);
  }
});

const avx512 = process.arch === 'x64' && native().cpuInfo().simd === 'avx512';
(avx512 ? test : test.skip)('the peak at the AVX-512 level comes from 512-bit FMAs', () => {
  // Best of 3 each, the levels alternating (a busy machine slows either).
  const best = (simd: 'auto' | 'avx2'): number => {
    native().setCpuSimd(simd);
    return native().probeHardware({ threads: 1, bandwidthBytes: 1 << 20 }).peakGflops;
  };
  let wide = 0;
  let narrow = 0;
  for (let i = 0; i < 3; i++) {
    wide = Math.max(wide, best('auto'));
    narrow = Math.max(narrow, best('avx2'));
  }
  expect(wide).toBeGreaterThan(0.8 * narrow);
});
