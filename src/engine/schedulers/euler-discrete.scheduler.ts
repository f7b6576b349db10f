/**
 * Euler samplers in σ-space (Karras et al. 2022, "Elucidating the Design Space…", Algorithm 1 without
 * churn; k-diffusion's sample_euler), following diffusers' EulerDiscreteScheduler. The sample is
 * x = √(σ²+1)·x_vp with σ_t = √((1 − ᾱ_t)/ᾱ_t); the model sees x/√(σ²+1) and a step moves along
 * the ODE derivative (x − x̂0)/σ from σ to the next σ. The σ of a (possibly fractional) timestep
 * is interpolated linearly between training timesteps, in float32 as diffusers stores it.
 */
import { NoiseSchedule } from './noise-schedule';
import { rejectFlags, type CustomTimestepScheduler, type StepOptions } from './sampling-scheduler';
import { configForClass, EULER_DISCRETE_CLASS, extraOption, type PredictionType, type SchedulerConfig } from './scheduler-config';
import { checkCustomTimesteps, checkSteps, ddimTimesteps, numpyLinspace } from './timestep-spacing';

const UNSUPPORTED_FLAGS = ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas'];

/** numpy `interp(x, arange(n), fp)`: clamped at both ends, exact at integer points. */
function interpolate(fp: Float64Array, x: number): number {
  if (x <= 0) return fp[0];
  if (x >= fp.length - 1) return fp[fp.length - 1];
  const i = Math.floor(x);
  return fp[i] + (fp[i + 1] - fp[i]) * (x - i);
}

/** Schedule, σ lookup and input scaling shared by the Euler and Euler-ancestral samplers. */
export abstract class SigmaSpaceScheduler implements CustomTimestepScheduler {
  readonly config: SchedulerConfig;
  readonly schedule: NoiseSchedule;
  /** σ_t = √((1 − ᾱ_t)/ᾱ_t) for every training timestep (ᾱ_T−1 = 2⁻²⁴ on zero-terminal-SNR schedules). */
  readonly trainSigmas: Float64Array;
  private _timesteps: Float32Array = new Float32Array(0);
  private _sigmas: Float32Array = new Float32Array(0);
  private stepIndex: number | null = null;

  protected constructor(config: SchedulerConfig, className: string, predictionTypes: PredictionType[]) {
    this.config = configForClass(config, className);
    const c = this.config;
    rejectFlags(c, UNSUPPORTED_FLAGS);
    if (!predictionTypes.includes(c.prediction_type)) {
      throw new Error(`${className} supports prediction_type ${predictionTypes.join(', ')}, not ${c.prediction_type}`);
    }
    this.schedule = new NoiseSchedule(c);
    const ab = Float64Array.from(this.schedule.alphasCumprod);
    // As diffusers: keep the first σ finite (the fp16 smallest subnormal).
    if (c.rescale_betas_zero_snr) ab[ab.length - 1] = 2 ** -24;
    this.trainSigmas = ab.map((a) => Math.sqrt((1 - a) / a));
  }

  /** float32 timesteps as diffusers hands them to the UNet (fractional under "linspace"). */
  get timesteps(): Float32Array {
    return this._timesteps;
  }

  /** σ at each scheduled timestep, then the final σ (0, or σ_min with final_sigmas_type "sigma_min"). */
  get sigmas(): Float32Array {
    return this._sigmas;
  }

  /** σ_max for "linspace"/"trailing" spacing, √(σ_max² + 1) for "leading" (diffusers' rule). */
  get initNoiseSigma(): number {
    const max = this._sigmas.length > 0 ? Math.max(...this._sigmas) : Math.fround(this.trainSigmas[this.trainSigmas.length - 1]);
    const spacing = this.config.timestep_spacing;
    return spacing === 'linspace' || spacing === 'trailing' ? max : Math.fround(Math.sqrt(Math.fround(max * max) + 1));
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    const T = c.num_train_timesteps;
    if (c.timestep_spacing === 'linspace') {
      // Unrounded, unlike DDIM's: numpy float64 linspace cast to float32.
      checkSteps(numInferenceSteps, T);
      this.useSchedule(Float32Array.from(numpyLinspace(0, T - 1, numInferenceSteps).reverse()));
    } else {
      this.useSchedule(Float32Array.from(ddimTimesteps(c.timestep_spacing, T, numInferenceSteps, c.steps_offset)));
    }
  }

  /** Strictly descending integer timesteps; their σ comes from the same interpolation. */
  setCustomTimesteps(timesteps: ArrayLike<number>): void {
    this.useSchedule(Float32Array.from(checkCustomTimesteps(timesteps, this.config.num_train_timesteps)));
  }

  private useSchedule(ts: Float32Array): void {
    const sig = new Float32Array(ts.length + 1);
    for (let i = 0; i < ts.length; i++) sig[i] = interpolate(this.trainSigmas, ts[i]);
    sig[ts.length] = this.finalSigma();
    this._timesteps = ts;
    this._sigmas = sig;
    this.reset();
  }

  protected finalSigma(): number {
    return 0;
  }

  reset(): void {
    this.stepIndex = null;
  }

  /** Index of the step about to be taken; the first call locates `timestep` (second hit if repeated, as diffusers). */
  private indexFor(timestep: number): number {
    if (this.stepIndex !== null) return this.stepIndex;
    if (this._timesteps.length === 0) throw new Error('call setTimesteps before step');
    const t = Math.fround(timestep);
    const hits: number[] = [];
    this._timesteps.forEach((v, i) => {
      if (v === t) hits.push(i);
    });
    if (hits.length === 0) throw new RangeError(`timestep ${timestep} is not in the schedule`);
    this.stepIndex = hits.length > 1 ? hits[1] : hits[0];
    return this.stepIndex;
  }

  /** x / √(σ² + 1), in float32 arithmetic as diffusers' `scale_model_input`. */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    const sigma = this._sigmas[this.indexFor(timestep)];
    const scale = Math.fround(Math.sqrt(Math.fround(Math.fround(sigma * sigma) + 1)));
    return sample.map((v) => v / scale);
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, options?: StepOptions): Float32Array {
    if (modelOutput.length !== sample.length) {
      throw new RangeError(`modelOutput (${modelOutput.length}) and sample (${sample.length}) differ in length`);
    }
    const idx = this.indexFor(timestep);
    if (idx >= this._timesteps.length) throw new Error('all scheduled timesteps have been stepped; call reset or setTimesteps');
    const sigma = this._sigmas[idx];
    const x0 = this.predictOriginal(modelOutput, sample, sigma);
    const out = this.move(sample, x0, sigma, this._sigmas[idx + 1], options);
    this.stepIndex = idx + 1;
    return out;
  }

  /** x̂0 from the model output at σ: ε → x − σ·ε; v → −σ/√(σ²+1)·v + x/(σ²+1); sample → itself. */
  private predictOriginal(m: Float32Array, x: Float32Array, sigma: number): Float64Array {
    const p = this.config.prediction_type;
    if (p === 'sample') return Float64Array.from(m);
    if (p === 'epsilon') return Float64Array.from(x, (v, i) => v - sigma * m[i]);
    const s2 = sigma * sigma + 1;
    const cOut = -sigma / Math.sqrt(s2);
    return Float64Array.from(x, (v, i) => m[i] * cOut + v / s2);
  }

  /** The update from σ to σ_next given x̂0. */
  protected abstract move(x: Float32Array, x0: Float64Array, sigma: number, sigmaNext: number, options?: StepOptions): Float32Array;
}

/** Deterministic Euler: x ← x + (σ_next − σ)·(x − x̂0)/σ. */
export class EulerDiscreteScheduler extends SigmaSpaceScheduler {
  constructor(config: SchedulerConfig) {
    super(config, EULER_DISCRETE_CLASS, ['epsilon', 'v_prediction', 'sample']);
    extraOption(this.config, 'interpolation_type', 'linear', ['linear']);
    const type = extraOption(this.config, 'timestep_type', 'discrete', ['discrete', 'continuous']);
    if (type === 'continuous' && this.config.prediction_type === 'v_prediction') {
      throw new Error('timestep_type "continuous" (EDM timesteps 0.25·log σ) is not supported');
    }
  }

  protected finalSigma(): number {
    return this.config.final_sigmas_type === 'sigma_min' ? this.trainSigmas[0] : 0;
  }

  protected move(x: Float32Array, x0: Float64Array, sigma: number, sigmaNext: number): Float32Array {
    const dt = sigmaNext - sigma;
    return Float32Array.from(x, (v, i) => v + ((v - x0[i]) / sigma) * dt);
  }
}
