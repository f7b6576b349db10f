import { DiffusionModel, sampleShape } from '../models/diffusion-model';
import { loraModuleShapes, loraTargetModules } from '../models/lora-targets';
import { Random } from '../schedulers';
import { LoraAdapter, createLoraAdapter, adapterFromLayers } from '../lora/lora-adapter';
import { invalidateLoraPackCache } from '../lora/lora-batch.packer';
import { loraGradientsToAdapter, loraParameterViews, loraTrainingFeeds } from '../lora/lora-training-factors';
import { OrtTextEncoder, OrtUNetDenoiser } from '../pipeline/onnx-executors';
import { AdamW, AdamWState, Ema } from '../training/adamw.optimizer';
import { CheckpointStore } from '../training/checkpoint.store';
import { createTrainingStep, TrainingStep } from '../training/training-backend';
import { appendRows, Demonstration, denoisingRowWeights, preservationRows, prepareDemonstrations, sftBatch } from './demonstration-batches';
import { droBatch, droDiagnostics } from './dro-hinge';
import { DEFAULT_FINE_TUNE_HYPERPARAMETERS, DEFAULT_RECOMMENDED_SCALE, FineTuneHyperparameters, FineTuneMethod, validateHyperparameters } from './fine-tune.hyperparameters';
import { samplePolicyTrajectories } from './policy-sampling';
import { ReplayBuffer } from './replay-buffer';

export interface FineTuneProgress {
  step: number;
  totalSteps: number;
  loss: number;
  /** DRO: mean (L_expert(φ) − L_expert(ref)) and (L_policy(φ) − L_policy(ref)); SFT: NaN. */
  expertDiff: number;
  policyDiff: number;
  /** DRO: share of pairs whose hinge is active. */
  activeFraction: number;
  gradNorm: number;
  stepsPerSecond: number;
  elapsedSeconds: number;
}

export interface FineTuneOptions {
  model: DiffusionModel;
  demonstrations: Demonstration[];
  method: FineTuneMethod;
  hyperparameters?: Partial<FineTuneHyperparameters>;
  /** Continue from this adapter (online rounds); its rank/alpha win over the hyperparameters. */
  initAdapter?: LoraAdapter;
  initOptimizerState?: AdamWState;
  checkpointDir?: string;
  /** Instead of checkpointDir: a store over any CheckpointFiles (e.g. object storage). */
  checkpoints?: CheckpointStore;
  checkpointEvery?: number;
  resume?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: FineTuneProgress) => void;
  /** Wall time of the slow parts, for metrics: a checkpoint save, a DRO round of policy sampling. */
  onTiming?: (what: 'checkpoint' | 'policySampling', seconds: number) => void;
  intraOpThreads?: number;
}

export interface FineTuneResult {
  /** EMA of the LoRA weights. */
  adapter: LoraAdapter;
  /** The strength to use the adapter at (DEFAULT_RECOMMENDED_SCALE). */
  recommendedScale: number;
  optimizerState: AdamWState;
  steps: number;
  canceled: boolean;
  seconds: number;
  metrics: { finalLoss: number; meanLossLast10: number; stepsPerSecond: number };
}

/** Everything a run carries from step to step, and so everything a checkpoint holds. */
interface TrainingState {
  adapter: LoraAdapter;
  params: Map<string, Float32Array>;
  ema: Ema;
  optimizer: AdamW;
  rng: Random;
  buffer: ReplayBuffer;
  /** DRO: the copy of φ that samples new trajectories. */
  policy: LoraAdapter;
  step: number;
}

/** Buffer metadata as a checkpoint's JSON holds it (the trajectories themselves are tensors). */
interface CheckpointExtra {
  buffer?: { demoIndex: number; dropped: boolean; timesteps: number[] }[];
  method?: FineTuneMethod;
}

const POLICY_PREFIX = 'policy/';
const BUFFER_PREFIX = 'buffer/';

/**
 * Per-tenant LoRA fine-tuning on a frozen base. `dro` is Diffusion-DRO adapted to LoRA: reference =
 * base (adapter off), φ = base + LoRA, a policy snapshot of φ refreshed every N steps samples
 * trajectories into a replay buffer (DPM-Solver++ with perturbed timesteps, guidance 1 by default), and the loss
 * is mean(max(0, (L_exp(φ) − L_exp(ref)) − (L_pol(φ) − L_pol(ref)) + margin)). `sft` is the plain
 * denoising baseline with the same LoRA shape and budget.
 */
export async function fineTune(o: FineTuneOptions): Promise<FineTuneResult> {
  const hp = { ...DEFAULT_FINE_TUNE_HYPERPARAMETERS, ...o.hyperparameters };
  validateHyperparameters(hp);
  if (o.demonstrations.length === 0) throw new Error('fine-tuning needs at least one demonstration');
  const model = o.model;
  const modules = o.initAdapter?.targetModules ?? loraTargetModules(model.unetConfig, hp.targets);
  const moduleShapes = loraModuleShapes(model.unetParams, modules);
  const textEncoder = await OrtTextEncoder.create(model, { intraOpThreads: o.intraOpThreads });
  const denoiser = await OrtUNetDenoiser.create(model, modules, { intraOpThreads: o.intraOpThreads });
  // The frozen reference has no adapter: a session without LoRA inputs runs it faster.
  const preserve = hp.preservationWeight > 0;
  const preservationRowCount = Math.max(1, Math.round(hp.batchSize / 2));
  const reference = o.method === 'dro' || preserve ? await OrtUNetDenoiser.create(model, [], { intraOpThreads: o.intraOpThreads }) : null;
  const prep = await prepareDemonstrations(model, hp, o.demonstrations, textEncoder, modules, moduleShapes, { intraOpThreads: o.intraOpThreads });
  await textEncoder.release();

  const adapter = o.initAdapter ? cloneAdapter(o.initAdapter) : createLoraAdapter(moduleShapes, { rank: hp.rank, alpha: hp.alpha, seed: hp.seed, targetModules: modules });
  const optimizer = new AdamW({ lr: hp.lr, weightDecay: 0 });
  if (o.initOptimizerState) optimizer.state = cloneOptimizerState(o.initOptimizerState);
  const params = loraParameterViews(adapter, { modules });
  const state: TrainingState = {
    adapter,
    params,
    ema: new Ema(params, hp.emaDecay),
    optimizer,
    rng: new Random(hp.seed + 1),
    buffer: new ReplayBuffer(hp.bufferCapacity),
    policy: cloneAdapter(adapter),
    step: 0,
  };
  const store = o.checkpoints ?? (o.checkpointDir ? new CheckpointStore(o.checkpointDir) : null);
  if (o.resume && store) await restoreCheckpoint(store, state, hp, modules);

  const trainer: TrainingStep = await createTrainingStep({
    unet: model.unetConfig,
    params: model.unetParams,
    seqLen: model.maxLength,
    sampleShape: sampleShape(model),
    objective: o.method === 'dro' ? 'dro-hinge' : 'weighted-mse',
    lora: { modules, rank: adapter.rank },
    margin: hp.margin,
    hingePairs: preserve ? hp.batchSize : undefined,
    intraOpThreads: o.intraOpThreads,
  });
  const saveCheckpoint = async () => {
    if (!store) return;
    const t0 = performance.now();
    await writeCheckpoint(store, state, modules, o.method);
    o.onTiming?.('checkpoint', (performance.now() - t0) / 1000);
  };

  const started = Date.now();
  const startStep = state.step;
  const losses: number[] = [];
  let canceled = false;
  let lastCheckpoint = state.step;
  try {
    while (state.step < hp.steps) {
      if (o.signal?.aborted) {
        canceled = true;
        break;
      }
      let result;
      let diffs = { expert: NaN, policy: NaN, active: NaN };
      if (o.method === 'dro') {
        if (state.buffer.size === 0 || state.step % hp.bufferSampleEvery === 0) {
          const t0 = performance.now();
          for (const t of await samplePolicyTrajectories(prep, denoiser, state.policy, hp.bufferBatch, state.rng)) state.buffer.push(t);
          o.onTiming?.('policySampling', (performance.now() - t0) / 1000);
        }
        let inputs = await droBatch(prep, reference!, state.buffer, hp.batchSize, state.rng);
        if (hp.sftWeight > 0) {
          // The anchor: the expert rows' denoising loss (the first B rows), the policy rows unweighted.
          inputs.weights = new Float32Array(2 * hp.batchSize);
          inputs.weights.set(denoisingRowWeights(prep, inputs.timesteps.subarray(0, hp.batchSize), hp.sftWeight / hp.batchSize));
        }
        if (preserve) inputs = appendRows(inputs, await preservationRows(prep, reference!, preservationRowCount, state.rng));
        result = await trainer.step(inputs, loraTrainingFeeds(adapter, { modules }));
        const pairRows = 2 * hp.batchSize;
        diffs = droDiagnostics(result.perSampleMse.subarray(0, pairRows), inputs.referenceMse!.subarray(0, pairRows), hp.margin);
      } else {
        let inputs = sftBatch(prep, hp.batchSize, state.rng);
        if (preserve) inputs = appendRows(inputs, await preservationRows(prep, reference!, preservationRowCount, state.rng));
        result = await trainer.step(inputs, loraTrainingFeeds(adapter, { modules }));
      }
      if (!Number.isFinite(result.loss)) throw new Error(`loss became ${result.loss} at step ${state.step}`);
      const grads = loraGradientsToAdapter(adapter, result.grads, { inPlace: true });
      const gradNorm = optimizer.step(params, grads, { clipNorm: hp.gradClip });
      state.ema.update(params, state.step);
      state.step += 1;
      losses.push(result.loss);
      if (o.method === 'dro' && state.step % hp.policyRefreshSteps === 0) state.policy = cloneAdapter(adapter);
      const elapsed = (Date.now() - started) / 1000;
      o.onProgress?.({
        step: state.step,
        totalSteps: hp.steps,
        loss: result.loss,
        expertDiff: diffs.expert,
        policyDiff: diffs.policy,
        activeFraction: diffs.active,
        gradNorm,
        stepsPerSecond: (state.step - startStep) / Math.max(elapsed, 1e-9),
        elapsedSeconds: elapsed,
      });
      if (o.checkpointEvery && state.step - lastCheckpoint >= o.checkpointEvery && state.step < hp.steps) {
        await saveCheckpoint();
        lastCheckpoint = state.step;
      }
    }
    if (canceled || state.step === hp.steps) await saveCheckpoint();
  } finally {
    await trainer.release();
    await denoiser.release();
    await reference?.release();
  }
  const seconds = (Date.now() - started) / 1000;
  const tail = losses.slice(-10);
  return {
    adapter: emaAdapter(state, modules, { method: o.method, steps: String(state.step), base_model: model.name }),
    recommendedScale: DEFAULT_RECOMMENDED_SCALE,
    optimizerState: optimizer.state,
    steps: state.step,
    canceled,
    seconds,
    metrics: {
      finalLoss: losses[losses.length - 1] ?? NaN,
      meanLossLast10: tail.reduce((a, b) => a + b, 0) / Math.max(tail.length, 1),
      stepsPerSecond: (state.step - startStep) / Math.max(seconds, 1e-9),
    },
  };
}

/** Continues where the store's last checkpoint left off; a store without one leaves the state as it is. */
async function restoreCheckpoint(store: CheckpointStore, state: TrainingState, hp: FineTuneHyperparameters, modules: string[]): Promise<void> {
  const ck = await store.load();
  if (!ck) return;
  for (const [k, v] of ck.params) state.params.get(k)?.set(v);
  for (const [k, v] of ck.ema) state.ema.shadow.get(k)?.set(v);
  state.optimizer.state = ck.optimizer;
  state.rng = Random.fromState(ck.rngState);
  state.step = ck.step;
  const extra = ck.extra as CheckpointExtra;
  const tensors = ck.extraTensors ?? new Map<string, Float32Array>();
  state.buffer = ReplayBuffer.fromTensors(hp.bufferCapacity, new Map([...tensors].filter(([k]) => k.startsWith(BUFFER_PREFIX))), extra.buffer ?? []);
  const policyParams = loraParameterViews(state.policy, { modules });
  for (const [k, v] of tensors) if (k.startsWith(POLICY_PREFIX)) policyParams.get(k.slice(POLICY_PREFIX.length))?.set(v);
  invalidateLoraPackCache(state.policy);
}

async function writeCheckpoint(store: CheckpointStore, state: TrainingState, modules: string[], method: FineTuneMethod): Promise<void> {
  const { tensors, meta } = state.buffer.toTensors();
  const extraTensors = new Map<string, Float32Array>();
  for (const [k, v] of tensors) extraTensors.set(k, v.data);
  for (const [k, v] of loraParameterViews(state.policy, { modules })) extraTensors.set(`${POLICY_PREFIX}${k}`, v);
  await store.save({ step: state.step, params: state.params, ema: state.ema.shadow, optimizer: state.optimizer.state, rngState: state.rng.getState(), trainSeconds: 0, extra: { buffer: meta, method }, extraTensors });
}

/** The returned weights: the EMA average of the LoRA factors. */
function emaAdapter(state: TrainingState, modules: string[], metadata: Record<string, string>): LoraAdapter {
  const out = cloneAdapter(state.adapter);
  const views = loraParameterViews(out, { modules });
  for (const [k, v] of state.ema.shadow) views.get(k)!.set(v);
  out.metadata = { ...out.metadata, ...metadata };
  return out;
}

function cloneAdapter(a: LoraAdapter): LoraAdapter {
  const layers = new Map([...a.layers].map(([k, l]) => [k, { ...l, a: l.a.slice(), b: l.b.slice() }]));
  return { ...adapterFromLayers(layers, { ...a.metadata }), targetModules: [...a.targetModules] };
}

function cloneOptimizerState(s: AdamWState): AdamWState {
  return { step: s.step, m: new Map([...s.m].map(([k, v]) => [k, v.slice()])), v: new Map([...s.v].map(([k, v]) => [k, v.slice()])) };
}
