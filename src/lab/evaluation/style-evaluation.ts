import * as fsp from 'fs/promises';
import * as path from 'path';
import { EmojiConcept, EmojiStyle, captionFor, chooseBrandConcepts, commonEvalConcepts, conceptsForSplit, loadEmojiCatalog, loadEmojiImage } from '../emoji-data';
import { TextToImagePipeline, GenerationRequest } from '../../engine/pipeline/text-to-image.pipeline';
import { encodeRgbPng, tileImages } from '../../engine/pipeline/image-encoding';
import { EmojiScorer, ScoredImage } from '../../engine/scorer/emoji-scorer';
import { LoraAdapter } from '../../engine/lora/lora-adapter';
import { Random } from '../../engine/schedulers';
import { GENERATION_DEFAULTS } from '../../engine/pipeline/generation-defaults';

/** One (prompt, seed) case of an evaluation. */
export interface EvalCase {
  concept: EmojiConcept;
  style: EmojiStyle;
  prompt: string;
  seed: number;
}

export interface SamplingSettings {
  steps: number;
  guidanceScale: number;
  batchRows: number;
}

export const DEFAULT_EVAL_SAMPLING: SamplingSettings = { steps: GENERATION_DEFAULTS.steps, guidanceScale: GENERATION_DEFAULTS.guidanceScale, batchRows: 16 };

/** Deterministic pick of `n` concepts from `pool` (always including the common prompts that are in it). */
export function pickConcepts(pool: readonly EmojiConcept[], n: number, seed: number, always: readonly EmojiConcept[] = []): EmojiConcept[] {
  const ids = new Set(pool.map((c) => c.id));
  const chosen = always.filter((c) => ids.has(c.id)).slice(0, n);
  const rest = pool.filter((c) => !chosen.some((k) => k.id === c.id));
  const rng = new Random(seed);
  for (let i = rest.length - 1; i > 0; i--) {
    const j = rng.randint(0, i + 1);
    [rest[i], rest[j]] = [rest[j], rest[i]];
  }
  return [...chosen, ...rest.slice(0, n - chosen.length)];
}

export function casesFor(concepts: readonly EmojiConcept[], styles: readonly EmojiStyle[], seeds: readonly number[]): EvalCase[] {
  const cases: EvalCase[] = [];
  concepts.forEach((concept, i) => {
    const style = styles[i % styles.length];
    for (const seed of seeds) cases.push({ concept, style, prompt: captionFor(concept, style), seed });
  });
  return cases;
}

/** Every concept in every style, seeds innermost: one grid row per concept. */
export function casesForEachStyle(concepts: readonly EmojiConcept[], styles: readonly EmojiStyle[], seeds: readonly number[]): EvalCase[] {
  return concepts.flatMap((concept) => styles.flatMap((style) => seeds.map((seed) => ({ concept, style, prompt: captionFor(concept, style), seed }))));
}

/** Generates one image per case (batched), in case order; `scale` multiplies the adapter's LoRA deltas. */
export async function generateCases(
  pipeline: TextToImagePipeline,
  cases: readonly EvalCase[],
  adapter: LoraAdapter | null,
  s: SamplingSettings = DEFAULT_EVAL_SAMPLING,
  scale = 1,
  timestepWindow = 1,
): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let i = 0; i < cases.length; i += s.batchRows) {
    const chunk = cases.slice(i, i + s.batchRows);
    const requests: GenerationRequest[] = chunk.map((c) => ({
      prompt: c.prompt,
      seed: c.seed,
      steps: s.steps,
      guidanceScale: s.guidanceScale,
      scheduler: GENERATION_DEFAULTS.scheduler,
      numImages: 1,
      adapters: adapter ? [{ adapter, scale, timestepWindow }] : [],
    }));
    for (const r of await pipeline.generate(requests)) out.push(r.images[0]);
  }
  return out;
}

export interface ScoreSummary {
  conceptTop5: number;
  /** Mean probability of the target style (the prompted one). */
  styleScore: number;
  /** Share of images whose most likely style is the prompted one. */
  styleAccuracy: number;
}

export function summarize(cases: readonly EvalCase[], scores: readonly ScoredImage[], targetStyle?: EmojiStyle): ScoreSummary {
  let top5 = 0;
  let style = 0;
  let correct = 0;
  cases.forEach((c, i) => {
    const target = targetStyle ?? c.style;
    if (scores[i].inTopK(c.concept.id, 5)) top5 += 1;
    style += scores[i].styleProbabilities[target];
    if (scores[i].predictedStyle === target) correct += 1;
  });
  const n = Math.max(cases.length, 1);
  return { conceptTop5: round(top5 / n), styleScore: round(style / n), styleAccuracy: round(correct / n) };
}

/** Share of cases where A's target-style probability beats B's (ties count half). */
export function styleWinRate(a: readonly ScoredImage[], b: readonly ScoredImage[], target: EmojiStyle): number {
  let wins = 0;
  a.forEach((s, i) => {
    const pa = s.styleProbabilities[target];
    const pb = b[i].styleProbabilities[target];
    wins += pa > pb ? 1 : pa === pb ? 0.5 : 0;
  });
  return round(wins / Math.max(a.length, 1));
}

export async function writeGrid(file: string, images: Float32Array[], size: number, cols: number, upscale = 3): Promise<void> {
  const grid = tileImages(images, size, cols);
  await fsp.mkdir(path.dirname(file), { recursive: true });
  await fsp.writeFile(file, await encodeRgbPng(grid.chw, grid.width, grid.height, upscale));
}

/** The evaluation's data: base-model prompts from training concepts, the OpenMoji brand set and held-out prompts. */
export function evaluationSets(o: { basePrompts: number; heldOutPrompts: number; brandImages: number }) {
  const catalog = loadEmojiCatalog({ includeFlags: false });
  const train = conceptsForSplit(catalog.concepts, 'train');
  const common = commonEvalConcepts(catalog);
  const baseConcepts = pickConcepts(train, o.basePrompts, 1, common);
  const heldOut = pickConcepts(train, o.heldOutPrompts, 2, common);
  const brand = chooseBrandConcepts(catalog, heldOut.map((c) => c.label), { count: o.brandImages });
  return { catalog, train, common, baseConcepts, heldOut, brand };
}

/** Real OpenMoji demonstrations for the brand set, at the model's resolution. */
export async function brandDemonstrations(brand: readonly EmojiConcept[], size: number): Promise<{ image: Float32Array; caption: string }[]> {
  const out = [];
  for (const c of brand) out.push({ image: await loadEmojiImage(c, 'openmoji', size), caption: captionFor(c, 'openmoji'), contentCaption: captionFor(c, null) });
  return out;
}

export function round(x: number, digits = 4): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
