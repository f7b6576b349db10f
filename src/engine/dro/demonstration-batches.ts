import { DiffusionModel, sampleShape, tokenizeCaptions } from '../models/diffusion-model';
import { pixelUnshuffle } from '../models/pixel-shuffle';
import { vaeToLatents } from '../models/sample-space';
import { OrtAutoencoderKl } from '../pipeline/vae-executors';
import { ModuleShape } from '../lora/lora-adapter';
import { NoiseSchedule, Random } from '../schedulers';
import { OrtTextEncoder } from '../pipeline/onnx-executors';
import type { TrainingStepInputs } from '../training/denoiser-training-graph';
import type { FineTuneHyperparameters } from './fine-tune.hyperparameters';

/** An expert demonstration: an image at the model's native size (CHW RGB in [-1, 1]) and its caption. */
export interface Demonstration {
  image: Float32Array;
  caption: string;
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
  const x0 = await toSampleSpace(model, demos, opts);
  const texts = [...demos.map((d) => d.caption), ''];
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
    schedule: new NoiseSchedule(model.schedulerConfig),
    modules,
    moduleShapes,
  };
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

/** B random demonstrations noised at random timesteps, each weighted 1/B (the plain denoising loss). */
export function sftBatch(prep: PreparedDemonstrations, b: number, rng: Random): TrainingStepInputs {
  const { sampleLen, schedule, model, hp } = prep;
  const idx = Array.from({ length: b }, () => rng.randint(0, prep.x0.length));
  const dropped = idx.map(() => rng.uniform() < hp.captionDropout);
  const x0 = stack(idx.map((i) => prep.x0[i]));
  const noise = rng.randn(b * sampleLen);
  const limit = maxTimestep(prep);
  const t = limit === undefined ? schedule.sampleTimesteps(b, rng) : Int32Array.from({ length: b }, () => rng.randint(0, limit));
  const cond = idx.map((i, k) => conditioning(prep, i, dropped[k]));
  return {
    batch: b,
    noisy: schedule.addNoise(x0, noise, t),
    timesteps: Float32Array.from(t),
    target: schedule.trainingTarget(model.schedulerConfig.prediction_type, x0, noise, t),
    encoderHiddenStates: stack(cond.map((c) => c.emb)),
    attentionMask: stack(cond.map((c) => c.mask)),
    weights: new Float32Array(b).fill(1 / b),
  };
}
