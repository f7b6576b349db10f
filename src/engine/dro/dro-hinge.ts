import { OrtUNetDenoiser } from '../pipeline/onnx-executors';
import { Random } from '../schedulers';
import type { TrainingStepInputs } from '../training/denoiser-training-graph';
import { perSampleMse } from '../training/per-sample-mse';
import { conditioning, maxTimestep, PreparedDemonstrations, stack } from './demonstration-batches';
import { ReplayBuffer } from './replay-buffer';

/** B expert samples (fresh noise at the policy sample's t) followed by B policy samples, with reference losses. */
export async function droBatch(prep: PreparedDemonstrations, reference: OrtUNetDenoiser, buffer: ReplayBuffer, b: number, rng: Random): Promise<TrainingStepInputs> {
  const { sampleLen, schedule, model } = prep;
  const pairs = buffer.sample(b, rng, maxTimestep(prep));
  const t = pairs.map((p) => p.trajectory.timesteps[p.step]);
  const expertX0 = stack(pairs.map((p) => prep.x0[p.trajectory.demoIndex]));
  const noise = rng.randn(b * sampleLen);
  const expertXt = schedule.addNoise(expertX0, noise, t);
  const expertTarget = schedule.trainingTarget(model.schedulerConfig.prediction_type, expertX0, noise, t);
  const cond = pairs.map((p) => conditioning(prep, p.trajectory.demoIndex, p.trajectory.dropped));
  const noisy = stack([expertXt, ...pairs.map((p) => p.trajectory.xt[p.step])]);
  const target = stack([expertTarget, ...pairs.map((p) => p.trajectory.output[p.step])]);
  const timesteps = Float32Array.from([...t, ...t]);
  const encoderHiddenStates = stack([...cond, ...cond].map((c) => c.emb));
  const attentionMask = stack([...cond, ...cond].map((c) => c.mask));
  // Reference losses: the frozen base.
  const refOut = await reference.predict({ batch: 2 * b, sample: noisy, timesteps, encoderHiddenStates, encoderMask: attentionMask, lora: null });
  const referenceMse = perSampleMse(refOut, target, 2 * b);
  return { batch: 2 * b, noisy, timesteps, target, encoderHiddenStates, attentionMask, referenceMse };
}

/** The DRO hinge computed directly from per-sample losses (also the reference for tests). */
export function droHingeLoss(mse: ArrayLike<number>, ref: ArrayLike<number>, margin: number): number {
  const b = mse.length / 2;
  let sum = 0;
  for (let i = 0; i < b; i++) sum += Math.max(0, mse[i] - ref[i] - (mse[b + i] - ref[b + i]) + margin);
  return sum / b;
}

/** Mean expert and policy loss differences to the reference, and the share of pairs whose hinge is active. */
export function droDiagnostics(mse: Float32Array, ref: Float32Array, margin: number): { expert: number; policy: number; active: number } {
  const b = mse.length / 2;
  let e = 0;
  let p = 0;
  let active = 0;
  for (let i = 0; i < b; i++) {
    const de = mse[i] - ref[i];
    const dp = mse[b + i] - ref[b + i];
    e += de;
    p += dp;
    if (de - dp + margin > 0) active += 1;
  }
  return { expert: e / b, policy: p / b, active: active / b };
}
