/**
 * Inference timestep selection, reproducing diffusers' `timestep_spacing` modes exactly
 * (including numpy's float `arange`/`linspace` arithmetic and round-half-to-even).
 */
import type { Random } from './random';

export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';

/** numpy `round`: ties go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round sends ties up; pull odd results of exact ties back down.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** numpy float `arange(start, stop, step)`: ceil length, then start + i * (a[1] - a[0]). */
export function numpyArange(start: number, stop: number, step: number): number[] {
  const len = Math.max(0, Math.ceil((stop - start) / step));
  if (len === 0) return [];
  const out = [start];
  if (len === 1) return out;
  const second = start + step;
  const delta = second - start;
  out.push(second);
  for (let i = 2; i < len; i++) out.push(start + i * delta);
  return out;
}

/** numpy `linspace(start, stop, num)` with endpoint: i * step + start, last element pinned to stop. */
export function numpyLinspace(start: number, stop: number, num: number): number[] {
  if (num <= 0) return [];
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const out: number[] = [];
  for (let i = 0; i < num; i++) out.push(i * step + start);
  out[num - 1] = stop;
  return out;
}

function toDescendingInt32(values: number[], numTrainTimesteps: number): Int32Array {
  // For some step counts numpy's float arange emits one extra element (~1e-13) that becomes
  // timestep -1 under "trailing"; diffusers would index the schedule from its end there, so drop it.
  const kept = values.filter((t) => t >= 0);
  for (const t of kept) {
    if (t >= numTrainTimesteps) {
      throw new RangeError(`timestep ${t} is outside [0, ${numTrainTimesteps})`);
    }
  }
  return Int32Array.from(kept);
}

/** Rejects step counts diffusers cannot schedule (non-integers, < 1, more than the training steps). */
export function checkSteps(numInferenceSteps: number, numTrainTimesteps: number): void {
  if (!Number.isInteger(numInferenceSteps) || numInferenceSteps < 1) {
    throw new RangeError(`numInferenceSteps must be a positive integer, got ${numInferenceSteps}`);
  }
  if (numInferenceSteps > numTrainTimesteps) {
    throw new RangeError(
      `numInferenceSteps ${numInferenceSteps} exceeds num_train_timesteps ${numTrainTimesteps}`,
    );
  }
}

/** Timesteps as diffusers' DDPMScheduler / DDIMScheduler `set_timesteps` choose them (descending). */
export function ddimTimesteps(
  spacing: TimestepSpacing,
  numTrainTimesteps: number,
  numInferenceSteps: number,
  stepsOffset = 0,
): Int32Array {
  checkSteps(numInferenceSteps, numTrainTimesteps);
  const T = numTrainTimesteps;
  const n = numInferenceSteps;
  let ts: number[];
  if (spacing === 'linspace') {
    ts = numpyLinspace(0, T - 1, n).map(roundHalfEven).reverse();
  } else if (spacing === 'leading') {
    const ratio = Math.floor(T / n);
    ts = [];
    for (let i = n - 1; i >= 0; i--) ts.push(i * ratio + stepsOffset);
  } else if (spacing === 'trailing') {
    ts = numpyArange(T, 0, -T / n).map((v) => roundHalfEven(v) - 1);
  } else {
    throw new Error(`unsupported timestep_spacing ${String(spacing)}`);
  }
  return toDescendingInt32(ts, T);
}

/**
 * Timesteps as diffusers' DPMSolverMultistepScheduler chooses them: n + 1 points with the last
 * (t = 0 side) dropped, and `lastTimestep` (<= num_train_timesteps) from `lambda_min_clipped`.
 */
export function dpmSolverTimesteps(
  spacing: TimestepSpacing,
  numTrainTimesteps: number,
  numInferenceSteps: number,
  stepsOffset = 0,
  lastTimestep = numTrainTimesteps,
): Int32Array {
  checkSteps(numInferenceSteps, numTrainTimesteps);
  const n = numInferenceSteps;
  let ts: number[];
  if (spacing === 'linspace') {
    ts = numpyLinspace(0, lastTimestep - 1, n + 1).map(roundHalfEven).reverse().slice(0, n);
  } else if (spacing === 'leading') {
    const ratio = Math.floor(lastTimestep / (n + 1));
    ts = [];
    for (let i = n; i >= 1; i--) ts.push(i * ratio + stepsOffset);
  } else if (spacing === 'trailing') {
    ts = numpyArange(lastTimestep, 0, -numTrainTimesteps / n).map((v) => roundHalfEven(v) - 1);
  } else {
    throw new Error(`unsupported timestep_spacing ${String(spacing)}`);
  }
  return toDescendingInt32(ts, numTrainTimesteps);
}

/**
 * Policy-trajectory timesteps for Diffusion-DRO: the "leading" grid i·⌊T/n⌋ shifted by one random
 * offset in [0, ⌊T/n⌋) per trajectory, so every step lands at a random point of its interval.
 */
export function perturbedTimesteps(numTrainTimesteps: number, numInferenceSteps: number, rng: Random): number[] {
  checkSteps(numInferenceSteps, numTrainTimesteps);
  const ratio = Math.floor(numTrainTimesteps / numInferenceSteps);
  const offset = rng.randint(0, ratio);
  const out: number[] = [];
  for (let i = numInferenceSteps - 1; i >= 0; i--) out.push(i * ratio + offset);
  return out;
}

/** Validates a custom schedule: integers, strictly descending, inside [0, T). */
export function checkCustomTimesteps(timesteps: ArrayLike<number>, numTrainTimesteps: number): Int32Array {
  if (timesteps.length === 0) throw new RangeError('custom timesteps must not be empty');
  for (let i = 0; i < timesteps.length; i++) {
    const t = timesteps[i];
    if (!Number.isInteger(t) || t < 0 || t >= numTrainTimesteps) {
      throw new RangeError(`custom timestep ${t} must be an integer in [0, ${numTrainTimesteps})`);
    }
    if (i > 0 && t >= timesteps[i - 1]) {
      throw new RangeError('custom timesteps must be strictly descending');
    }
  }
  return Int32Array.from(timesteps);
}
