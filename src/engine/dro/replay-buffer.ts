import { NamedTensor } from '../io/safetensors';
import { Random } from '../schedulers';

/**
 * Diffusion-DRO replay buffer: whole policy trajectories, each paired with the expert image and the
 * prompt it was sampled for. Per trajectory step it keeps (t, x_t, the policy's own model output);
 * training draws random (trajectory, step) pairs. The newest `capacity` trajectories are kept.
 */
export interface Trajectory {
  /** Index of the expert demonstration (image + caption) this trajectory was sampled for. */
  demoIndex: number;
  /** Caption dropped (unconditional) for this entry. */
  dropped: boolean;
  /** Descending timesteps, one per step. */
  timesteps: number[];
  /** x_t per step, each [sampleLen]. */
  xt: Float32Array[];
  /** Policy model output at (x_t, t) per step. */
  output: Float32Array[];
}

export interface BufferSample {
  trajectory: Trajectory;
  step: number;
}

export class ReplayBuffer {
  private readonly entries: Trajectory[] = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error('replay buffer capacity must be a positive integer');
  }

  get size(): number {
    return this.entries.length;
  }

  push(t: Trajectory): void {
    if (t.timesteps.length === 0 || t.xt.length !== t.timesteps.length || t.output.length !== t.timesteps.length) {
      throw new Error('trajectory needs one x_t and one output per timestep');
    }
    for (let i = 1; i < t.timesteps.length; i++) if (!(t.timesteps[i] < t.timesteps[i - 1])) throw new Error('trajectory timesteps must descend');
    this.entries.push(t);
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
  }

  /** `batch` (trajectory, step) pairs: distinct trajectories while the buffer has enough, steps uniform. */
  /** `maxTimestep`: draw only solver steps with t below it (all steps when a trajectory has none). */
  sample(batch: number, rng: Random, maxTimestep?: number): BufferSample[] {
    const n = this.entries.length;
    if (n === 0) throw new Error('replay buffer is empty');
    let picks: number[];
    if (batch <= n) {
      const idx = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = rng.randint(0, i + 1);
        [idx[i], idx[j]] = [idx[j], idx[i]];
      }
      picks = idx.slice(0, batch);
    } else {
      picks = Array.from({ length: batch }, () => rng.randint(0, n));
    }
    return picks.map((i) => {
      const trajectory = this.entries[i];
      if (maxTimestep !== undefined) {
        const eligible = trajectory.timesteps.flatMap((t, s) => (t < maxTimestep ? [s] : []));
        if (eligible.length > 0) return { trajectory, step: eligible[rng.randint(0, eligible.length)] };
      }
      return { trajectory, step: rng.randint(0, trajectory.timesteps.length) };
    });
  }

  /** Flat tensors + JSON for checkpoints. */
  toTensors(): { tensors: Map<string, NamedTensor>; meta: { demoIndex: number; dropped: boolean; timesteps: number[] }[] } {
    const tensors = new Map<string, NamedTensor>();
    const meta = this.entries.map((e, i) => {
      e.xt.forEach((x, s) => tensors.set(`buffer/${i}/xt/${s}`, { shape: [x.length], data: x }));
      e.output.forEach((x, s) => tensors.set(`buffer/${i}/out/${s}`, { shape: [x.length], data: x }));
      return { demoIndex: e.demoIndex, dropped: e.dropped, timesteps: e.timesteps };
    });
    return { tensors, meta };
  }

  static fromTensors(capacity: number, tensors: Map<string, Float32Array>, meta: { demoIndex: number; dropped: boolean; timesteps: number[] }[]): ReplayBuffer {
    const b = new ReplayBuffer(capacity);
    meta.forEach((m, i) => {
      const get = (kind: string, s: number) => {
        const v = tensors.get(`buffer/${i}/${kind}/${s}`);
        if (!v) throw new Error(`checkpoint is missing buffer/${i}/${kind}/${s}`);
        return v;
      };
      b.push({ ...m, xt: m.timesteps.map((_, s) => get('xt', s)), output: m.timesteps.map((_, s) => get('out', s)) });
    });
    return b;
  }
}
