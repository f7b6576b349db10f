/**
 * β schedules and cumulative ᾱ products, as diffusers builds them from a scheduler config.
 * Computed in float64 (diffusers uses float32 tensors; values agree to float32 precision).
 */
import type { BetaScheduleName, SchedulerConfig } from './scheduler-config';

/** `n` evenly spaced values from start to end inclusive. */
function linspace(start: number, end: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = (end - start) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  out[n - 1] = end;
  return out;
}

/** GLIDE / improved-DDPM cosine ᾱ(t) for t in [0, 1]. */
export function cosineAlphaBar(t: number): number {
  return Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
}

/** Discretises a continuous ᾱ(t): β_i = min(1 − ᾱ((i+1)/n) / ᾱ(i/n), maxBeta). */
export function betasForAlphaBar(
  numDiffusionTimesteps: number,
  maxBeta = 0.999,
  alphaBar: (t: number) => number = cosineAlphaBar,
): Float64Array {
  const out = new Float64Array(numDiffusionTimesteps);
  for (let i = 0; i < numDiffusionTimesteps; i++) {
    const t1 = i / numDiffusionTimesteps;
    const t2 = (i + 1) / numDiffusionTimesteps;
    out[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return out;
}

export function makeBetas(
  schedule: BetaScheduleName,
  numTrainTimesteps: number,
  betaStart: number,
  betaEnd: number,
): Float64Array {
  switch (schedule) {
    case 'linear':
      return linspace(betaStart, betaEnd, numTrainTimesteps);
    case 'scaled_linear': {
      // Latent-diffusion schedule: linear in sqrt(β).
      const b = linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), numTrainTimesteps);
      for (let i = 0; i < b.length; i++) b[i] = b[i] * b[i];
      return b;
    }
    case 'squaredcos_cap_v2':
      return betasForAlphaBar(numTrainTimesteps);
    default:
      throw new Error(`unsupported beta_schedule ${String(schedule)}`);
  }
}

/** ᾱ_t = Π_{s<=t} (1 − β_s). */
export function alphasCumprodFromBetas(betas: ArrayLike<number>): Float64Array {
  const out = new Float64Array(betas.length);
  let acc = 1;
  for (let i = 0; i < betas.length; i++) {
    acc *= 1 - betas[i];
    out[i] = acc;
  }
  return out;
}

/**
 * Rescales betas so the last timestep has zero SNR (Lin et al. 2023, Algorithm 1): shift sqrt(ᾱ)
 * so its last value is 0, scale so its first value is unchanged, convert back to betas.
 */
export function rescaleZeroTerminalSnr(betas: ArrayLike<number>): Float64Array {
  const n = betas.length;
  const sqrtAb = alphasCumprodFromBetas(betas).map(Math.sqrt);
  const first = sqrtAb[0];
  const last = sqrtAb[n - 1];
  const scale = first / (first - last);
  const ab = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = (sqrtAb[i] - last) * scale;
    ab[i] = v * v;
  }
  const out = new Float64Array(n);
  out[0] = 1 - ab[0];
  for (let i = 1; i < n; i++) out[i] = 1 - ab[i] / ab[i - 1];
  return out;
}

/** Betas for a config, including `trained_betas` and `rescale_betas_zero_snr`. */
export function betasFromConfig(cfg: SchedulerConfig): Float64Array {
  let betas = cfg.trained_betas
    ? Float64Array.from(cfg.trained_betas)
    : makeBetas(cfg.beta_schedule, cfg.num_train_timesteps, cfg.beta_start, cfg.beta_end);
  if (cfg.rescale_betas_zero_snr) betas = rescaleZeroTerminalSnr(betas);
  return betas;
}
