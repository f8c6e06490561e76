/** Qwen2 (Qwen2ForCausalLM, GGUF "qwen2"): llama with q/k/v biases and rotate-half rope. */
import { llamaVariant } from './llama';

export const qwen2 = llamaVariant({
  name: 'qwen2',
  hfArchitectures: ['Qwen2ForCausalLM'],
  ggufRopeMode: 'neox',
  qkvBias: 'required',
  qkNorm: false,
});
