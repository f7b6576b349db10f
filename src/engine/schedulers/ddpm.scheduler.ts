/**
 * Ancestral DDPM sampler (Ho et al. 2020, eq. 6–7), following diffusers' DDPMScheduler: the
 * posterior mean from x̂0 and x_t plus noise with the configured variance. Also the training-side
 * entry point (addNoise / velocity / targets), delegated to the noise schedule.
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
import { configForClass, DDPM_CLASS, type SchedulerConfig } from './scheduler-config';
import { checkCustomTimesteps, ddimTimesteps } from './timestep-spacing';

export interface DDPMOptions {
  /** Generator for the step noise when no noise array is passed to `step`. */
  rng?: Random;
}

export class DDPMScheduler implements CustomTimestepScheduler {
  readonly config: SchedulerConfig;
  readonly schedule: NoiseSchedule;
  readonly initNoiseSigma = 1;
  private rng: Random | undefined;
  private _timesteps: Int32Array;
  private prevOf: Map<number, number> | null = null;

  constructor(config: SchedulerConfig, options: DDPMOptions = {}) {
    this.config = configForClass(config, DDPM_CLASS);
    rejectUnsupported(this.config, []);
    const vt = this.config.variance_type;
    if (vt === 'learned' || vt === 'learned_range' || vt === 'fixed_large_log') {
      throw new Error(`variance_type ${vt} is not supported`);
    }
    this.schedule = new NoiseSchedule(this.config);
    this.rng = options.rng;
    // Until setTimesteps, every training timestep is visited (T−1 … 0).
    const T = this.config.num_train_timesteps;
    this._timesteps = Int32Array.from({ length: T }, (_, i) => T - 1 - i);
  }

  get timesteps(): Int32Array {
    return this._timesteps;
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    this.useSchedule(ddimTimesteps(c.timestep_spacing, c.num_train_timesteps, numInferenceSteps, c.steps_offset));
  }

  setCustomTimesteps(timesteps: ArrayLike<number>): void {
    this.useSchedule(checkCustomTimesteps(timesteps, this.config.num_train_timesteps));
  }

  private useSchedule(ts: Int32Array): void {
    this._timesteps = ts;
    this.prevOf = new Map();
    for (let i = 0; i < ts.length; i++) this.prevOf.set(ts[i], i + 1 < ts.length ? ts[i + 1] : -1);
  }

  /** Next timestep in the schedule after `timestep`, −1 after the last. */
  previousTimestep(timestep: number): number {
    if (!this.prevOf) return timestep - 1;
    const prev = this.prevOf.get(timestep);
    if (prev === undefined) throw new RangeError(`timestep ${timestep} is not in the schedule`);
    return prev;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  reset(): void {
    // DDPM keeps no state between steps.
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options: StepOptions = {}): Float32Array {
    const prevT = this.previousTimestep(timestep);
    const abT = this.schedule.alphaBar(timestep);
    const abPrev = prevT >= 0 ? this.schedule.alphasCumprod[prevT] : 1;
    const betaProdT = 1 - abT;
    const betaProdPrev = 1 - abPrev;
    const alphaT = abT / abPrev;
    const betaT = 1 - alphaT;

    const { x0 } = convertModelOutput(this.config.prediction_type, modelOutput, sample, abT);
    if (this.config.clip_sample) clampInPlace(x0, this.config.clip_sample_range);

    // Posterior mean μ̃_t(x_t, x̂0), eq. 7.
    const cX0 = (Math.sqrt(abPrev) * betaT) / betaProdT;
    const cXt = (Math.sqrt(alphaT) * betaProdPrev) / betaProdT;
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) out[i] = cX0 * x0[i] + cXt * sample[i];

    if (timestep > 0) {
      const posteriorVar = Math.max((betaProdPrev / betaProdT) * betaT, 1e-20);
      const variance = this.config.variance_type === 'fixed_large' ? betaT : posteriorVar;
      const std = Math.sqrt(variance);
      const z = stepNoise(out.length, options, this.rng);
      for (let i = 0; i < out.length; i++) out[i] += std * z[i];
    }
    return out;
  }

  addNoise(x0: Float32Array, noise: Float32Array, t: ArrayLike<number>): Float32Array {
    return this.schedule.addNoise(x0, noise, t);
  }

  getVelocity(x0: Float32Array, noise: Float32Array, t: ArrayLike<number>): Float32Array {
    return this.schedule.velocity(x0, noise, t);
  }
}
