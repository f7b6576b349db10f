/** Emoji art styles the bundled scorer tells apart. Noto and Twemoji train the base model; OpenMoji is the brand. */
export type EmojiStyle = 'noto' | 'twemoji' | 'openmoji';

export const EMOJI_STYLES: readonly EmojiStyle[] = ['noto', 'twemoji', 'openmoji'];

/** Upper case, FE0F variation selectors removed, so the emoji sources and the scorer join on one key. */
export function normalizeHexcode(hexcode: string): string {
  return hexcode
    .toUpperCase()
    .split(/[-_ ]/)
    .filter((cp) => cp.length > 0 && cp !== 'FE0F')
    .join('-');
}
