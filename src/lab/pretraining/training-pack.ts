import * as fsp from 'fs/promises';
import * as path from 'path';
import { DiffusionModel, sampleShape, tokenizeCaptions } from '../../engine/models/diffusion-model';
import { NoiseSchedule, Random } from '../../engine/schedulers';
import { OrtTextEncoder, OrtUNetDenoiser } from '../../engine/pipeline/onnx-executors';
import { writeFileAtomic } from '../../engine/io/atomic-write';
import { CaptionedImages } from './captioned-images';

export const TRAINING_PACK_FORMAT = 'style-as-a-service/training-pack@1';

/**
 * A training set frozen into flat binary files for trainers outside Node (`scripts/cuda-pretrain.py`):
 * images as bytes, a fixed number of caption draws per image already tokenized, the noise schedule's
 * ᾱ table, the recipe, and reference outputs of this engine's text encoder and UNet so that another
 * implementation can prove it computes the same functions before it trains.
 */
export interface TrainingPackMeta {
  format: typeof TRAINING_PACK_FORMAT;
  count: number;
  imageSize: number;
  patchSize: number;
  maxLength: number;
  captionVariants: number;
  /** images.u8: count × 3 × imageSize × imageSize, CHW, value = round((x + 1) · 127.5). */
  images: string;
  /** caption_ids.i16 / caption_mask.u8: count × captionVariants × maxLength (little-endian int16, 0/1 bytes). */
  captionIds: string;
  captionMask: string;
  emptyCaption: { ids: number[]; mask: number[] };
  predictionType: string;
  alphasCumprod: number[];
  recipe: Record<string, number>;
  seed: number;
  /** The weights the reference was computed with (a model folder, relative to the pack). */
  referenceModel: string;
  reference: TrainingPackReference;
  trainingData: unknown;
}

export interface TrainingPackReference {
  ids: number[][];
  mask: number[][];
  timesteps: number[];
  /** [B, C, H, W] flattened. */
  noisy: number[];
  /** The engine's (ONNX Runtime) text encoder output [B, L, D] and UNet output [B, C, H, W], flattened. */
  textHidden: number[];
  unetOut: number[];
}

export interface WriteTrainingPackOptions {
  dir: string;
  model: DiffusionModel;
  modelDir: string;
  data: CaptionedImages;
  captionVariants: number;
  recipe: Record<string, number>;
  trainingDataJson: string;
  seed: number;
}

const REFERENCE_CAPTIONS = ['red heart, love, noto style', 'rocket, space, twemoji style', '', 'pizza, cheese, noto style'];
const REFERENCE_TIMESTEPS = [5, 300, 700, 999];

export async function writeTrainingPack(o: WriteTrainingPackOptions): Promise<TrainingPackMeta> {
  const { model, data } = o;
  if (model.sampleSpace.type !== 'pixel') throw new Error('training packs hold pixel-space images only');
  await fsp.mkdir(o.dir, { recursive: true });
  const imgLen = 3 * data.imageSize * data.imageSize;
  const bytes = new Uint8Array(data.count * imgLen);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.max(0, Math.min(255, Math.round((data.images[i] + 1) * 127.5)));

  const l = model.maxLength;
  const k = o.captionVariants;
  const ids = new Int16Array(data.count * k * l);
  const mask = new Uint8Array(data.count * k * l);
  for (let i = 0; i < data.count; i++) {
    // One generator per image: the draws do not depend on how many images precede it.
    const rng = new Random(o.seed * 1_000_003 + i);
    const captions = Array.from({ length: k }, () => data.caption(i, rng));
    const enc = tokenizeCaptions(model, captions);
    for (let j = 0; j < k * l; j++) {
      ids[i * k * l + j] = Number(enc.inputIds[j]);
      mask[i * k * l + j] = enc.attentionMask[j];
    }
  }
  const empty = tokenizeCaptions(model, ['']);

  const meta: TrainingPackMeta = {
    format: TRAINING_PACK_FORMAT,
    count: data.count,
    imageSize: data.imageSize,
    patchSize: model.sampleSpace.patchSize,
    maxLength: l,
    captionVariants: k,
    images: 'images.u8',
    captionIds: 'caption_ids.i16',
    captionMask: 'caption_mask.u8',
    emptyCaption: { ids: Array.from(empty.inputIds, Number), mask: Array.from(empty.attentionMask) },
    predictionType: model.schedulerConfig.prediction_type,
    alphasCumprod: Array.from(new NoiseSchedule(model.schedulerConfig).alphasCumprod),
    recipe: o.recipe,
    seed: o.seed,
    referenceModel: path.relative(o.dir, o.modelDir),
    reference: await computeReference(model, o.seed),
    trainingData: JSON.parse(o.trainingDataJson),
  };
  await writeFileAtomic(path.join(o.dir, meta.images), bytes);
  await writeFileAtomic(path.join(o.dir, meta.captionIds), new Uint8Array(ids.buffer));
  await writeFileAtomic(path.join(o.dir, meta.captionMask), mask);
  await writeFileAtomic(path.join(o.dir, 'meta.json'), JSON.stringify(meta));
  return meta;
}

/** Text encoder and UNet outputs of the engine's ONNX graphs on fixed captions, noise and timesteps. */
async function computeReference(model: DiffusionModel, seed: number): Promise<TrainingPackReference> {
  const b = REFERENCE_CAPTIONS.length;
  const [c, h, w] = sampleShape(model);
  const { inputIds, attentionMask } = tokenizeCaptions(model, REFERENCE_CAPTIONS);
  const noisy = new Random(seed + 17).randn(b * c * h * w);
  const timesteps = Float32Array.from(REFERENCE_TIMESTEPS);
  const text = await OrtTextEncoder.create(model);
  const unet = await OrtUNetDenoiser.create(model, []);
  try {
    const textHidden = await text.encode(inputIds, attentionMask, b);
    const unetOut = await unet.predict({ batch: b, sample: noisy, timesteps, encoderHiddenStates: textHidden, encoderMask: attentionMask, lora: null });
    const l = model.maxLength;
    const rows = <T>(flat: ArrayLike<T>) => Array.from({ length: b }, (_, i) => Array.from({ length: l }, (_, j) => Number(flat[i * l + j])));
    return {
      ids: rows(inputIds as unknown as ArrayLike<number>),
      mask: rows(attentionMask),
      timesteps: REFERENCE_TIMESTEPS,
      noisy: Array.from(noisy),
      textHidden: Array.from(textHidden),
      unetOut: Array.from(unetOut),
    };
  } finally {
    await text.release();
    await unet.release();
  }
}
