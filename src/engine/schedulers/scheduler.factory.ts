/**
 * Builds a sampler by short name from any scheduler config (the config's own class does not
 * matter: defaulted keys take the chosen sampler's defaults, as diffusers' `from_config` does).
 */
import { DDIMScheduler } from './ddim.scheduler';
import { DDPMScheduler } from './ddpm.scheduler';
import { DPMSolverMultistepScheduler } from './dpm-solver-multistep.scheduler';
import { EulerAncestralDiscreteScheduler } from './euler-ancestral-discrete.scheduler';
import { EulerDiscreteScheduler } from './euler-discrete.scheduler';
import { PNDMScheduler } from './pndm.scheduler';
import type { Random } from './random';
import type { CustomTimestepScheduler, SamplingScheduler } from './sampling-scheduler';
import type { SchedulerConfig } from './scheduler-config';

export type SchedulerName = 'ddim' | 'dpmpp-2m' | 'ddpm' | 'euler' | 'euler-ancestral' | 'pndm';

export const SCHEDULER_NAMES: readonly SchedulerName[] = ['dpmpp-2m', 'ddim', 'ddpm', 'euler', 'euler-ancestral', 'pndm'];

/** Samplers that draw noise on every step (from `rng`, or the `noise` passed to `step`). */
const STOCHASTIC: readonly SchedulerName[] = ['ddpm', 'euler-ancestral'];

/** PLMS needs its evenly strided grid; every other sampler also takes custom timesteps. */
export type CustomTimestepSchedulerName = Exclude<SchedulerName, 'pndm'>;

export interface CreateSchedulerOptions {
  /** DDIM noise weight (default 0). */
  eta?: number;
  /** Generator for stochastic steps (DDPM, Euler-ancestral, DDIM with eta > 0). */
  rng?: Random;
}

export function isSchedulerName(name: string): name is SchedulerName {
  return (SCHEDULER_NAMES as readonly string[]).includes(name);
}

export function isStochasticScheduler(name: SchedulerName): boolean {
  return STOCHASTIC.includes(name);
}

export function createScheduler(name: CustomTimestepSchedulerName, config: SchedulerConfig, options?: CreateSchedulerOptions): CustomTimestepScheduler;
export function createScheduler(name: SchedulerName, config: SchedulerConfig, options?: CreateSchedulerOptions): SamplingScheduler;
export function createScheduler(name: SchedulerName, config: SchedulerConfig, options: CreateSchedulerOptions = {}): SamplingScheduler {
  switch (name) {
    case 'ddim':
      return new DDIMScheduler(config, { eta: options.eta, rng: options.rng });
    case 'ddpm':
      return new DDPMScheduler(config, { rng: options.rng });
    case 'dpmpp-2m': {
      // The name fixes the method: DPM-Solver++ of order 2; the rest comes from the config.
      const defaulted = config._use_default_values.filter((k) => k !== 'algorithm_type' && k !== 'solver_order');
      return new DPMSolverMultistepScheduler({
        ...config,
        algorithm_type: 'dpmsolver++',
        solver_order: 2,
        _use_default_values: defaulted,
      });
    }
    case 'euler':
      return new EulerDiscreteScheduler(config);
    case 'euler-ancestral':
      return new EulerAncestralDiscreteScheduler(config, { rng: options.rng });
    case 'pndm':
      // The name fixes the method too: PLMS, as Stable Diffusion's own config asks for.
      return new PNDMScheduler({ ...config, extra: { ...config.extra, skip_prk_steps: true } });
    default:
      throw new Error(`unknown scheduler ${String(name)}`);
  }
}
