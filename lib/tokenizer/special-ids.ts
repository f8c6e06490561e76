/**
 * llama.cpp's text-based special-token rules (llama-vocab.cpp, `load`), applied
 * to vocabularies from GGUF and from tokenizer.json alike so that both agree:
 * end-of-turn, end-of-message and fill-in-the-middle tokens are found by their
 * text and made control tokens; every token in the end-of-generation list
 * becomes a control token that ends generation (so `"</s>"` typed by a user
 * stays text unless `parseSpecial`); control tokens named "unused" are unused.
 */
import { ATTR_CONTROL, ATTR_NORMAL, ATTR_UNUSED, ATTR_USER_DEFINED } from './vocab';
import type { TokenLookup } from './token-index';

/** End-of-turn texts, in the order they are tried. */
export const EOT_TEXTS = [
  '<|eot_id|>',
  '<|im_end|>',
  '<|end|>',
  '<end_of_turn>',
  '<|endoftext|>',
  '<|end_of_text|>',
  '<EOT>',
  '_<EOT>',
  '[EOT]',
  '<｜end▁of▁sentence｜>',
  '<end_of_utterance>',
];
const EOM_TEXTS = ['<|eom_id|>'];
const FIM_TEXTS = {
  pre: [
    '<|fim_prefix|>',
    '<fim-prefix>',
    '<fim_prefix>',
    '<｜fim▁begin｜>',
    '<PRE>',
    '▁<PRE>',
    '<|code_prefix|>',
    '<|prefix|>',
  ],
  suf: [
    '<|fim_suffix|>',
    '<fim-suffix>',
    '<fim_suffix>',
    '<｜fim▁hole｜>',
    '<SUF>',
    '▁<SUF>',
    '<|code_suffix|>',
    '<|suffix|>',
  ],
  mid: [
    '<|fim_middle|>',
    '<fim-middle>',
    '<fim_middle>',
    '<｜fim▁end｜>',
    '<MID>',
    '▁<MID>',
    '<|code_middle|>',
    '<|middle|>',
  ],
  pad: ['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]'],
  rep: ['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>'],
  sep: ['<|file_sep|>'],
};
/** Texts that end generation. */
export const EOG_TEXTS = [
  '<|eot_id|>',
  '<|im_end|>',
  '<|end|>',
  '<|return|>',
  '<|call|>',
  '<|flush|>',
  '<|calls|>',
  '<end_of_turn>',
  '<|endoftext|>',
  '</s>',
  '<|eom_id|>',
  '<EOT>',
  '_<EOT>',
  '[EOT]',
  '[EOS]',
  '<|end_of_text|>',
  '<end_of_utterance>',
  '<eos>',
  '<turn|>',
  '<|tool_response>',
  '<｜end▁of▁sentence｜>',
  '[e~[',
];
/** gpt-oss markers that are always rendered (llama.cpp makes them user-defined). */
const ALWAYS_TEXT = ['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>'];

export type FimRole = keyof typeof FIM_TEXTS;

/** Ids the file names explicitly (GGUF `tokenizer.ggml.*_token_id`); the rest are found by text. */
export interface GivenSpecialIds {
  eos?: number | undefined;
  eot?: number | undefined;
  eom?: number | undefined;
  fim?: Partial<Record<FimRole, number | undefined>>;
}

export interface SpecialIds {
  eot: number | undefined;
  eom: number | undefined;
  /** Every id that ends generation. */
  eog: number[];
}

/** Applies the rules to `attrs` (changed in place) and returns the special ids. */
export function applySpecialTextRules(
  tokens: readonly string[],
  tokenToId: TokenLookup,
  attrs: Uint16Array,
  given: GivenSpecialIds,
): SpecialIds {
  const find = (texts: readonly string[]): number | undefined => {
    for (const t of texts) {
      const id = tokenToId.get(t);
      if (id !== undefined) return id;
    }
    return undefined;
  };
  const byText = (id: number | undefined, texts: readonly string[]): number | undefined => {
    if (id !== undefined) return id;
    const found = find(texts);
    if (found !== undefined) attrs[found] = attrs[found]! | ATTR_CONTROL;
    return found;
  };
  const eot = byText(given.eot, EOT_TEXTS);
  const eom = byText(given.eom, EOM_TEXTS);
  const fim: Partial<Record<FimRole, number>> = {};
  for (const role of Object.keys(FIM_TEXTS) as FimRole[]) {
    const id = byText(given.fim?.[role], FIM_TEXTS[role]);
    if (id !== undefined) fim[role] = id;
  }

  for (let id = 0; id < tokens.length; id++) {
    if (attrs[id]! & ATTR_CONTROL && tokens[id]!.includes('unused')) attrs[id] = attrs[id]! | ATTR_UNUSED;
  }

  const eog = new Set<number>();
  for (const id of [fim.pad, fim.rep, fim.sep]) if (id !== undefined) eog.add(id);
  for (const t of EOG_TEXTS) {
    const id = tokenToId.get(t);
    if (id === undefined) continue;
    eog.add(id);
    attrs[id] = attrs[id]! | ATTR_CONTROL;
  }
  for (const t of ALWAYS_TEXT) {
    const id = tokenToId.get(t);
    if (id !== undefined) attrs[id] = ATTR_USER_DEFINED;
  }
  for (const id of [given.eos, eot, eom]) if (id !== undefined) eog.add(id);

  const has = (t: string) => {
    const id = tokenToId.get(t);
    return id !== undefined && eog.has(id);
  };
  // o200k_harmony / solar-open: "<|end|>" ends a message, not the generation.
  const end = tokenToId.get('<|end|>');
  if (end !== undefined && eog.has(end)) {
    if ((has('<|return|>') && has('<|call|>')) || (has('<|calls|>') && has('<|flush|>'))) {
      eog.delete(end);
      attrs[end] = ATTR_USER_DEFINED;
    }
  }
  // gemma4 / paddleocr: "</s>" is ordinary text there.
  const s = tokenToId.get('</s>');
  if (s !== undefined && eog.has(s) && has('<|tool_response>')) {
    eog.delete(s);
    attrs[s] = ATTR_NORMAL;
  }
  return { eot, eom, eog: [...eog] };
}
