import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { COMMON_EVAL_PROMPTS, GENERATION_DEFAULTS, type LoraAdapter, BUNDLED_MODEL_NAME, type DiffusionModel, encodeRgbPng, tileImages, createPipeline, type GenerationRequest, BUNDLED_SCORER_NAME, EmojiScorer } from '../engine';
import type { FineTunePreviewInfo } from './fine-tune.entity';
import { normalizeStylePhrase, withStylePhrase } from './style-phrase';

/*
 * The validation preview of a fine-tune: prompts the dataset does not use, with the style phrase,
 * sampled without and with the new adapter, tiled into one PNG (rows: prompts; columns: the base
 * model's images, a white gap, the adapter's images; one image per seed in each half).
 */

export const PREVIEW_PROMPTS = 4;
export const PREVIEW_SEEDS: readonly number[] = [1, 2];
/** The API's default sampling (POST /v1/generations without steps or guidanceScale). */
export const PREVIEW_SAMPLING = { steps: GENERATION_DEFAULTS.steps, guidanceScale: GENERATION_DEFAULTS.guidanceScale, scheduler: GENERATION_DEFAULTS.scheduler };
/** Tiles are enlarged with nearest neighbour to about this many pixels, so small models stay viewable. */
const TILE_PIXELS = 96;

/** Subjects for base models that ship no prompt list: everyday things any text-to-image model knows. */
const GENERIC_PREVIEW_SUBJECTS: readonly string[] = ['a house', 'a tree', 'a cup of coffee', 'a mountain lake', 'a bicycle', 'a portrait of a woman'];

export interface PreviewSubject {
  /** The subject without the style phrase. */
  subject: string;
  /** The scorer's concept of the subject (bundled model only). */
  conceptId: string | null;
}

/**
 * PREVIEW_PROMPTS subjects the base model knows and the dataset's captions do not mention: the bundled
 * model's common evaluation prompts, else GENERIC_PREVIEW_SUBJECTS. Mentioned ones fill up only when
 * too few are left.
 */
export function previewSubjects(baseModel: string, datasetCaptions: readonly string[]): PreviewSubject[] {
  const pool: PreviewSubject[] =
    baseModel === BUNDLED_MODEL_NAME
      ? COMMON_EVAL_PROMPTS.map((p) => ({ subject: p.prompt, conceptId: p.id }))
      : GENERIC_PREVIEW_SUBJECTS.map((subject) => ({ subject, conceptId: null }));
  const captions = datasetCaptions.map(normalizeStylePhrase);
  const mentioned = (s: PreviewSubject) => captions.some((c) => c.includes(normalizeStylePhrase(s.subject)));
  return [...pool.filter((s) => !mentioned(s)), ...pool.filter(mentioned)].slice(0, PREVIEW_PROMPTS);
}

export interface RenderPreviewOptions {
  model: DiffusionModel;
  baseModel: string;
  adapter: LoraAdapter;
  scale: number;
  stylePhrase: string | null;
  datasetCaptions: readonly string[];
  /** Where the bundled model's scorer (emoji-scorer) would be installed. */
  modelsDir: string;
  intraOpThreads?: number;
  /** Splits the preview's batch to stay within this estimated activation memory (GENERATION_MEMORY_BUDGET_MB). */
  memoryBudgetBytes?: number;
  /** Told why concept scores are missing when the scorer failed (the preview itself still renders). */
  onScorerError?: (error: Error) => void;
}

export interface RenderedPreview {
  png: Buffer;
  info: Omit<FineTunePreviewInfo, 'status' | 'storageKey' | 'error'>;
}

/** Generates and tiles the preview; scores it when the base model has a scorer. Throws when generation fails. */
export async function renderPreview(o: RenderPreviewOptions): Promise<RenderedPreview> {
  const subjects = previewSubjects(o.baseModel, o.datasetCaptions);
  const prompts = subjects.map((s) => withStylePhrase(s.subject, o.stylePhrase));
  const seeds = [...PREVIEW_SEEDS];
  const request = (prompt: string, seed: number, withAdapter: boolean): GenerationRequest => ({
    prompt,
    seed,
    ...PREVIEW_SAMPLING,
    numImages: 1,
    adapters: withAdapter ? [{ adapter: o.adapter, scale: o.scale }] : [],
  });
  // Per prompt: every seed without the adapter, then every seed with it.
  const requests = prompts.flatMap((prompt) => [false, true].flatMap((withAdapter) => seeds.map((seed) => request(prompt, seed, withAdapter))));
  // Latent models decode with their VAE inside the pipeline: the tiles are RGB either way.
  const pipeline = await createPipeline(o.model, { intraOpThreads: o.intraOpThreads, memoryBudgetBytes: o.memoryBudgetBytes });
  let images: Float32Array[];
  try {
    images = (await pipeline.generate(requests)).map((r) => r.images[0]);
  } finally {
    await pipeline.release();
  }

  const size = o.model.sampleSpace.imageSize;
  const gap = new Float32Array(3 * size * size).fill(1);
  const half = seeds.length;
  const tiles = prompts.flatMap((_, row) => {
    const rowImages = images.slice(row * 2 * half, (row + 1) * 2 * half);
    return [...rowImages.slice(0, half), gap, ...rowImages.slice(half)];
  });
  const grid = tileImages(tiles, size, 2 * half + 1);
  const png = await encodeRgbPng(grid.chw, grid.width, grid.height, Math.max(1, Math.round(TILE_PIXELS / size)));

  const withoutAdapter = images.filter((_, i) => Math.floor(i / half) % 2 === 0);
  const withAdapter = images.filter((_, i) => Math.floor(i / half) % 2 === 1);
  const conceptTop5 = await scoreConcepts(o, subjects, seeds.length, withoutAdapter, withAdapter).catch((error: Error) => {
    o.onScorerError?.(error);
    return null;
  });
  return { png, info: { prompts, seeds, scale: o.scale, ...PREVIEW_SAMPLING, conceptTop5, fidelity: null } };
}

/** Concept top-5 shares without and with the adapter, when the base model has a scorer that knows the subjects; else null. */
async function scoreConcepts(
  o: RenderPreviewOptions,
  subjects: readonly PreviewSubject[],
  perSubject: number,
  base: Float32Array[],
  adapted: Float32Array[],
): Promise<FineTunePreviewInfo['conceptTop5']> {
  if (o.baseModel !== BUNDLED_MODEL_NAME || subjects.some((s) => !s.conceptId)) return null;
  const dir = join(o.modelsDir, BUNDLED_SCORER_NAME);
  try {
    await access(join(dir, 'config.json'));
  } catch {
    return null;
  }
  const scorer = await EmojiScorer.load(dir, { intraOpThreads: o.intraOpThreads });
  try {
    if (subjects.some((s) => !scorer.hasConcept(s.conceptId!))) return null;
    const size = o.model.sampleSpace.imageSize;
    const share = async (images: Float32Array[]) => {
      const scored = await scorer.scoreBatch(images, size);
      const hits = scored.filter((s, i) => s.inTopK(subjects[Math.floor(i / perSubject)].conceptId!, 5)).length;
      return Math.round((hits / scored.length) * 10000) / 10000;
    };
    return { base: await share(base), adapter: await share(adapted) };
  } finally {
    await scorer.release();
  }
}
