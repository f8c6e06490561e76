/**
 * Token attributes (llama.cpp's llama_token_attr bits) and the shared
 * description of a vocabulary that both loaders produce.
 */

export const ATTR_UNDEFINED = 0;
export const ATTR_UNKNOWN = 1 << 0;
export const ATTR_UNUSED = 1 << 1;
export const ATTR_NORMAL = 1 << 2;
export const ATTR_CONTROL = 1 << 3;
export const ATTR_USER_DEFINED = 1 << 4;
export const ATTR_BYTE = 1 << 5;
/** Whitespace before / after the token is absorbed when it is matched in text. */
export const ATTR_LSTRIP = 1 << 7;
export const ATTR_RSTRIP = 1 << 8;

/** Attributes that make a token "special": hidden by `skipSpecial`, matched in text only with `parseSpecial`. */
export const SPECIAL_ATTRS = ATTR_UNKNOWN | ATTR_CONTROL | ATTR_UNUSED;

/** GGUF `tokenizer.ggml.token_type` value → attribute bits. */
export function attrFromTokenType(t: number): number {
  switch (t) {
    case 1:
      return ATTR_NORMAL;
    case 2:
      return ATTR_UNKNOWN;
    case 3:
      return ATTR_CONTROL;
    case 4:
      return ATTR_USER_DEFINED;
    case 5:
      return ATTR_UNUSED;
    case 6:
      return ATTR_BYTE;
    default:
      return ATTR_UNDEFINED;
  }
}

/** `<0xAB>` → 0xAB, or -1. */
export function byteTokenValue(text: string): number {
  if (text.length !== 6 || !text.startsWith('<0x') || text[5] !== '>') return -1;
  const v = parseInt(text.slice(3, 5), 16);
  return Number.isNaN(v) ? -1 : v;
}
