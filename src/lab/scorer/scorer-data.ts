import { buildEmojiDataset, EMOJI_STYLES, hashString32, loadEmojiCatalog, type EmojiConcept, type EmojiStyle } from '../emoji-data';

export const SCORER_HOLDOUT_SEED = 'emoji-scorer-holdout-v1';
export const SCORER_HOLDOUT_FRACTION = 0.15;

/** Every labelled real image the scorer learns from, in dataset order. */
export interface ScorerDataset {
  size: number;
  count: number;
  /** count × 3 × size × size, CHW, RGB in [-1, 1] on white. */
  images: Float32Array;
  /** Per image: index into `styles`. */
  styleLabels: Int32Array;
  /** Per image: index into `conceptIds` (the concept head's order). */
  conceptLabels: Int32Array;
  styles: readonly EmojiStyle[];
  conceptIds: string[];
  concepts: EmojiConcept[];
}

/**
 * Real emoji of all three styles. Flags are left out of the concept vocabulary: the base model is trained
 * without them and, at 32 px, they differ mostly by colour stripes, which would spend head capacity on
 * concepts no evaluation prompt uses.
 */
export async function loadScorerDataset(opts: { size?: number; limit?: number; onProgress?: (done: number, total: number) => void } = {}): Promise<ScorerDataset> {
  const catalog = loadEmojiCatalog({ includeFlags: false });
  const concepts = opts.limit !== undefined ? catalog.concepts.slice(0, opts.limit) : catalog.concepts;
  const data = await buildEmojiDataset({ styles: EMOJI_STYLES, concepts, size: opts.size ?? 32, onProgress: opts.onProgress });
  const conceptIds = concepts.map((c) => c.id);
  const conceptIndex = new Map(conceptIds.map((id, i) => [id, i]));
  const styleIndex = new Map(EMOJI_STYLES.map((s, i) => [s, i]));
  return {
    size: data.size,
    count: data.count,
    images: data.images,
    styleLabels: Int32Array.from(data.styles, (s) => styleIndex.get(s)!),
    conceptLabels: Int32Array.from(data.conceptIds, (id) => {
      const i = conceptIndex.get(id);
      if (i === undefined) throw new Error(`image of unknown concept ${id}`);
      return i;
    }),
    styles: EMOJI_STYLES,
    conceptIds,
    concepts,
  };
}

export interface ScorerSplit {
  /** Image indices trained on. */
  train: number[];
  /** One unseen rendering each of ~15% of the concepts that have at least two renderings. */
  heldOut: number[];
}

/**
 * Deterministic evaluation split over images, not concepts: a seeded hash picks ~`fraction` of the concepts
 * drawn in two or more styles, and a second hash picks which of their renderings is held out. Every concept
 * stays known to the classifier, so held-out accuracy measures recognising a known concept in a rendering
 * never seen — what scoring generated images needs.
 */
export function splitScorerImages(
  data: Pick<ScorerDataset, 'count' | 'conceptLabels' | 'conceptIds' | 'styleLabels' | 'styles'>,
  opts: { seed?: string; fraction?: number } = {},
): ScorerSplit {
  const seed = opts.seed ?? SCORER_HOLDOUT_SEED;
  const fraction = opts.fraction ?? SCORER_HOLDOUT_FRACTION;
  const byConcept = new Map<number, number[]>();
  for (let i = 0; i < data.count; i++) {
    const list = byConcept.get(data.conceptLabels[i]) ?? [];
    list.push(i);
    byConcept.set(data.conceptLabels[i], list);
  }
  const heldOut = new Set<number>();
  for (const [concept, images] of byConcept) {
    if (images.length < 2) continue;
    const id = data.conceptIds[concept];
    if (hashString32(`${seed}:${id}`) / 2 ** 32 >= fraction) continue;
    heldOut.add(images[hashString32(`${seed}:rendering:${id}`) % images.length]);
  }
  const train: number[] = [];
  const held: number[] = [];
  for (let i = 0; i < data.count; i++) (heldOut.has(i) ? held : train).push(i);
  return { train, heldOut: held };
}
