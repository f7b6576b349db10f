import { DiffusionModel, sampleShape, tokenizeCaptions } from '../models/diffusion-model';
import { pixelUnshuffle } from '../models/pixel-shuffle';
import { vaeToLatents } from '../models/sample-space';
import { OrtAutoencoderKl } from '../pipeline/vae-executors';
import { ModuleShape } from '../lora/lora-adapter';
import { NoiseSchedule, Random } from '../schedulers';
import { OrtTextEncoder } from '../pipeline/onnx-executors';
import type { TrainingStepInputs } from '../training/denoiser-training-graph';
import type { FineTuneHyperparameters } from './fine-tune.hyperparameters';
import type { Denoiser } from '../pipeline/denoiser';

/** An expert demonstration: an image at the model's native size (CHW RGB in [-1, 1]) and its caption. */
export interface Demonstration {
  image: Float32Array;
  caption: string;
  /** The caption without the style phrase (what output preservation holds to the base); default the caption. */
  contentCaption?: string;
}

/** The demonstrations as training reads them, encoded once per run. */
export interface PreparedDemonstrations {
  model: DiffusionModel;
  hp: FineTuneHyperparameters;
  sampleLen: number;
  /** Demonstrations in the UNet's sample space (latent models: scaled VAE latents). */
  x0: Float32Array[];
  /** Text embeddings per demonstration, and of the empty caption. */
  embeddings: Float32Array[];
  masks: Float32Array[];
  emptyEmbedding: Float32Array;
  emptyMask: Float32Array;
  /** Content-caption embeddings per demonstration (output preservation), when it is on. */
  contentEmbeddings: Float32Array[];
  contentMasks: Float32Array[];
  schedule: NoiseSchedule;
  modules: string[];
  moduleShapes: Map<string, ModuleShape>;
}

export async function prepareDemonstrations(
  model: DiffusionModel,
  hp: FineTuneHyperparameters,
  demos: Demonstration[],
  textEncoder: OrtTextEncoder,
  modules: string[],
  moduleShapes: Map<string, ModuleShape>,
  opts: { intraOpThreads?: number } = {},
): Promise<PreparedDemonstrations> {
  const [c, h, w] = sampleShape(model);
  // Mirrored copies join as demonstrations of their own: every sampler draws either orientation alike.
  demos = hp.mirrorAugmentation ? [...demos, ...demos.map(mirrored)] : demos;
  const x0 = await toSampleSpace(model, demos, opts);
  const preserve = hp.preservationWeight > 0;
  const texts = [...demos.map((d) => d.caption), '', ...(preserve ? demos.map((d) => d.contentCaption ?? d.caption) : [])];
  const { inputIds, attentionMask: mask } = tokenizeCaptions(model, texts);
  const hidden = await textEncoder.encode(inputIds, mask, texts.length);
  const l = model.maxLength;
  const d = model.unetConfig.cross_attention_dim;
  const embeddings = texts.map((_, i) => hidden.slice(i * l * d, (i + 1) * l * d));
  const masks = texts.map((_, i) => mask.slice(i * l, (i + 1) * l));
  return {
    model,
    hp,
    sampleLen: c * h * w,
    x0,
    embeddings: embeddings.slice(0, demos.length),
    masks: masks.slice(0, demos.length),
    emptyEmbedding: embeddings[demos.length],
    emptyMask: masks[demos.length],
    contentEmbeddings: embeddings.slice(demos.length + 1),
    contentMasks: masks.slice(demos.length + 1),
    schedule: new NoiseSchedule(model.schedulerConfig),
    modules,
    moduleShapes,
  };
}

/** The demonstration flipped left to right (CHW, square). */
export function mirrored(d: Demonstration): Demonstration {
  const size = Math.round(Math.sqrt(d.image.length / 3));
  const image = new Float32Array(d.image.length);
  for (let row = 0; row < 3 * size; row++) {
    const o = row * size;
    for (let x = 0; x < size; x++) image[o + x] = d.image[o + size - 1 - x];
  }
  return { ...d, image };
}

/** Latent models encode this many demonstrations per VAE call. */
const ENCODE_BATCH = 8;

/**
 * Demonstration images in the UNet's sample space, computed once per run: pixel models fold their
 * patches; latent models encode with the VAE and take the posterior mean, (mean − shift) · scale.
 * The mean rather than a sample: the latents are computed once and reused for every step, so one
 * frozen draw would add a fixed offset of the posterior's noise to every target without the
 * averaging that a fresh draw per step gives; the mean is that average.
 */
async function toSampleSpace(model: DiffusionModel, demos: Demonstration[], opts: { intraOpThreads?: number }): Promise<Float32Array[]> {
  const size = model.sampleSpace.imageSize;
  for (const d of demos) if (d.image.length !== 3 * size * size) throw new Error(`demonstration images must be 3×${size}×${size}`);
  const space = model.sampleSpace;
  if (space.type === 'pixel') return demos.map((d) => pixelUnshuffle(d.image, 1, 3, size, size, space.patchSize));
  if (!model.vae) throw new Error(`${model.name} is a latent model without its VAE`);
  const vae = await OrtAutoencoderKl.create(model.vae.config, model.vae.params, size, { intraOpThreads: opts.intraOpThreads, parts: ['encoder'] });
  try {
    const out: Float32Array[] = [];
    for (let i = 0; i < demos.length; i += ENCODE_BATCH) {
      const chunk = demos.slice(i, i + ENCODE_BATCH);
      const { mean } = await vae.encode(stack(chunk.map((d) => d.image)), chunk.length);
      const latents = vaeToLatents(space, mean);
      const len = latents.length / chunk.length;
      chunk.forEach((_, k) => out.push(latents.slice(k * len, (k + 1) * len)));
    }
    return out;
  } finally {
    await vae.release();
  }
}

/** A demonstration's text conditioning, or the empty caption's when it is dropped. */
export function conditioning(prep: PreparedDemonstrations, demoIndex: number, dropped: boolean): { emb: Float32Array; mask: Float32Array } {
  return dropped ? { emb: prep.emptyEmbedding, mask: prep.emptyMask } : { emb: prep.embeddings[demoIndex], mask: prep.masks[demoIndex] };
}

export function stack(parts: Float32Array[]): Float32Array {
  const len = parts.reduce((s, p) => s + p.length, 0);
  const out = new Float32Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The timestep bound of maxTimestepFraction, or undefined when training uses every timestep. */
export function maxTimestep(prep: PreparedDemonstrations): number | undefined {
  const f = prep.hp.maxTimestepFraction;
  return f >= 1 ? undefined : Math.max(1, Math.round(f * prep.model.schedulerConfig.num_train_timesteps));
}

/** Timesteps for training rows: uniform over the schedule, or below the maxTimestepFraction bound. */
function trainingTimesteps(prep: PreparedDemonstrations, b: number, rng: Random): Int32Array {
  const limit = maxTimestep(prep);
  return limit === undefined ? prep.schedule.sampleTimesteps(b, rng) : Int32Array.from({ length: b }, () => rng.randint(0, limit));
}

/**
 * Output-preservation rows: demonstrations noised at random timesteps under their content captions,
 * with the frozen base's prediction as the target, each weighted λ / B.
 */
export async function preservationRows(prep: PreparedDemonstrations, reference: Denoiser, b: number, rng: Random): Promise<TrainingStepInputs> {
  const { sampleLen, schedule, hp } = prep;
  const idx = Array.from({ length: b }, () => rng.randint(0, prep.x0.length));
  const t = trainingTimesteps(prep, b, rng);
  const noisy = schedule.addNoise(stack(idx.map((i) => prep.x0[i])), rng.randn(b * sampleLen), t);
  const timesteps = Float32Array.from(t);
  const encoderHiddenStates = stack(idx.map((i) => prep.contentEmbeddings[i]));
  const attentionMask = stack(idx.map((i) => prep.contentMasks[i]));
  const target = await reference.predict({ batch: b, sample: noisy, timesteps, encoderHiddenStates, encoderMask: attentionMask, lora: null });
  return { batch: b, noisy, timesteps, target, encoderHiddenStates, attentionMask, weights: new Float32Array(b).fill(hp.preservationWeight / b), referenceMse: new Float32Array(b) };
}

/** Rows of b appended after the rows of a (every per-row field concatenated). */
export function appendRows(a: TrainingStepInputs, b: TrainingStepInputs): TrainingStepInputs {
  const join = (x?: Float32Array, y?: Float32Array, rowsA = a.batch) => (x || y ? stack([x ?? new Float32Array(rowsA), y ?? new Float32Array(b.batch)]) : undefined);
  return {
    batch: a.batch + b.batch,
    noisy: stack([a.noisy, b.noisy]),
    timesteps: stack([a.timesteps, b.timesteps]),
    target: stack([a.target, b.target]),
    encoderHiddenStates: stack([a.encoderHiddenStates!, b.encoderHiddenStates!]),
    attentionMask: stack([a.attentionMask, b.attentionMask]),
    weights: join(a.weights, b.weights),
    referenceMse: join(a.referenceMse, b.referenceMse),
  };
}

/** B random demonstrations noised at random timesteps, each weighted 1/B (the plain denoising loss). */
export function sftBatch(prep: PreparedDemonstrations, b: number, rng: Random): TrainingStepInputs {
  const { sampleLen, schedule, model, hp } = prep;
  const idx = Array.from({ length: b }, () => rng.randint(0, prep.x0.length));
  const dropped = idx.map(() => rng.uniform() < hp.captionDropout);
  const x0 = stack(idx.map((i) => prep.x0[i]));
  const noise = rng.randn(b * sampleLen);
  const t = trainingTimesteps(prep, b, rng);
  const cond = idx.map((i, k) => conditioning(prep, i, dropped[k]));
  return {
    batch: b,
    noisy: schedule.addNoise(x0, noise, t),
    timesteps: Float32Array.from(t),
    target: schedule.trainingTarget(model.schedulerConfig.prediction_type, x0, noise, t),
    encoderHiddenStates: stack(cond.map((c) => c.emb)),
    attentionMask: stack(cond.map((c) => c.mask)),
    weights: denoisingRowWeights(prep, t, 1 / b),
  };
}

/** Weights of denoising rows at timesteps t: `scale` each, times the Min-SNR-γ weight when it is on. */
export function denoisingRowWeights(prep: PreparedDemonstrations, t: ArrayLike<number>, scale: number): Float32Array {
  const gamma = prep.hp.minSnrGamma;
  if (!(gamma > 0)) return new Float32Array(t.length).fill(scale);
  return prep.schedule.minSnrWeights(t, gamma).map((w) => w * scale);
}
