import type { EmojiConcept, EmojiStyle } from './emoji-data.types';
import { createRng, shuffleInPlace, type Rng } from './seeded-random.util';

export const STYLE_PHRASES: Readonly<Record<EmojiStyle, string>> = {
  noto: 'noto style',
  twemoji: 'twemoji style',
  openmoji: 'openmoji style',
};

// Symbols that carry meaning in labels ("keycap: #") become words; everything else non-alphanumeric
// becomes a space, so a word-level tokenizer sees the same words for labels, tags and user prompts.
const SYMBOL_WORDS: ReadonlyArray<[RegExp, string]> = [
  [/&/g, ' and '],
  [/#/g, ' number sign '],
  [/\*/g, ' asterisk '],
];

/**
 * Normalises one caption part: lower case, accents folded ("piñata" → "pinata"), apostrophes, quotes and
 * dots dropped inside words ("o’clock" → "oclock", "u.s." → "us"), other punctuation (including commas,
 * which separate caption parts) turned into single spaces.
 */
export function normalizeCaptionText(text: string): string {
  let s = text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase();
  s = s.replace(/['‘’`"“”]/g, '').replace(/\./g, '');
  for (const [pattern, word] of SYMBOL_WORDS) s = s.replace(pattern, word);
  return s.replace(/[^a-z0-9]+/g, ' ').trim();
}

/** Normalises a full prompt, keeping commas as part separators: "Red Heart: love" → "red heart love". */
export function normalizePrompt(prompt: string): string {
  return prompt
    .split(',')
    .map(normalizeCaptionText)
    .filter((part) => part.length > 0)
    .join(', ');
}

/** Prompt for a subject in a style, in the same format as training captions. */
export function promptFor(subject: string, style: EmojiStyle | null): string {
  const parts = [normalizePrompt(subject)];
  if (style) parts.push(STYLE_PHRASES[style]);
  return parts.filter((p) => p.length > 0).join(', ');
}

export interface CaptionOptions {
  /** Most tags appended after the label (default 2). */
  maxTags?: number;
  /** With an rng: probability of dropping each tag (default 0.5), so the model also learns bare labels. */
  tagDropout?: number;
  /** Overrides the style phrase; null leaves it out (e.g. a tenant upload captioned by content only). */
  stylePhrase?: string | null;
}

/**
 * Caption for a concept in a style, e.g. "red heart, emotion, love, noto style".
 * Without rng the first `maxTags` tags are used (stable captions for caches and sidecars); with an rng
 * (or numeric/string seed) tags are shuffled and dropped out for training variety, reproducibly.
 */
export function captionFor(
  concept: EmojiConcept,
  style: EmojiStyle | null,
  rng?: Rng | number | string,
  options: CaptionOptions = {},
): string {
  const maxTags = Math.max(0, options.maxTags ?? 2);
  let tags: string[];
  if (rng === undefined) {
    tags = concept.tags.slice(0, maxTags);
  } else {
    const random = typeof rng === 'function' ? rng : createRng(rng);
    const dropout = options.tagDropout ?? 0.5;
    tags = shuffleInPlace(concept.tags.slice(), random)
      .filter(() => random() >= dropout)
      .slice(0, maxTags);
  }
  const phrase = options.stylePhrase === undefined ? (style ? STYLE_PHRASES[style] : null) : options.stylePhrase;
  const parts = [concept.label, ...tags];
  if (phrase) parts.push(normalizeCaptionText(phrase));
  return parts.filter((p) => p.length > 0).join(', ');
}
