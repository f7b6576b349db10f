/**
 * Builds a sampler by short name from any scheduler config (the config's own class does not
 * matter: defaulted keys take the chosen sampler's defaults, as diffusers' `from_config` does).
 */
import { DDIMScheduler } from './ddim.scheduler';
import { DDPMScheduler } from './ddpm.scheduler';
import { DPMSolverMultistepScheduler } from './dpm-solver-multistep.scheduler';
import type { Random } from './random';
import type { CustomTimestepScheduler } from './sampling-scheduler';
import type { SchedulerConfig } from './scheduler-config';

export type SchedulerName = 'ddim' | 'dpmpp-2m' | 'ddpm';

export const SCHEDULER_NAMES: readonly SchedulerName[] = ['dpmpp-2m', 'ddim', 'ddpm'];

export interface CreateSchedulerOptions {
  /** DDIM noise weight (default 0). */
  eta?: number;
  /** Generator for stochastic steps (DDPM, DDIM with eta > 0). */
  rng?: Random;
}

export function isSchedulerName(name: string): name is SchedulerName {
  return (SCHEDULER_NAMES as readonly string[]).includes(name);
}

export function createScheduler(
  name: SchedulerName,
  config: SchedulerConfig,
  options: CreateSchedulerOptions = {},
): CustomTimestepScheduler {
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
    default:
      throw new Error(`unknown scheduler ${String(name)}`);
  }
}
