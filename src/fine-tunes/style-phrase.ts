/*
 * The style phrase: a trigger appended to every training caption, so prompts that include it call up
 * the learned style and prompts without it stay close to the base model.
 *
 * The bundled model's tokenizer is word-level: words it has never seen become [UNK]. A phrase made of
 * new words ("acme style") still works as a trigger (its token sequence, e.g. [UNK] style, is what the
 * adapter learns to answer), but it is shared with any other unknown words in a prompt.
 */

export const STYLE_PHRASE_MAX_LENGTH = 100;

/** C0/C1 control characters (tabs and newlines included) and the Unicode line/paragraph separators. */
export const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
/** A string with none of CONTROL_CHARACTERS. */
export const WITHOUT_CONTROL_CHARACTERS = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$/;

/** Lower case, trimmed, inner whitespace collapsed to single spaces. */
export function normalizeStylePhrase(phrase: string): string {
  return phrase.toLowerCase().replace(/\s+/g, ' ').trim();
}

/**
 * The default phrase for a dataset: its name, normalised, followed by "style" ("Mood board" →
 * "mood board style"; "Acme style" stays "acme style"). Control characters become spaces and the
 * result is cut at a word boundary to fit the length limit.
 */
export function defaultStylePhrase(datasetName: string): string {
  let base = normalizeStylePhrase(datasetName.replace(CONTROL_CHARACTERS, ' '));
  base = base.replace(/\s*\bstyle$/, '').trim();
  const room = STYLE_PHRASE_MAX_LENGTH - ' style'.length;
  if (base.length > room) {
    const cut = base.slice(0, room + 1);
    const space = cut.lastIndexOf(' ');
    base = (space > 0 ? cut.slice(0, space) : cut.slice(0, room)).trim();
  }
  return base ? `${base} style` : 'custom style';
}

/**
 * The caption the adapter trains on: the phrase appended after a comma ("a red fox" → "a red fox,
 * acme style"), or the phrase alone for an uncaptioned image. A caption that already contains the
 * phrase (case and spacing aside) is left as it is.
 */
export function withStylePhrase(caption: string | null | undefined, phrase: string | null | undefined): string {
  const text = (caption ?? '').trim();
  if (!phrase) return text;
  if (normalizeStylePhrase(text).includes(normalizeStylePhrase(phrase))) return text;
  return text ? `${text.replace(/[\s,]+$/, '')}, ${phrase}` : phrase;
}

/**
 * The caption with the phrase taken out (case and spacing aside) and the joining comma tidied: what
 * output preservation holds to the base model ("a red fox, acme style" → "a red fox").
 */
export function withoutStylePhrase(caption: string | null | undefined, phrase: string | null | undefined): string {
  const text = normalizeStylePhrase(caption ?? '');
  const p = phrase ? normalizeStylePhrase(phrase) : '';
  if (!p) return text;
  return text
    .split(p)
    .join(' ')
    .replace(/\s*,(\s*,)+\s*/g, ', ')
    .replace(/^[\s,]+|[\s,]+$/g, '')
    .replace(/\s+/g, ' ');
}
