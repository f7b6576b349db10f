/**
 * PLMS, the pseudo linear multistep sampler of PNDM (Liu et al. 2022, "Pseudo Numerical Methods for
 * Diffusion Models", eq. 9 and 12), following diffusers' PNDMScheduler with `skip_prk_steps` — the
 * scheduler Stable Diffusion 1.x ships. Instead of the Runge–Kutta warm-up, the second timestep is
 * visited twice (a Heun-like correction of the first step); afterwards ε is extrapolated from the
 * last 2, 3, 4 model outputs (Adams–Bashforth) and moved with the transfer of eq. 9, which equals DDIM's.
 */
import { NoiseSchedule } from './noise-schedule';
import type { SamplingScheduler, StepOptions } from './sampling-scheduler';
import { configForClass, extraOption, PNDM_CLASS, type SchedulerConfig } from './scheduler-config';
import { ddimTimesteps } from './timestep-spacing';

/** Adams–Bashforth weights for 1–4 past outputs, newest first (crowsonkb's PLMS). */
const PLMS_WEIGHTS: number[][] = [[1], [3 / 2, -1 / 2], [23 / 12, -16 / 12, 5 / 12], [55 / 24, -59 / 24, 37 / 24, -9 / 24]];

export class PNDMScheduler implements SamplingScheduler {
  readonly config: SchedulerConfig;
  readonly schedule: NoiseSchedule;
  readonly initNoiseSigma = 1;
  /** ᾱ used after the last step: 1, or ᾱ_0 when set_alpha_to_one is false (PNDM's default). */
  readonly finalAlphaCumprod: number;
  private _timesteps: Int32Array = new Int32Array(0);
  /** num_train_timesteps // num_inference_steps: diffusers steps by this stride whatever the spacing. */
  private stride = 0;
  /** Raw model outputs of the PLMS steps, oldest first (at most 4). */
  private ets: Float32Array[] = [];
  private counter = 0;
  /** x at the first timestep, kept for the repeated second visit. */
  private curSample: Float32Array | null = null;

  constructor(config: SchedulerConfig) {
    this.config = configForClass(config, PNDM_CLASS);
    if (!extraOption(this.config, 'skip_prk_steps', false, [true, false])) {
      throw new Error('PNDM with skip_prk_steps=false (Runge–Kutta warm-up) is not supported; the "pndm" sampler is PLMS');
    }
    const p = this.config.prediction_type;
    if (p !== 'epsilon' && p !== 'v_prediction') throw new Error(`PNDM supports prediction_type epsilon or v_prediction, not ${p}`);
    this.schedule = new NoiseSchedule(this.config);
    this.finalAlphaCumprod = this.config.set_alpha_to_one ? 1 : this.schedule.alphasCumprod[0];
  }

  get timesteps(): Int32Array {
    return this._timesteps;
  }

  /** The spacing rule's timesteps with the second one repeated (diffusers' `plms_timesteps`). */
  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    const base = ddimTimesteps(c.timestep_spacing, c.num_train_timesteps, numInferenceSteps, c.steps_offset);
    this._timesteps = base.length > 1 ? Int32Array.from([base[0], base[1], ...base.subarray(1)]) : base;
    this.stride = Math.floor(c.num_train_timesteps / numInferenceSteps);
    this.reset();
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  reset(): void {
    this.ets = [];
    this.counter = 0;
    this.curSample = null;
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, _options?: StepOptions): Float32Array {
    if (this.stride === 0) throw new Error('call setTimesteps before step');
    if (modelOutput.length !== sample.length) {
      throw new RangeError(`modelOutput (${modelOutput.length}) and sample (${sample.length}) differ in length`);
    }
    let t = timestep;
    let prevT = timestep - this.stride;
    let x = sample;
    let combined: Float64Array;
    if (this.counter === 1) {
      // Second visit of the second timestep: redo the first step from x_T with the mean of both outputs.
      prevT = timestep;
      t = timestep + this.stride;
      x = this.curSample as Float32Array;
      this.curSample = null;
      const first = this.ets[this.ets.length - 1];
      combined = Float64Array.from(modelOutput, (m, i) => (m + first[i]) / 2);
    } else {
      this.ets = [...this.ets.slice(-3), modelOutput.slice()];
      if (this.counter === 0) this.curSample = sample;
      const w = PLMS_WEIGHTS[this.ets.length - 1];
      combined = new Float64Array(sample.length);
      for (let k = 0; k < w.length; k++) {
        const e = this.ets[this.ets.length - 1 - k];
        for (let i = 0; i < combined.length; i++) combined[i] += w[k] * e[i];
      }
    }
    this.counter++;
    return this.transfer(x, t, prevT, combined);
  }

  /** Eq. 9: x_{t−δ} = √(ᾱ_{t−δ}/ᾱ_t)·x_t − (ᾱ_{t−δ} − ᾱ_t)·ε / (ᾱ_t·√(1−ᾱ_{t−δ}) + √(ᾱ_t(1−ᾱ_t)ᾱ_{t−δ})). */
  private transfer(x: Float32Array, t: number, prevT: number, modelOutput: Float64Array): Float32Array {
    const abT = this.schedule.alphaBar(t);
    const abPrev = prevT >= 0 ? this.schedule.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const v = this.config.prediction_type === 'v_prediction';
    const sampleCoeff = Math.sqrt(abPrev / abT);
    const denom = abT * Math.sqrt(1 - abPrev) + Math.sqrt(abT * (1 - abT) * abPrev);
    const epsCoeff = (abPrev - abT) / denom;
    const out = new Float32Array(x.length);
    for (let i = 0; i < out.length; i++) {
      const eps = v ? Math.sqrt(abT) * modelOutput[i] + Math.sqrt(1 - abT) * x[i] : modelOutput[i];
      out[i] = sampleCoeff * x[i] - epsCoeff * eps;
    }
    return out;
  }
}
