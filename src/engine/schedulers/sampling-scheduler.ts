/**
 * Common interface of the reverse-process samplers, and small elementwise helpers they share.
 */
import type { NoiseSchedule } from './noise-schedule';
import type { Random } from './random';
import type { PredictionType, SchedulerConfig } from './scheduler-config';

export interface StepOptions {
  /** Noise for stochastic steps (same length as the sample); takes precedence over `rng`. */
  noise?: Float32Array;
  /** Generator for stochastic steps when `noise` is not given. */
  rng?: Random;
}

export interface SamplingScheduler {
  readonly config: SchedulerConfig;
  readonly schedule: NoiseSchedule;
  /**
   * Timesteps to visit, in order (descending; PNDM visits its second one twice). Integers, except
   * for the σ-space samplers, whose "linspace" timesteps are fractional float32 values as in diffusers.
   */
  readonly timesteps: Int32Array | Float32Array;
  /** Standard deviation of the initial noise x_T: 1 for variance-preserving samplers, ~σ_max for Euler. */
  readonly initNoiseSigma: number;
  setTimesteps(numInferenceSteps: number): void;
  /**
   * One reverse step from `sample` (x_t) at `timestep` given the model output there; returns the
   * sample at the next timestep of the schedule (x0 after the last one).
   */
  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options?: StepOptions): Float32Array;
  /** What the model sees at `timestep`: x/√(σ²+1) for the σ-space (Euler) samplers, x itself for the rest. */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array;
  /** Clears per-trajectory state (multistep history, step counter). */
  reset(): void;
}

export interface CustomTimestepScheduler extends SamplingScheduler {
  /** Uses the given strictly descending integer timesteps instead of a spacing rule. */
  setCustomTimesteps(timesteps: ArrayLike<number>): void;
}

/** x0 and ε implied by a model output at x_t, for one scalar ᾱ_t. */
export function convertModelOutput(
  predictionType: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  alphaBar: number,
): { x0: Float64Array; eps: Float64Array } {
  if (modelOutput.length !== sample.length) {
    throw new RangeError(`modelOutput (${modelOutput.length}) and sample (${sample.length}) differ in length`);
  }
  const a = Math.sqrt(alphaBar);
  const s = Math.sqrt(1 - alphaBar);
  const n = sample.length;
  const x0 = new Float64Array(n);
  const eps = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const m = modelOutput[i];
    const x = sample[i];
    switch (predictionType) {
      case 'epsilon':
        x0[i] = (x - s * m) / a;
        eps[i] = m;
        break;
      case 'v_prediction':
        x0[i] = a * x - s * m;
        eps[i] = a * m + s * x;
        break;
      case 'sample':
        x0[i] = m;
        eps[i] = (x - a * m) / s;
        break;
      default:
        throw new Error(`unsupported prediction_type ${String(predictionType)}`);
    }
  }
  return { x0, eps };
}

export function clampInPlace(x: Float64Array, range: number): void {
  for (let i = 0; i < x.length; i++) x[i] = Math.min(range, Math.max(-range, x[i]));
}

/** Noise for a stochastic step: the given array, else draws from the generator. */
export function stepNoise(n: number, options: StepOptions | undefined, fallback: Random | undefined): Float32Array {
  if (options?.noise) {
    if (options.noise.length !== n) throw new RangeError(`noise has ${options.noise.length} values, expected ${n}`);
    return options.noise;
  }
  const rng = options?.rng ?? fallback;
  if (!rng) throw new Error('a stochastic step needs `noise` or a seeded `rng`');
  return rng.randn(n);
}

/** Rejects config options these samplers do not implement instead of silently ignoring them. */
export function rejectUnsupported(cfg: SchedulerConfig, flags: string[]): void {
  if (cfg.thresholding) throw new Error('scheduler option thresholding=true is not supported');
  rejectFlags(cfg, flags);
}

/** The same for samplers whose diffusers class has no `thresholding` (it ignores the key). */
export function rejectFlags(cfg: SchedulerConfig, flags: string[]): void {
  for (const f of flags) {
    if (cfg.extra[f] === true) throw new Error(`scheduler option ${f}=true is not supported`);
  }
}
