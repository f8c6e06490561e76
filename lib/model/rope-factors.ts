import type { ModelHParams } from './hparams';

/**
 * llama3 rope scaling as llama.cpp / transformers compute it: one divisor per
 * rotated pair, 1 for high frequencies, `factor` for low ones, smooth between.
 */
export function llama3FreqFactors(hp: ModelHParams): Float32Array | undefined {
  const s = hp.ropeScaling;
  if (!s) return undefined;
  const half = hp.nRot / 2;
  const out = new Float32Array(half); // [n_rot/2]
  const lowWavelen = s.originalContextLength / s.lowFreqFactor;
  const highWavelen = s.originalContextLength / s.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const freq = Math.pow(hp.ropeTheta, (-2 * i) / hp.nRot);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = s.factor;
    else {
      const smooth = (s.originalContextLength / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[i] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}
