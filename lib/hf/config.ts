/**
 * config.json → architecture and hyperparameters (transformers' field names,
 * including v5's `rope_parameters` beside the older `rope_theta`/`rope_scaling`).
 */
import { BadModelError, UnsupportedError } from '../errors';
import type { Architecture, ModelHParams, RopeScalingLlama3 } from '../model/description';

const ARCH_BY_CLASS: Record<string, Architecture> = {
  LlamaForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
};

type Json = Record<string, unknown>;

export function architectureOfConfig(config: Json): Architecture {
  const archs = config['architectures'];
  const cls = Array.isArray(archs) && typeof archs[0] === 'string' ? archs[0] : undefined;
  if (cls === undefined) throw new BadModelError('config.json: "architectures" is missing');
  const arch = ARCH_BY_CLASS[cls];
  if (!arch) {
    throw new UnsupportedError(
      `unsupported model architecture "${cls}" (supported: ${Object.keys(ARCH_BY_CLASS).join(', ')})`,
      'ERR_UNSUPPORTED_ARCH',
    );
  }
  return arch;
}

function num(config: Json, key: string, fallback?: number): number {
  const v = config[key];
  if (v === undefined || v === null) {
    if (fallback === undefined) throw new BadModelError(`config.json: "${key}" is missing`);
    return fallback;
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new BadModelError(`config.json: "${key}" is not a number`);
  return v;
}

function ropeScaling(config: Json): RopeScalingLlama3 | undefined {
  // transformers v5 folds rope_theta and the scaling into rope_parameters.
  const raw = config['rope_scaling'] ?? config['rope_parameters'];
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw new BadModelError('config.json: "rope_scaling" is not an object');
  const r = raw as Json;
  const type = r['rope_type'] ?? r['type'] ?? 'default';
  if (type === 'default') return undefined;
  if (type === 'linear' && r['factor'] === 1) return undefined;
  if (type !== 'llama3') throw new UnsupportedError(`rope scaling ${JSON.stringify(type)} is not supported`);
  const f = (k: string): number => {
    const v = r[k];
    if (typeof v !== 'number') throw new BadModelError(`config.json: rope scaling "${k}" is not a number`);
    return v;
  };
  return {
    type: 'llama3',
    factor: f('factor'),
    lowFreqFactor: f('low_freq_factor'),
    highFreqFactor: f('high_freq_factor'),
    originalContextLength: f('original_max_position_embeddings'),
  };
}

/**
 * Hyperparameters from config.json. `hasLmHead` decides tying when the config
 * does not say. HF llama weights are kept unpermuted, so rope is 'neox' for
 * every architecture here (HF's rotate-half layout).
 */
export function hparamsOfConfig(config: Json, hasLmHead: boolean): ModelHParams {
  const nEmbd = num(config, 'hidden_size');
  const nHead = num(config, 'num_attention_heads');
  const headDim = num(config, 'head_dim', nHead > 0 ? Math.floor(nEmbd / nHead) : 0);
  const params = config['rope_parameters'];
  const theta =
    config['rope_theta'] ??
    (typeof params === 'object' && params !== null ? (params as Json)['rope_theta'] : undefined) ??
    10000;
  if (typeof theta !== 'number') throw new BadModelError('config.json: "rope_theta" is not a number');
  const tie = config['tie_word_embeddings'];
  if (tie !== undefined && typeof tie !== 'boolean')
    throw new BadModelError('config.json: "tie_word_embeddings" is not a boolean');
  const partial = num(config, 'partial_rotary_factor', 1);
  const hp: ModelHParams = {
    nLayer: num(config, 'num_hidden_layers'),
    nEmbd,
    nHead,
    nKvHead: num(config, 'num_key_value_heads', nHead),
    headDim,
    nFf: num(config, 'intermediate_size'),
    vocabSize: num(config, 'vocab_size'),
    contextLength: num(config, 'max_position_embeddings', 2048),
    rmsEps: num(config, 'rms_norm_eps', 1e-6),
    ropeTheta: theta,
    ropeMode: 'neox',
    nRot: Math.floor(headDim * partial),
    tiedEmbeddings: tie ?? !hasLmHead,
  };
  const scaling = ropeScaling(config);
  if (scaling) hp.ropeScaling = scaling;
  return hp;
}
