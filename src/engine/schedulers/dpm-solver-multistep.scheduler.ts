/**
 * DPM-Solver++ multistep sampler (Lu et al. 2022, "DPM-Solver++", Algorithm 2 for order 2),
 * following diffusers' DPMSolverMultistepScheduler with algorithm_type "dpmsolver++".
 *
 * Works in the data-prediction parameterisation: each model output is converted to x̂0, and with
 * λ = log(α/σ), h = λ_t − λ_s the first-order update is x_t = (σ_t/σ_s)·x_s − α_t(e^{−h} − 1)·x̂0
 * (DDIM); the second-order (2M) update adds the midpoint correction 0.5·(x̂0_s0 − x̂0_s1)/r0, with
 * r0 = h_prev / h. With final_sigmas_type "zero" the last step lands on σ = 0, i.e. returns x̂0.
 */
import { NoiseSchedule } from './noise-schedule';
import {
  rejectUnsupported,
  type CustomTimestepScheduler,
  type StepOptions,
} from './sampling-scheduler';
import {
  configForClass,
  DPM_SOLVER_MULTISTEP_CLASS,
  type PredictionType,
  type SchedulerConfig,
} from './scheduler-config';
import { checkCustomTimesteps, dpmSolverTimesteps } from './timestep-spacing';

const UNSUPPORTED_FLAGS = [
  'use_karras_sigmas',
  'use_exponential_sigmas',
  'use_beta_sigmas',
  'use_lu_lambdas',
  'use_flow_sigmas',
  'use_dynamic_shifting',
];

function dataPrediction(
  predictionType: PredictionType,
  modelOutput: Float32Array,
  sample: Float32Array,
  alpha: number,
  sigma: number,
): Float64Array {
  if (modelOutput.length !== sample.length) {
    throw new RangeError(`modelOutput (${modelOutput.length}) and sample (${sample.length}) differ in length`);
  }
  const x0 = new Float64Array(sample.length);
  for (let i = 0; i < x0.length; i++) {
    const m = modelOutput[i];
    if (predictionType === 'epsilon') x0[i] = (sample[i] - sigma * m) / alpha;
    else if (predictionType === 'v_prediction') x0[i] = alpha * sample[i] - sigma * m;
    else if (predictionType === 'sample') x0[i] = m;
    else throw new Error(`unsupported prediction_type ${String(predictionType)}`);
  }
  return x0;
}

export class DPMSolverMultistepScheduler implements CustomTimestepScheduler {
  readonly config: SchedulerConfig;
  readonly schedule: NoiseSchedule;
  readonly initNoiseSigma = 1;
  /** ᾱ as this sampler uses it (zero-SNR schedules get a tiny positive last value). */
  readonly alphasCumprod: Float64Array;
  private _timesteps: Int32Array = new Int32Array(0);
  /** σ/α per timestep plus the final value; length timesteps.length + 1. */
  private _sigmas: Float64Array = new Float64Array(0);
  private modelOutputs: (Float64Array | null)[];
  private lowerOrderNums = 0;
  private stepIndex: number | null = null;

  constructor(config: SchedulerConfig) {
    this.config = configForClass(config, DPM_SOLVER_MULTISTEP_CLASS);
    const c = this.config;
    // As diffusers: a DEIS or UniPC config read by DPM-Solver maps their names onto its own.
    if (c.algorithm_type === 'deis') c.algorithm_type = 'dpmsolver++';
    if (c.solver_type === 'logrho' || c.solver_type === 'bh1' || c.solver_type === 'bh2') c.solver_type = 'midpoint';
    rejectUnsupported(c, UNSUPPORTED_FLAGS);
    if (c.algorithm_type !== 'dpmsolver++') {
      throw new Error(`algorithm_type ${c.algorithm_type} is not supported (only dpmsolver++)`);
    }
    if (c.solver_order !== 1 && c.solver_order !== 2) {
      throw new Error(`solver_order ${c.solver_order} is not supported (1 or 2)`);
    }
    if (c.variance_type === 'learned' || c.variance_type === 'learned_range') {
      throw new Error(`variance_type ${c.variance_type} is not supported`);
    }
    this.schedule = new NoiseSchedule(c);
    this.alphasCumprod = Float64Array.from(this.schedule.alphasCumprod);
    if (c.rescale_betas_zero_snr) {
      // Keep the first σ finite (the fp16 smallest subnormal, as diffusers does).
      this.alphasCumprod[this.alphasCumprod.length - 1] = 2 ** -24;
    }
    this.modelOutputs = new Array<Float64Array | null>(c.solver_order).fill(null);
  }

  get timesteps(): Int32Array {
    return this._timesteps;
  }

  /** σ/α at each scheduled timestep, followed by the final value (0 or σ_min). */
  get sigmas(): Float64Array {
    return this._sigmas;
  }

  private sigmaAt(t: number): number {
    const ab = this.alphasCumprod[t];
    return Math.sqrt((1 - ab) / ab);
  }

  /** Largest timestep + 1 whose λ stays above lambda_min_clipped (all T when unclipped). */
  private lastTimestep(): number {
    const T = this.config.num_train_timesteps;
    const min = this.config.lambda_min_clipped;
    // searchsorted(left) over λ in ascending order (λ decreases with t), counted from t = T−1.
    let clipped = 0;
    for (let t = T - 1; t >= 0; t--) {
      const ab = this.alphasCumprod[t];
      const lambda = Math.log(Math.sqrt(ab)) - Math.log(Math.sqrt(1 - ab));
      if (lambda >= min) break;
      clipped++;
    }
    return T - clipped;
  }

  setTimesteps(numInferenceSteps: number): void {
    const c = this.config;
    this.useSchedule(
      dpmSolverTimesteps(c.timestep_spacing, c.num_train_timesteps, numInferenceSteps, c.steps_offset, this.lastTimestep()),
    );
  }

  /** Any strictly descending integer timesteps, e.g. Diffusion-DRO's randomly perturbed grid. */
  setCustomTimesteps(timesteps: ArrayLike<number>): void {
    this.useSchedule(checkCustomTimesteps(timesteps, this.config.num_train_timesteps));
  }

  private useSchedule(ts: Int32Array): void {
    if (ts.length === 0) throw new RangeError('no timesteps left after lambda_min_clipped');
    this._timesteps = ts;
    const sig = new Float64Array(ts.length + 1);
    for (let i = 0; i < ts.length; i++) sig[i] = this.sigmaAt(ts[i]);
    sig[ts.length] = this.config.final_sigmas_type === 'sigma_min' ? this.sigmaAt(0) : 0;
    this._sigmas = sig;
    this.reset();
  }

  reset(): void {
    this.modelOutputs.fill(null);
    this.lowerOrderNums = 0;
    this.stepIndex = null;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /** Index of the step about to be taken; the first call locates `timestep` in the schedule. */
  private indexFor(timestep: number): number {
    if (this.stepIndex !== null) return this.stepIndex;
    const hits: number[] = [];
    this._timesteps.forEach((t, i) => {
      if (t === timestep) hits.push(i);
    });
    // As diffusers: unknown → last; duplicated → second occurrence (img2img entry point).
    if (hits.length === 0) return this._timesteps.length - 1;
    return hits.length > 1 ? hits[1] : hits[0];
  }

  /** (α_t, σ_t, λ_t) for sigma index i. */
  private alphaSigmaLambda(i: number): [number, number, number] {
    const s = this._sigmas[i];
    const alpha = 1 / Math.sqrt(s * s + 1);
    const sigma = s * alpha;
    return [alpha, sigma, Math.log(alpha) - Math.log(sigma)];
  }

  step(modelOutput: Float32Array, timestep: number, sample: Float32Array, _options?: StepOptions): Float32Array {
    if (this._timesteps.length === 0) throw new Error('call setTimesteps before step');
    const c = this.config;
    const idx = this.indexFor(timestep);
    const n = this._timesteps.length;
    if (idx >= n) throw new Error('all scheduled timesteps have been stepped; call reset or setTimesteps');
    const lowerOrderFinal =
      idx === n - 1 && (c.euler_at_final || (c.lower_order_final && n < 15) || c.final_sigmas_type === 'zero');

    // x̂0 at the current noise level, with α_s, σ_s taken from the schedule's σ as diffusers does.
    const [aS0, sS0, lS0] = this.alphaSigmaLambda(idx);
    const x0 = dataPrediction(c.prediction_type, modelOutput, sample, aS0, sS0);
    for (let i = 0; i < this.modelOutputs.length - 1; i++) this.modelOutputs[i] = this.modelOutputs[i + 1];
    this.modelOutputs[this.modelOutputs.length - 1] = x0;

    const [aT, sT, lT] = this.alphaSigmaLambda(idx + 1);
    const h = lT - lS0;
    const expm = Math.exp(-h) - 1;
    const ratio = sT / sS0;
    const out = new Float32Array(sample.length);

    if (c.solver_order === 1 || this.lowerOrderNums < 1 || lowerOrderFinal) {
      for (let i = 0; i < out.length; i++) out[i] = ratio * sample[i] - aT * expm * x0[i];
    } else {
      const m0 = x0;
      const m1 = this.modelOutputs[this.modelOutputs.length - 2] as Float64Array;
      const [, , lS1] = this.alphaSigmaLambda(idx - 1);
      const r0 = (lS0 - lS1) / h;
      const cD1 =
        c.solver_type === 'midpoint' ? -0.5 * aT * expm : aT * (expm / h + 1); // heun
      for (let i = 0; i < out.length; i++) {
        const d1 = (m0[i] - m1[i]) / r0;
        out[i] = ratio * sample[i] - aT * expm * m0[i] + cD1 * d1;
      }
    }
    if (this.lowerOrderNums < c.solver_order) this.lowerOrderNums++;
    this.stepIndex = idx + 1;
    return out;
  }
}
