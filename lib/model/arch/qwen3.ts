/**
 * Qwen3 (Qwen3ForCausalLM, GGUF "qwen3"): llama with per-head RMS norms of q
 * and k before rope, rotate-half rope and head_dim independent of n_embd / n_head.
 */
import { llamaVariant } from './llama';

export const qwen3 = llamaVariant({
  name: 'qwen3',
  hfArchitectures: ['Qwen3ForCausalLM'],
  ggufRopeMode: 'neox',
  qkvBias: 'optional',
  qkNorm: true,
});
