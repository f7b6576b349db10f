import type { EmojiStyle } from '../../engine/scorer/emoji-styles';
export { EMOJI_STYLES, type EmojiStyle } from '../../engine/scorer/emoji-styles';

/** Styles used to pretrain the base model. OpenMoji stays out so it can serve as an unseen brand. */
export const BASE_TRAINING_STYLES: readonly EmojiStyle[] = ['noto', 'twemoji'];

export interface EmojiAvailability {
  noto: boolean;
  twemoji: boolean;
  openmoji: boolean;
}

export interface EmojiConcept {
  /** emojibase hexcode, upper case, without FE0F variation selectors (e.g. "2764", "1F408-200D-2B1B"). */
  id: string;
  /** Caption-ready label: lower case, punctuation stripped (e.g. "flag united states"). */
  label: string;
  /** Original emojibase label, for display and model cards (e.g. "flag: United States"). */
  displayLabel: string;
  /** Caption-ready emojibase tags, minus tags that only repeat label words. */
  tags: string[];
  /** emojibase group name, e.g. "smileys-emotion", "flags". */
  group: string;
  subgroup: string;
  emoji: string;
  /** emojibase sort order; catalogues are sorted by it. */
  order: number;
  availability: EmojiAvailability;
  /** Image file names inside each style's image directory. */
  files: Partial<Record<EmojiStyle, string>>;
}
