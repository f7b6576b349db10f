import { DiffusionModel, tokenizerFilesOf } from '../../engine/models/diffusion-model';
import { parseUNetConfig } from '../../engine/models/unet-config';
import { parseClipTextConfig } from '../../engine/models/clip-text.model';
import { buildVocabulary, buildWordLevelTokenizer } from '../../engine/tokenizer/word-level.tokenizer';
import { EmojiConcept, STYLE_PHRASES, captionFor, EmojiStyle, BASE_TRAINING_STYLES, buildEmojiDataset, conceptsForSplit, loadEmojiCatalog } from '../emoji-data';
import { Random, makeSchedulerConfig } from '../../engine/schedulers';
import { CaptionedImages } from './captioned-images';

/**
 * The bundled base model: a pixel-space text-to-image UNet for 32 px emoji, sized for CPU training.
 * 32×32 RGB is folded into 16×16×12 (pixel_unshuffle 2); cross-attention at 8×8 and 4×4 and in the
 * middle block; a 3-layer CLIP-style text encoder over a word-level vocabulary. Cosine β schedule +
 * v-prediction (the measured recipe that produces recognisable emoji at this scale).
 */
export const EMOJI_BASE_RECIPE = {
  imageSize: 32,
  patchSize: 2,
  maxLength: 24,
  unet: {
    sample_size: 16,
    in_channels: 12,
    out_channels: 12,
    block_out_channels: [48, 96, 144],
    down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
    up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
    mid_block_type: 'UNetMidBlock2DCrossAttn',
    layers_per_block: 1,
    norm_num_groups: 16,
    norm_eps: 1e-5,
    cross_attention_dim: 128,
    attention_head_dim: 4,
    flip_sin_to_cos: true,
    freq_shift: 0,
  },
  text: {
    hidden_size: 128,
    intermediate_size: 512,
    num_hidden_layers: 3,
    num_attention_heads: 4,
    max_position_embeddings: 32,
    hidden_act: 'quick_gelu',
    layer_norm_eps: 1e-5,
    projection_dim: 128,
  },
  scheduler: {
    num_train_timesteps: 1000,
    beta_schedule: 'squaredcos_cap_v2',
    prediction_type: 'v_prediction',
    timestep_spacing: 'trailing',
    steps_offset: 0,
    solver_order: 2,
    algorithm_type: 'dpmsolver++',
    lower_order_final: true,
  },
} as const;

/** Schedule length of the bundled model's training (`npm run pretrain` default), batch 64. */
export const EMOJI_BASE_TRAINING_STEPS = 24_500;

/** Peak learning rate of `npm run pretrain` (warm-up, then cosine decay to 10 %). */
export const DEFAULT_PRETRAIN_LR = 3e-4;

/**
 * The optimisation recipe of the bundled model, shared by `npm run pretrain` (CPU, ONNX Runtime) and
 * the training pack that `scripts/cuda-pretrain.py` reads on CUDA hosts.
 */
export const EMOJI_BASE_TRAINING = {
  warmupSteps: 500,
  minLrRatio: 0.1,
  weightDecay: 0.01,
  gradClip: 1,
  emaDecay: 0.999,
  minSnrGamma: 5,
  captionDropout: 0.1,
} as const;

/** Every caption word the training data can produce (labels, tags, style phrases). */
export function captionVocabulary(concepts: readonly EmojiConcept[]): string[] {
  const texts: string[] = [];
  for (const c of concepts) texts.push(c.label, ...c.tags);
  texts.push(...Object.values(STYLE_PHRASES));
  return buildVocabulary(texts, 1);
}

export function createEmojiBaseModel(vocabularyWords: string[]): DiffusionModel {
  const r = EMOJI_BASE_RECIPE;
  const built = buildWordLevelTokenizer(vocabularyWords, { modelMaxLength: r.maxLength });
  const ids = built.specialTokenIds;
  return {
    name: 'emoji-base',
    unetConfig: parseUNetConfig({ ...r.unet, down_block_types: [...r.unet.down_block_types], up_block_types: [...r.unet.up_block_types], block_out_channels: [...r.unet.block_out_channels] }),
    textConfig: parseClipTextConfig({ ...r.text, vocab_size: built.tokenizer.vocabSize, bos_token_id: ids.bos, eos_token_id: ids.eos, pad_token_id: ids.pad }),
    schedulerConfig: makeSchedulerConfig({ ...r.scheduler }, 'DPMSolverMultistepScheduler'),
    unetParams: new Map(),
    textParams: new Map(),
    tokenizer: built.tokenizer,
    tokenizerFiles: tokenizerFilesOf(built),
    sampleSpace: { type: 'pixel', imageSize: r.imageSize, patchSize: r.patchSize },
    maxLength: r.maxLength,
  };
}

/** Training images with captions re-drawn per visit (tag dropout) so the model learns label and tags. */
export function emojiCaptionedImages(
  dataset: { count: number; size: number; images: Float32Array; conceptIds: string[]; styles: EmojiStyle[] },
  conceptsById: Map<string, EmojiConcept>,
): CaptionedImages {
  return {
    count: dataset.count,
    imageSize: dataset.size,
    images: dataset.images,
    caption(index: number, rng: Random): string {
      const concept = conceptsById.get(dataset.conceptIds[index]);
      if (!concept) throw new Error(`unknown concept ${dataset.conceptIds[index]}`);
      return captionFor(concept, dataset.styles[index], () => rng.uniform());
    },
  };
}

/** The bundled model's training set: images, per-visit captions and the lists its training_data.json records. */
export interface EmojiBaseTrainingSet {
  trainConcepts: EmojiConcept[];
  data: CaptionedImages;
  /** Contents of training_data.json in an exported model folder. */
  trainingDataJson: string;
}

/** Training concepts (optionally the first `limit`) × the base styles, at the recipe's image size. */
export async function loadEmojiBaseTrainingSet(limit?: number): Promise<EmojiBaseTrainingSet> {
  const catalog = loadEmojiCatalog({ includeFlags: false });
  const train = conceptsForSplit(catalog.concepts, 'train');
  const dataset = await buildEmojiDataset({
    styles: BASE_TRAINING_STYLES,
    concepts: limit !== undefined ? train.slice(0, limit) : train,
    size: EMOJI_BASE_RECIPE.imageSize,
  });
  const conceptsById = new Map(catalog.concepts.map((c) => [c.id, c]));
  const trainingDataJson = JSON.stringify(
    {
      styles: BASE_TRAINING_STYLES,
      imageSize: dataset.size,
      trainImages: dataset.count,
      trainConcepts: train.map((c) => c.id),
      heldOutConcepts: conceptsForSplit(catalog.concepts, 'heldOut').map((c) => c.id),
    },
    null,
    1,
  );
  return { trainConcepts: train, data: emojiCaptionedImages(dataset, conceptsById), trainingDataJson };
}
