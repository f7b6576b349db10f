// GPT-2/CLIP byte-level alphabet: every UTF-8 byte maps to a printable character so BPE never sees
// whitespace or control characters. Printable Latin-1 bytes map to themselves; the remaining 68 bytes
// map, in byte order, to U+0100, U+0101, ... (space 0x20 → "Ġ" U+0120, newline 0x0A → "Ċ" U+010A).

function buildByteToChar(): string[] {
  const keep: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) keep.push(b);
  for (let b = 0xa1; b <= 0xac; b++) keep.push(b);
  for (let b = 0xae; b <= 0xff; b++) keep.push(b);
  const table = new Array<string>(256);
  for (const b of keep) table[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (table[b] === undefined) table[b] = String.fromCharCode(256 + n++);
  }
  return table;
}

export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

const encoder = new TextEncoder();

/** Maps a string's UTF-8 bytes to byte-level characters. */
export function byteLevelEncode(text: string): string {
  let out = '';
  for (const b of encoder.encode(text)) out += BYTE_TO_CHAR[b];
  return out;
}

/**
 * Maps byte-level characters back to text; characters outside the alphabet pass through as their
 * own UTF-8, and invalid UTF-8 becomes U+FFFD (as the reference decoder's lossy conversion does).
 */
export function byteLevelDecode(text: string): string {
  const bytes: number[] = [];
  for (const ch of text) {
    const b = CHAR_TO_BYTE.get(ch);
    if (b !== undefined) bytes.push(b);
    else bytes.push(...encoder.encode(ch));
  }
  return new TextDecoder('utf-8').decode(Uint8Array.from(bytes));
}
