/**
 * Ancestral Euler (k-diffusion's sample_euler_ancestral, eta 1), following diffusers'
 * EulerAncestralDiscreteScheduler: each step splits σ_next into a deterministic part
 * σ_down = √(σ_next² − σ_up²) and fresh noise σ_up = √(σ_next²·(σ² − σ_next²)/σ²), so the sample
 * lands on the right noise level with part of its noise renewed.
 */
import { SigmaSpaceScheduler } from './euler-discrete.scheduler';
import type { Random } from './random';
import { stepNoise, type StepOptions } from './sampling-scheduler';
import { EULER_ANCESTRAL_DISCRETE_CLASS, type SchedulerConfig } from './scheduler-config';

export interface EulerAncestralOptions {
  /** Generator for the step noise when no noise array is passed to `step`. */
  rng?: Random;
}

export class EulerAncestralDiscreteScheduler extends SigmaSpaceScheduler {
  private rng: Random | undefined;

  constructor(config: SchedulerConfig, options: EulerAncestralOptions = {}) {
    super(config, EULER_ANCESTRAL_DISCRETE_CLASS, ['epsilon', 'v_prediction']);
    this.rng = options.rng;
  }

  protected move(x: Float32Array, x0: Float64Array, sigma: number, sigmaNext: number, options?: StepOptions): Float32Array {
    const up = Math.sqrt((sigmaNext * sigmaNext * (sigma * sigma - sigmaNext * sigmaNext)) / (sigma * sigma));
    const down = Math.sqrt(sigmaNext * sigmaNext - up * up);
    const dt = down - sigma;
    // Drawn on every step, the last (σ_up = 0) included, as diffusers does.
    const z = stepNoise(x.length, options, this.rng);
    return Float32Array.from(x, (v, i) => v + ((v - x0[i]) / sigma) * dt + z[i] * up);
  }
}
