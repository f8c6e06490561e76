/**
 * transformers' tensor names → GGUF tensor names, shared by the families:
 * whole names (embeddings, final norm, head) and per-layer suffixes of
 * `model.layers.<i>.` (→ `blk.<i>.<name>`).
 */

/** `model.layers.<i>.<rest>`: [, i, rest]. */
const HF_LAYER_RE = /^model\.layers\.(0|[1-9][0-9]{0,5})\.(.+)$/;

/** The GGUF name of a transformers tensor per the two tables, or undefined (e.g. rotary_emb.inv_freq). */
export function hfNameMapper(
  global: Readonly<Record<string, string>>,
  layer: Readonly<Record<string, string>>,
): (hfName: string) => string | undefined {
  return (hfName) => {
    if (Object.hasOwn(global, hfName)) return global[hfName];
    const m = HF_LAYER_RE.exec(hfName);
    if (!m || !Object.hasOwn(layer, m[2]!)) return undefined;
    return `blk.${m[1]}.${layer[m[2]!]}`;
  };
}
