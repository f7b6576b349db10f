/**
 * Prompts the bundled emoji-base model knows well (all in its training split, one per family of shapes):
 * the fine-tune preview and every evaluation use them, and the docs' examples are drawn from them.
 * `id` is the emojibase hexcode of the concept, so the scorer can check what was drawn.
 */
export const COMMON_EVAL_PROMPTS: ReadonlyArray<{ prompt: string; id: string }> = [
  { prompt: 'red heart', id: '2764' },
  { prompt: 'sun', id: '2600' },
  { prompt: 'smiling face', id: '263A' },
  { prompt: 'cat face', id: '1F431' },
  { prompt: 'pizza', id: '1F355' },
  { prompt: 'tree', id: '1F333' }, // emojibase label "deciduous tree"
  { prompt: 'rocket', id: '1F680' },
];
