/**
 * DDIM sampler (Song et al. 2021, eq. 12 and 16), following diffusers' DDIMScheduler:
 * x_prev = sqrt(ᾱ_prev)·x̂0 + sqrt(1 − ᾱ_prev − σ²)·ε̂ + σ·z, σ = η·sqrt((1−ᾱ_prev)/(1−ᾱ_t))·sqrt(1 − ᾱ_t/ᾱ_prev).
 */
import { NoiseSchedule } from './noise-schedule';
import type { Random } from './random';
import {
  clampInPlace,
  convertModelOutput,
  rejectUnsupported,
  stepNoise,
  type CustomTimestepScheduler,
  type StepOptions,
} from './sampling-scheduler';
import { configForClass, DDIM_CLASS, type SchedulerConfig } from './scheduler-config';
import { checkCustomTimesteps, ddimTimesteps } from './timestep-spacing';

export interface DDIMOptions {
  /** Noise weight: 0 is deterministic DDIM, 1 matches DDPM's posterior variance. */
  eta?: number;
  /** Generator for the noise when eta > 0 and no noise array is passed to `step`. */
  rng?: Random;
}

export interface DDIMStepOptions extends StepOptions {
  eta?: number;
  /** Re-derive ε from the clipped x̂0 (GLIDE behaviour). */
  useClippedModelOutput?: boolean;
}

export class DDIMScheduler implements CustomTimestepScheduler {
  readonly config: SchedulerConfig;
  readonly schedule: NoiseSchedule;
  readonly initNoiseSigma = 1;
  /** ᾱ used after the last step: 1, or ᾱ_0 when set_alpha_to_one is false. */
  readonly finalAlphaCumprod: number;
  private eta: number;
  private rng: Random | undefined;
  private _timesteps: Int32Array = new Int32Array(0);
  private numInferenceSteps: number | null = null;
  /** Previous timestep per position in a custom schedule; null for the spacing rule. */
  private customPrev: Map<number, number> | null = null;

  constructor(config: SchedulerConfig, options: DDIMOptions = {}) {
    this.config = configForClass(config, DDIM_CLASS);
    rejectUnsupported(this.config, []);
    this.schedule = new NoiseSchedule(this.config);
    this.finalAlphaCumprod = this.config.set_alpha_to_one ? 1 : this.schedule.alphasCumprod[0];
    this.eta = options.eta ?? 0;
    this.rng = options.rng;
  }

  get timesteps(): Int32Array {
    return this._timesteps;
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    this._timesteps = ddimTimesteps(c.timestep_spacing, c.num_train_timesteps, numInferenceSteps, c.steps_offset);
    this.numInferenceSteps = numInferenceSteps;
    this.customPrev = null;
  }

  /** DDIM's update is valid between any two noise levels, so any descending subsequence works. */
  setCustomTimesteps(timesteps: ArrayLike<number>): void {
    const ts = checkCustomTimesteps(timesteps, this.config.num_train_timesteps);
    this._timesteps = ts;
    this.numInferenceSteps = ts.length;
    this.customPrev = new Map();
    for (let i = 0; i < ts.length; i++) this.customPrev.set(ts[i], i + 1 < ts.length ? ts[i + 1] : -1);
  }

  /** The timestep a step from `timestep` lands on (negative: past the end, ᾱ = finalAlphaCumprod). */
  previousTimestep(timestep: number): number {
    if (this.numInferenceSteps === null) throw new Error('call setTimesteps before step');
    if (this.customPrev) {
      const prev = this.customPrev.get(timestep);
      if (prev === undefined) throw new RangeError(`timestep ${timestep} is not in the custom schedule`);
      return prev;
    }
    // diffusers steps by a fixed stride, even where "trailing" rounding makes the grid uneven.
    return timestep - Math.floor(this.config.num_train_timesteps / this.numInferenceSteps);
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  reset(): void {
    // DDIM keeps no state between steps.
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: DDIMStepOptions = {}): Float32Array {
    const prevT = this.previousTimestep(timestep);
    const abT = this.schedule.alphaBar(timestep);
    const abPrev = prevT >= 0 ? this.schedule.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const { x0, eps } = convertModelOutput(this.config.prediction_type, modelOutput, sample, abT);
    if (this.config.clip_sample) clampInPlace(x0, this.config.clip_sample_range);

    const eta = options.eta ?? this.eta;
    const variance = ((1 - abPrev) / (1 - abT)) * (1 - abT / abPrev);
    const std = eta * Math.sqrt(variance);
    if (options.useClippedModelOutput) {
      const a = Math.sqrt(abT);
      const s = Math.sqrt(1 - abT);
      for (let i = 0; i < eps.length; i++) eps[i] = (sample[i] - a * x0[i]) / s;
    }
    const cX0 = Math.sqrt(abPrev);
    const cEps = Math.sqrt(Math.max(0, 1 - abPrev - std * std));
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) out[i] = cX0 * x0[i] + cEps * eps[i];
    if (eta > 0) {
      const z = stepNoise(out.length, options, this.rng);
      for (let i = 0; i < out.length; i++) out[i] += std * z[i];
    }
    return out;
  }
}
