/** Hugging Face → GGUF tensor names, for the llama/qwen2/qwen3 families. */

const GLOBAL: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};

const LAYER: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.o_proj.bias': 'attn_output.bias',
  'self_attn.q_norm.weight': 'attn_q_norm.weight',
  'self_attn.k_norm.weight': 'attn_k_norm.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};

const LAYER_RE = /^model\.layers\.(0|[1-9][0-9]{0,5})\.(.+)$/;

/** The GGUF name of an HF tensor, or undefined for tensors the model does not use (e.g. rotary_emb.inv_freq). */
export function ggufName(hfName: string): string | undefined {
  const g = GLOBAL[hfName];
  if (g) return g;
  const m = LAYER_RE.exec(hfName);
  if (!m) return undefined;
  const rest = LAYER[m[2]!];
  return rest ? `blk.${m[1]}.${rest}` : undefined;
}
