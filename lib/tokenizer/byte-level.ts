/**
 * GPT-2's reversible byte ↔ printable-character map, used by byte-level BPE
 * vocabularies: printable Latin-1 bytes map to themselves, the other 68 bytes
 * to U+0100 upwards in byte order.
 */

function build(): { byteToChar: string[]; charToByte: Map<number, number> } {
  const byteToChar: string[] = new Array<string>(256);
  const charToByte = new Map<number, number>();
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const cp = printable(b) ? b : 256 + n++;
    byteToChar[b] = String.fromCharCode(cp);
    charToByte.set(cp, b);
  }
  return { byteToChar, charToByte };
}

const maps = build();

/** `BYTE_TO_CHAR[b]` is the one-character string standing for byte `b`. */
export const BYTE_TO_CHAR: readonly string[] = maps.byteToChar;
/** Codepoint of a byte-level character → its byte. */
export const CHAR_TO_BYTE: ReadonlyMap<number, number> = maps.charToByte;

/** Maps raw UTF-8 bytes to their byte-level string. */
export function bytesToByteLevel(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let s = '';
  for (let i = start; i < end; i++) s += BYTE_TO_CHAR[bytes[i]!]!;
  return s;
}
