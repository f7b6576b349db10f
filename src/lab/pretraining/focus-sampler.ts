import { DiffusionModel, sampleShape, tokenizeCaptions } from '../../engine/models/diffusion-model';
import { patchSizeOf } from '../../engine/models/sample-space';
import { ParamMap } from '../../engine/models/param-init';
import { pixelUnshuffle } from '../../engine/models/pixel-shuffle';
import { unetParamShapes } from '../../engine/models/unet-params';
import { clipTextParamShapes } from '../../engine/models/clip-text.model';
import { NoiseSchedule, PredictionType, Random } from '../../engine/schedulers';
import { OrtTextEncoder, OrtUNetDenoiser } from '../../engine/pipeline/onnx-executors';
import { perSampleMse } from '../../engine/training/per-sample-mse';
import type { CaptionedImages } from './captioned-images';

/**
 * Loss-proportional ("focus") sampling for pretraining: part of every batch is drawn with probability
 * proportional to the error of the model's clean-image estimate for it (see measureImageLosses), so rare, detailed concepts that the model still
 * draws as blobs are visited more often than shapes it has already learned from their many relatives.
 */
export interface FocusSampling {
  /** Share of batch slots drawn by loss (the rest follow the uniform epoch order). */
  share: number;
  /** Sampling probability ∝ (x̂0 error)^power. */
  power: number;
  /** Per-image x̂0 errors are re-measured every this many steps with the current weights. */
  refreshEverySteps: number;
  /** Timesteps at which each image's x̂0 error is measured (high noise: the model's idea of the concept). */
  timesteps: number[];
}

export const DEFAULT_FOCUS_TIMESTEPS = [600, 800, 950];

/**
 * Squared error of the model's clean-image estimate x̂0 for every training image, averaged over
 * `timesteps`, with a full caption and noise drawn from `seed`. At high noise x̂0 is the model's idea
 * of the captioned concept, so a concept drawn as a blob scores high even where its (SNR-weighted)
 * training loss is ordinary.
 */
export async function measureImageLosses(
  model: DiffusionModel,
  params: ParamMap,
  data: CaptionedImages,
  o: { timesteps: number[]; seed: number; batchSize?: number; intraOpThreads?: number },
): Promise<Float32Array> {
  const current: DiffusionModel = {
    ...model,
    unetParams: new Map([...unetParamShapes(model.unetConfig).keys()].map((k) => [k, params.get(k)!])),
    textParams: new Map([...clipTextParamShapes(model.textConfig).keys()].map((k) => [k, params.get(k)!])),
  };
  const schedule = new NoiseSchedule(model.schedulerConfig);
  const prediction = model.schedulerConfig.prediction_type;
  const [c, h, w] = sampleShape(model);
  const sampleLen = c * h * w;
  const imgLen = 3 * data.imageSize * data.imageSize;
  const rng = new Random(o.seed);
  const unet = await OrtUNetDenoiser.create(current, [], { intraOpThreads: o.intraOpThreads });
  const text = await OrtTextEncoder.create(current, { intraOpThreads: o.intraOpThreads });
  const losses = new Float32Array(data.count);
  const bs = o.batchSize ?? 64;
  try {
    for (let start = 0; start < data.count; start += bs) {
      const n = Math.min(bs, data.count - start);
      const captions = Array.from({ length: n }, (_, i) => data.caption(start + i, rng));
      const { inputIds, attentionMask: mask } = tokenizeCaptions(model, captions);
      const emb = await text.encode(inputIds, mask, n);
      const clean = pixelUnshuffle(data.images.subarray(start * imgLen, (start + n) * imgLen), n, 3, data.imageSize, data.imageSize, patchSizeOf(model.sampleSpace));
      for (const step of o.timesteps) {
        const t = new Int32Array(n).fill(step);
        const noise = rng.randn(n * sampleLen);
        const out = await unet.predict({
          batch: n,
          sample: schedule.addNoise(clean, noise, t),
          timesteps: Float32Array.from(t),
          encoderHiddenStates: emb,
          encoderMask: mask,
          lora: null,
        });
        const mse = perSampleMse(out, schedule.trainingTarget(prediction, clean, noise, t), n);
        const weight = x0ErrorWeight(schedule.alphaBar(step), prediction);
        for (let i = 0; i < n; i++) losses[start + i] += (weight * mse[i]) / o.timesteps.length;
      }
    }
  } finally {
    await unet.release();
    await text.release();
  }
  return losses;
}

/** ‖x̂0 − x0‖² per unit of the model output's squared error, for each prediction type. */
export function x0ErrorWeight(alphaBar: number, prediction: PredictionType): number {
  switch (prediction) {
    case 'v_prediction':
      return 1 - alphaBar; // x̂0 − x0 = −√(1−ᾱ)(v̂ − v)
    case 'epsilon':
      return (1 - alphaBar) / alphaBar; // x̂0 − x0 = −√((1−ᾱ)/ᾱ)(ε̂ − ε)
    case 'sample':
      return 1;
    default:
      throw new Error(`unsupported prediction_type ${String(prediction)}`);
  }
}

/** Draws indices with probability ∝ loss^power (inverse CDF over a cumulative table). */
export class LossProportionalSampler {
  private readonly cumulative: Float64Array;

  constructor(losses: Float32Array, power: number) {
    if (losses.length === 0) throw new Error('focus sampling needs at least one image');
    this.cumulative = new Float64Array(losses.length);
    let total = 0;
    for (let i = 0; i < losses.length; i++) {
      const l = losses[i];
      if (!(l >= 0) || !Number.isFinite(l)) throw new Error(`image ${i} has loss ${l}: focus sampling needs finite, non-negative losses`);
      total += l ** power;
      this.cumulative[i] = total;
    }
    if (total <= 0) throw new Error('all image losses are zero: nothing to focus on');
  }

  probability(index: number): number {
    const total = this.cumulative[this.cumulative.length - 1];
    return (this.cumulative[index] - (index > 0 ? this.cumulative[index - 1] : 0)) / total;
  }

  sample(rng: Random): number {
    const u = rng.uniform() * this.cumulative[this.cumulative.length - 1];
    let lo = 0;
    let hi = this.cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cumulative[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
