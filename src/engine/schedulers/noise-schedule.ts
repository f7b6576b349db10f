/**
 * The forward (noising) process of a variance-preserving diffusion model and the training-side
 * helpers built on it: x_t = sqrt(ᾱ_t)·x0 + sqrt(1 − ᾱ_t)·ε, v = sqrt(ᾱ_t)·ε − sqrt(1 − ᾱ_t)·x0.
 *
 * Batched tensors are flat arrays laid out [N, ...]; `t` holds one timestep per sample, so each
 * sample owns `length / t.length` consecutive values.
 */
import { alphasCumprodFromBetas, betasFromConfig } from './beta-schedule';
import type { PredictionType, SchedulerConfig } from './scheduler-config';
import type { Random } from './random';

type Floats = Float32Array | Float64Array | ArrayLike<number>;

export class NoiseSchedule {
  readonly numTrainTimesteps: number;
  readonly betas: Float64Array;
  readonly alphas: Float64Array;
  readonly alphasCumprod: Float64Array;

  constructor(readonly config: SchedulerConfig) {
    this.betas = betasFromConfig(config);
    this.numTrainTimesteps = this.betas.length;
    this.alphas = this.betas.map((b) => 1 - b);
    this.alphasCumprod = alphasCumprodFromBetas(this.betas);
  }

  /** ᾱ_t for an integer timestep in [0, T). */
  alphaBar(t: number): number {
    if (!Number.isInteger(t) || t < 0 || t >= this.numTrainTimesteps) {
      throw new RangeError(`timestep ${t} must be an integer in [0, ${this.numTrainTimesteps})`);
    }
    return this.alphasCumprod[t];
  }

  /** Signal-to-noise ratio ᾱ_t / (1 − ᾱ_t). */
  snr(t: number): number {
    const ab = this.alphaBar(t);
    return ab / (1 - ab);
  }

  /**
   * Min-SNR-γ loss weight (Hang et al. 2023) for a loss on the given prediction type:
   * epsilon min(snr, γ)/snr, v_prediction min(snr, γ)/(snr + 1), sample min(snr, γ).
   */
  minSnrWeight(t: number, gamma: number, predictionType: PredictionType = this.config.prediction_type): number {
    const s = this.snr(t);
    const clipped = Math.min(s, gamma);
    switch (predictionType) {
      case 'epsilon':
        // Limit of min(s, γ)/s as s → 0 (zero-terminal-SNR schedules reach s = 0).
        return s === 0 ? 1 : clipped / s;
      case 'v_prediction':
        return clipped / (s + 1);
      case 'sample':
        return clipped;
      default:
        throw new Error(`unsupported prediction_type ${String(predictionType)}`);
    }
  }

  /** Per-sample Min-SNR-γ weights for a batch of timesteps. */
  minSnrWeights(t: ArrayLike<number>, gamma: number, predictionType?: PredictionType): Float32Array {
    const out = new Float32Array(t.length);
    for (let i = 0; i < t.length; i++) out[i] = this.minSnrWeight(t[i], gamma, predictionType);
    return out;
  }

  /** Uniform training timesteps in [0, T). */
  sampleTimesteps(batch: number, rng: Random): Int32Array {
    const out = new Int32Array(batch);
    for (let i = 0; i < batch; i++) out[i] = rng.randint(0, this.numTrainTimesteps);
    return out;
  }

  /** A float32 copy of `x` after the same shape checks as `combine`. */
  private copy(x: Floats, y: Floats, t: ArrayLike<number>, names: [string, string]): Float32Array {
    return this.combine(x, y, t, () => [1, 0], names, true);
  }

  /** out = a(t)·x + b(t)·y per sample, with the coefficient pair chosen from ᾱ_t. */
  private combine(
    x: Floats,
    y: Floats,
    t: ArrayLike<number>,
    coef: (ab: number) => [number, number],
    names: [string, string],
    copyOnly = false,
  ): Float32Array {
    if (x.length !== y.length) {
      throw new RangeError(`${names[0]} (${x.length}) and ${names[1]} (${y.length}) differ in length`);
    }
    const n = t.length;
    if (n === 0 || x.length % n !== 0) {
      throw new RangeError(`length ${x.length} is not a multiple of the batch size ${n}`);
    }
    const per = x.length / n;
    const out = new Float32Array(x.length);
    for (let b = 0; b < n; b++) {
      const [ca, cb] = coef(this.alphaBar(t[b]));
      const base = b * per;
      if (copyOnly) {
        for (let i = base; i < base + per; i++) out[i] = x[i];
        continue;
      }
      for (let i = base; i < base + per; i++) out[i] = ca * x[i] + cb * y[i];
    }
    return out;
  }

  /** Forward diffusion: x_t = sqrt(ᾱ_t)·x0 + sqrt(1 − ᾱ_t)·ε. */
  addNoise(x0: Floats, noise: Floats, t: ArrayLike<number>): Float32Array {
    return this.combine(x0, noise, t, (ab) => [Math.sqrt(ab), Math.sqrt(1 - ab)], ['x0', 'noise']);
  }

  /** Velocity target: v = sqrt(ᾱ_t)·ε − sqrt(1 − ᾱ_t)·x0. */
  velocity(x0: Floats, noise: Floats, t: ArrayLike<number>): Float32Array {
    return this.combine(noise, x0, t, (ab) => [Math.sqrt(ab), -Math.sqrt(1 - ab)], ['noise', 'x0']);
  }

  /** What a model of the given prediction type should output for (x0, ε, t). */
  trainingTarget(predictionType: PredictionType, x0: Floats, noise: Floats, t: ArrayLike<number>): Float32Array {
    switch (predictionType) {
      case 'epsilon':
        return this.copy(noise, x0, t, ['noise', 'x0']);
      case 'v_prediction':
        return this.velocity(x0, noise, t);
      case 'sample':
        return this.copy(x0, noise, t, ['x0', 'noise']);
      default:
        throw new Error(`unsupported prediction_type ${String(predictionType)}`);
    }
  }

  /** x0 implied by a model output at x_t (per-sample timesteps). */
  predictOriginal(
    modelOutput: Floats,
    sample: Floats,
    t: ArrayLike<number>,
    predictionType: PredictionType = this.config.prediction_type,
  ): Float32Array {
    switch (predictionType) {
      case 'epsilon':
        // (x_t − sqrt(1 − ᾱ)·ε) / sqrt(ᾱ)
        return this.combine(sample, modelOutput, t, (ab) => [1 / Math.sqrt(ab), -Math.sqrt(1 - ab) / Math.sqrt(ab)], [
          'sample',
          'modelOutput',
        ]);
      case 'v_prediction':
        return this.combine(sample, modelOutput, t, (ab) => [Math.sqrt(ab), -Math.sqrt(1 - ab)], ['sample', 'modelOutput']);
      case 'sample':
        return this.copy(modelOutput, sample, t, ['modelOutput', 'sample']);
      default:
        throw new Error(`unsupported prediction_type ${String(predictionType)}`);
    }
  }

  /** ε implied by a model output at x_t (per-sample timesteps). */
  predictEpsilon(
    modelOutput: Floats,
    sample: Floats,
    t: ArrayLike<number>,
    predictionType: PredictionType = this.config.prediction_type,
  ): Float32Array {
    switch (predictionType) {
      case 'epsilon':
        return this.copy(modelOutput, sample, t, ['modelOutput', 'sample']);
      case 'v_prediction':
        // sqrt(ᾱ)·v + sqrt(1 − ᾱ)·x_t
        return this.combine(modelOutput, sample, t, (ab) => [Math.sqrt(ab), Math.sqrt(1 - ab)], ['modelOutput', 'sample']);
      case 'sample':
        // (x_t − sqrt(ᾱ)·x0) / sqrt(1 − ᾱ)
        return this.combine(sample, modelOutput, t, (ab) => [1 / Math.sqrt(1 - ab), -Math.sqrt(ab) / Math.sqrt(1 - ab)], [
          'sample',
          'modelOutput',
        ]);
      default:
        throw new Error(`unsupported prediction_type ${String(predictionType)}`);
    }
  }
}
