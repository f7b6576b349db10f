import { LoraAdapter } from '../lora/lora-adapter';
import { activeAdaptersByTimestep, packLoraBatch } from '../lora/lora-batch.packer';
import { applyClassifierFreeGuidance } from '../pipeline/classifier-free-guidance';
import { OrtUNetDenoiser } from '../pipeline/onnx-executors';
import { Random, createScheduler, perturbedTimesteps } from '../schedulers';
import { conditioning, PreparedDemonstrations, stack } from './demonstration-batches';
import { Trajectory } from './replay-buffer';

/** Policy trajectories (perturbed timesteps, one solver per trajectory, optional guidance), stepped in one batch. */
export async function samplePolicyTrajectories(prep: PreparedDemonstrations, denoiser: OrtUNetDenoiser, policy: LoraAdapter, count: number, rng: Random): Promise<Trajectory[]> {
  const { hp, sampleLen, model } = prep;
  const T = model.schedulerConfig.num_train_timesteps;
  const trajectories: Trajectory[] = [];
  const solvers = [];
  const xs: Float32Array[] = [];
  for (let i = 0; i < count; i++) {
    const demoIndex = rng.randint(0, prep.x0.length);
    const dropped = rng.uniform() < hp.captionDropout;
    const timesteps = perturbedTimesteps(T, hp.samplingSteps, rng);
    const solver = createScheduler('dpmpp-2m', model.schedulerConfig);
    solver.setCustomTimesteps(timesteps);
    solvers.push(solver);
    xs.push(rng.randn(sampleLen));
    trajectories.push({ demoIndex, dropped, timesteps, xt: [], output: [] });
  }
  const guided = hp.policyGuidance !== 1;
  const cond = trajectories.map((t) => conditioning(prep, t.demoIndex, t.dropped));
  // Guided sampling runs the conditional and the unconditional half in one batch.
  const inputs = guided ? [...cond, ...cond.map(() => ({ emb: prep.emptyEmbedding, mask: prep.emptyMask }))] : cond;
  // The policy acts where the adapter will act when sampling: below the timestep window, the base above it.
  const policyUse = { adapter: policy, scale: 1, timestepWindow: hp.maxTimestepFraction };
  const rows = inputs.map(() => [policyUse]);
  const loraFor = activeAdaptersByTimestep(rows, T, (active) => packLoraBatch(prep.modules, prep.moduleShapes, active).feeds);
  const encoderHiddenStates = stack(inputs.map((c) => c.emb));
  const encoderMask = stack(inputs.map((c) => c.mask));
  const guidanceScales = new Float32Array(count).fill(hp.policyGuidance);
  for (let s = 0; s < hp.samplingSteps; s++) {
    const timesteps = Float32Array.from(trajectories, (t) => t.timesteps[s]);
    const batchTimesteps = guided ? Float32Array.from([...timesteps, ...timesteps]) : timesteps;
    const out = await denoiser.predict({
      batch: inputs.length,
      sample: guided ? stack([...xs, ...xs]) : stack(xs),
      timesteps: batchTimesteps,
      encoderHiddenStates,
      encoderMask,
      lora: loraFor(batchTimesteps),
    });
    const outputs = guided ? applyClassifierFreeGuidance(out, count, guidanceScales) : out;
    for (let i = 0; i < count; i++) {
      const output = outputs.slice(i * sampleLen, (i + 1) * sampleLen);
      trajectories[i].xt.push(xs[i]);
      trajectories[i].output.push(output);
      xs[i] = solvers[i].step(output, trajectories[i].timesteps[s], xs[i]);
    }
  }
  return trajectories;
}
