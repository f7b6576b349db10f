import { DiffusionModel, sampleShape, tokenizeCaptions } from '../models/diffusion-model';
import { pixelUnshuffle } from '../models/pixel-shuffle';
import { LORA_TARGETS, loraModuleShapes, loraTargetModules, type LoraTargets } from '../models/lora-targets';
import { NoiseSchedule, Random, createScheduler, perturbedTimesteps } from '../schedulers';
import { LoraAdapter, createLoraAdapter, ModuleShape, adapterFromLayers } from '../lora/lora-adapter';
import { packLoraBatch, invalidateLoraPackCache } from '../lora/lora-batch.packer';
import { loraGradientsToAdapter, loraParameterViews, loraTrainingFeeds } from '../lora/lora-training-factors';
import { OrtTextEncoder, OrtUNetDenoiser } from '../pipeline/onnx-executors';
import { applyClassifierFreeGuidance } from '../pipeline/classifier-free-guidance';
import { AdamW, AdamWState, Ema } from '../training/adamw.optimizer';
import { perSampleMse } from '../training/per-sample-mse';
import { CheckpointStore } from '../training/checkpoint.store';
import { createTrainingStep, TrainingStep } from '../training/training-backend';
import type { TrainingStepInputs } from '../training/denoiser-training-graph';
import { ReplayBuffer, Trajectory } from './replay-buffer';

/** An expert demonstration: an image at the model's resolution (CHW RGB in [-1, 1]) and its caption. */
export interface Demonstration {
  image: Float32Array;
  caption: string;
}

export type FineTuneMethod = 'dro' | 'sft';

export interface FineTuneHyperparameters {
  steps: number;
  /** Expert samples per step (DRO pairs each with a policy sample). */
  batchSize: number;
  rank: number;
  alpha: number;
  /** Which UNet layers the LoRA adapts (models/lora-targets.ts). */
  targets: LoraTargets;
  /**
   * DRO: weight λ of an SFT anchor, loss = hinge + λ · mean expert denoising error. Without it the
   * hinge can also be closed by making φ worse on its own samples, which a LoRA with convolution
   * capacity does quickly (the images turn to noise).
   */
  sftWeight: number;
  /**
   * Train only at timesteps below this share of the schedule (1 = all). Low-noise steps are where
   * outlines and fills are drawn; the composition of high-noise steps stays the base model's.
   */
  maxTimestepFraction: number;
  lr: number;
  margin: number;
  captionDropout: number;
  gradClip: number;
  emaDecay: number;
  /** The policy copy of φ that samples new trajectories is refreshed every this many steps. */
  policyRefreshSteps: number;
  /** Trajectories kept in the replay buffer. */
  bufferCapacity: number;
  /** Trajectories sampled per buffer refill. */
  bufferBatch: number;
  /** Refill the buffer every this many steps. */
  bufferSampleEvery: number;
  /** DPM-Solver++ steps per policy trajectory. */
  samplingSteps: number;
  /**
   * Classifier-free guidance of the policy trajectories (the published buffer_guidance_scale, 1 = none);
   * the guided prediction is what the buffer stores, as the trajectory followed it.
   */
  policyGuidance: number;
  seed: number;
}

/**
 * Defaults sized for the bundled model on a 2-core CPU (the API uses these), chosen on the OpenMoji
 * evaluation (`npm run eval`, README Quality). The LoRA covers every layer of the UNet's blocks, so
 * it reaches the full-resolution ResNets that draw outlines and fills. With that capacity the plain
 * hinge collapses the images into noise (it closes by making φ worse on its own samples), so DRO
 * carries an SFT anchor (λ = 1) and refreshes its policy every step (as the published code does),
 * which leaves the policy term no stale targets to push away from. Margin 0.01 with lr 1e-3 as before.
 */
export const DEFAULT_FINE_TUNE_HYPERPARAMETERS: FineTuneHyperparameters = {
  steps: 300,
  batchSize: 8,
  rank: 8,
  alpha: 8,
  targets: 'blocks',
  sftWeight: 1,
  maxTimestepFraction: 1,
  lr: 1e-3,
  margin: 0.01,
  captionDropout: 0.2,
  gradClip: 1,
  emaDecay: 0.98,
  policyRefreshSteps: 1,
  bufferCapacity: 4,
  bufferBatch: 4,
  bufferSampleEvery: 2,
  samplingSteps: 20,
  policyGuidance: 1,
  seed: 0,
};

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
  checkpointEvery?: number;
  resume?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: FineTuneProgress) => void;
  intraOpThreads?: number;
}

/**
 * Adapter strength recommended to users: the evaluation's frontier point that keeps concept top-5
 * within 0.10 of the base model while moving fidelity to the brand (README, Quality).
 */
export const DEFAULT_RECOMMENDED_SCALE = 0.5;

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

interface Prepared {
  model: DiffusionModel;
  hp: FineTuneHyperparameters;
  sampleLen: number;
  /** Demonstrations in the UNet's sample space. */
  x0: Float32Array[];
  /** Text embeddings per demonstration, and of the empty caption. */
  embeddings: Float32Array[];
  masks: Float32Array[];
  emptyEmbedding: Float32Array;
  emptyMask: Float32Array;
  schedule: NoiseSchedule;
  modules: string[];
  moduleShapes: Map<string, ModuleShape>;
}

export class FineTuneCanceledError extends Error {
  constructor() {
    super('fine-tune canceled');
  }
}

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
  const reference = o.method === 'dro' ? await OrtUNetDenoiser.create(model, [], { intraOpThreads: o.intraOpThreads }) : null;
  const prep = await prepare(model, hp, o.demonstrations, textEncoder, modules, moduleShapes);
  await textEncoder.release();

  let adapter = o.initAdapter ? cloneAdapter(o.initAdapter) : createLoraAdapter(moduleShapes, { rank: hp.rank, alpha: hp.alpha, seed: hp.seed, targetModules: modules });
  const rank = adapter.rank;
  const optimizer = new AdamW({ lr: hp.lr, weightDecay: 0 });
  if (o.initOptimizerState) optimizer.state = cloneOptimizerState(o.initOptimizerState);
  let params = loraParameterViews(adapter, { modules });
  let ema = new Ema(params, hp.emaDecay);
  let rng = new Random(hp.seed + 1);
  let buffer = new ReplayBuffer(hp.bufferCapacity);
  let policy = cloneAdapter(adapter);
  let step = 0;
  const store = o.checkpointDir ? new CheckpointStore(o.checkpointDir) : null;

  if (o.resume && store) {
    const ck = await store.load();
    if (ck) {
      for (const [k, v] of ck.params) params.get(k)?.set(v);
      for (const [k, v] of ck.ema) ema.shadow.get(k)?.set(v);
      optimizer.state = ck.optimizer;
      rng = Random.fromState(ck.rngState);
      step = ck.step;
      const extra = ck.extra as { buffer: { demoIndex: number; dropped: boolean; timesteps: number[] }[] };
      const bufferTensors = new Map([...(ck.extraTensors ?? new Map<string, Float32Array>())].filter(([k]) => k.startsWith('buffer/')));
      buffer = ReplayBuffer.fromTensors(hp.bufferCapacity, bufferTensors, extra.buffer ?? []);
      const policyParams = loraParameterViews(policy, { modules });
      for (const [k, v] of ck.extraTensors ?? []) if (k.startsWith('policy/')) policyParams.get(k.slice('policy/'.length))?.set(v);
      invalidateLoraPackCache(policy);
    }
  }

  const trainer: TrainingStep = await createTrainingStep({
    unet: model.unetConfig,
    params: model.unetParams,
    seqLen: model.maxLength,
    sampleShape: sampleShape(model),
    objective: o.method === 'dro' ? 'dro-hinge' : 'weighted-mse',
    lora: { modules, rank },
    margin: hp.margin,
    intraOpThreads: o.intraOpThreads,
  });

  const saveCheckpoint = async () => {
    if (!store) return;
    const { tensors, meta } = buffer.toTensors();
    const extraTensors = new Map<string, Float32Array>();
    for (const [k, v] of tensors) extraTensors.set(k, v.data);
    for (const [k, v] of loraParameterViews(policy, { modules })) extraTensors.set(`policy/${k}`, v);
    await store.save({ step, params, ema: ema.shadow, optimizer: optimizer.state, rngState: rng.getState(), trainSeconds: 0, extra: { buffer: meta, method: o.method }, extraTensors });
  };

  const started = Date.now();
  const startStep = step;
  const losses: number[] = [];
  let canceled = false;
  let lastCheckpoint = step;
  try {
    while (step < hp.steps) {
      if (o.signal?.aborted) {
        canceled = true;
        break;
      }
      let result;
      let diffs = { expert: NaN, policy: NaN, active: NaN };
      if (o.method === 'dro') {
        if (buffer.size === 0 || step % hp.bufferSampleEvery === 0) {
          for (const t of await samplePolicyTrajectories(prep, denoiser, policy, hp.bufferBatch, rng)) buffer.push(t);
        }
        const batch = await droBatch(prep, reference!, buffer, hp.batchSize, rng);
        if (hp.sftWeight > 0) batch.inputs.weights = Float32Array.from({ length: 2 * hp.batchSize }, (_, i) => (i < hp.batchSize ? hp.sftWeight / hp.batchSize : 0));
        result = await trainer.step(batch.inputs, loraTrainingFeeds(adapter, { modules }));
        diffs = droDiagnostics(result.perSampleMse, batch.inputs.referenceMse!, hp.margin);
      } else {
        result = await trainer.step(sftBatch(prep, hp.batchSize, rng), loraTrainingFeeds(adapter, { modules }));
      }
      if (!Number.isFinite(result.loss)) throw new Error(`loss became ${result.loss} at step ${step}`);
      const grads = loraGradientsToAdapter(adapter, result.grads, { inPlace: true });
      const gradNorm = optimizer.step(params, grads, { clipNorm: hp.gradClip });
      ema.update(params, step);
      step += 1;
      losses.push(result.loss);
      if (o.method === 'dro' && step % hp.policyRefreshSteps === 0) {
        policy = cloneAdapter(adapter);
      }
      const elapsed = (Date.now() - started) / 1000;
      o.onProgress?.({
        step,
        totalSteps: hp.steps,
        loss: result.loss,
        expertDiff: diffs.expert,
        policyDiff: diffs.policy,
        activeFraction: diffs.active,
        gradNorm,
        stepsPerSecond: (step - startStep) / Math.max(elapsed, 1e-9),
        elapsedSeconds: elapsed,
      });
      if (store && o.checkpointEvery && step - lastCheckpoint >= o.checkpointEvery && step < hp.steps) {
        await saveCheckpoint();
        lastCheckpoint = step;
      }
    }
    if (canceled || step === hp.steps) await saveCheckpoint();
  } finally {
    await trainer.release();
    await denoiser.release();
    await reference?.release();
  }
  // The returned weights are the EMA average of the LoRA factors.
  const finalAdapter = cloneAdapter(adapter);
  const emaViews = loraParameterViews(finalAdapter, { modules });
  for (const [k, v] of ema.shadow) emaViews.get(k)!.set(v);
  finalAdapter.metadata = {
    ...finalAdapter.metadata,
    method: o.method,
    steps: String(step),
    base_model: model.name,
  };
  const seconds = (Date.now() - started) / 1000;
  const tail = losses.slice(-10);
  return {
    adapter: finalAdapter,
    recommendedScale: DEFAULT_RECOMMENDED_SCALE,
    optimizerState: optimizer.state,
    steps: step,
    canceled,
    seconds,
    metrics: {
      finalLoss: losses[losses.length - 1] ?? NaN,
      meanLossLast10: tail.reduce((a, b) => a + b, 0) / Math.max(tail.length, 1),
      stepsPerSecond: (step - startStep) / Math.max(seconds, 1e-9),
    },
  };
}

async function prepare(
  model: DiffusionModel,
  hp: FineTuneHyperparameters,
  demos: Demonstration[],
  textEncoder: OrtTextEncoder,
  modules: string[],
  moduleShapes: Map<string, ModuleShape>,
): Promise<Prepared> {
  const [c, h, w] = sampleShape(model);
  const size = model.sampleSpace.imageSize;
  const x0 = demos.map((d) => {
    if (d.image.length !== 3 * size * size) throw new Error(`demonstration images must be 3×${size}×${size}`);
    return pixelUnshuffle(d.image, 1, 3, size, size, model.sampleSpace.patchSize);
  });
  const texts = [...demos.map((d) => d.caption), ''];
  const { inputIds, attentionMask: mask } = tokenizeCaptions(model, texts);
  const hidden = await textEncoder.encode(inputIds, mask, texts.length);
  const l = model.maxLength;
  const d = model.unetConfig.cross_attention_dim;
  const embeddings = texts.map((_, i) => hidden.slice(i * l * d, (i + 1) * l * d));
  const masks = texts.map((_, i) => mask.slice(i * l, (i + 1) * l));
  return {
    model,
    hp,
    sampleLen: c * h * w,
    x0,
    embeddings: embeddings.slice(0, demos.length),
    masks: masks.slice(0, demos.length),
    emptyEmbedding: embeddings[demos.length],
    emptyMask: masks[demos.length],
    schedule: new NoiseSchedule(model.schedulerConfig),
    modules,
    moduleShapes,
  };
}

function conditioning(prep: Prepared, demoIndex: number, dropped: boolean): { emb: Float32Array; mask: Float32Array } {
  return dropped ? { emb: prep.emptyEmbedding, mask: prep.emptyMask } : { emb: prep.embeddings[demoIndex], mask: prep.masks[demoIndex] };
}

function stack(parts: Float32Array[]): Float32Array {
  const len = parts.reduce((s, p) => s + p.length, 0);
  const out = new Float32Array(len);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Policy trajectories (perturbed timesteps, one solver per trajectory, optional guidance), stepped in one batch. */
async function samplePolicyTrajectories(prep: Prepared, denoiser: OrtUNetDenoiser, policy: LoraAdapter, count: number, rng: Random): Promise<Trajectory[]> {
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
  const lora = packLoraBatch(prep.modules, prep.moduleShapes, inputs.map(() => [{ adapter: policy, scale: 1 }])).feeds;
  const encoderHiddenStates = stack(inputs.map((c) => c.emb));
  const encoderMask = stack(inputs.map((c) => c.mask));
  const guidanceScales = new Float32Array(count).fill(hp.policyGuidance);
  for (let s = 0; s < hp.samplingSteps; s++) {
    const timesteps = Float32Array.from(trajectories, (t) => t.timesteps[s]);
    const out = await denoiser.predict({
      batch: inputs.length,
      sample: guided ? stack([...xs, ...xs]) : stack(xs),
      timesteps: guided ? Float32Array.from([...timesteps, ...timesteps]) : timesteps,
      encoderHiddenStates,
      encoderMask,
      lora,
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

/** B expert samples (fresh noise at the policy sample's t) followed by B policy samples, with reference losses. */
async function droBatch(prep: Prepared, reference: OrtUNetDenoiser, buffer: ReplayBuffer, b: number, rng: Random) {
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
  const inputs: TrainingStepInputs = { batch: 2 * b, noisy, timesteps, target, encoderHiddenStates, attentionMask, referenceMse };
  return { inputs };
}

function sftBatch(prep: Prepared, b: number, rng: Random) {
  const { sampleLen, schedule, model, hp } = prep;
  const idx = Array.from({ length: b }, () => rng.randint(0, prep.x0.length));
  const dropped = idx.map(() => rng.uniform() < hp.captionDropout);
  const x0 = stack(idx.map((i) => prep.x0[i]));
  const noise = rng.randn(b * sampleLen);
  const limit = maxTimestep(prep);
  const t = limit === undefined ? schedule.sampleTimesteps(b, rng) : Int32Array.from({ length: b }, () => rng.randint(0, limit));
  const cond = idx.map((i, k) => conditioning(prep, i, dropped[k]));
  return {
    batch: b,
    noisy: schedule.addNoise(x0, noise, t),
    timesteps: Float32Array.from(t),
    target: schedule.trainingTarget(model.schedulerConfig.prediction_type, x0, noise, t),
    encoderHiddenStates: stack(cond.map((c) => c.emb)),
    attentionMask: stack(cond.map((c) => c.mask)),
    weights: new Float32Array(b).fill(1 / b),
  };
}

/** The timestep bound of maxTimestepFraction, or undefined when training uses every timestep. */
function maxTimestep(prep: Prepared): number | undefined {
  const f = prep.hp.maxTimestepFraction;
  return f >= 1 ? undefined : Math.max(1, Math.round(f * prep.model.schedulerConfig.num_train_timesteps));
}

/** The DRO hinge computed directly from per-sample losses (also the reference for tests). */
export function droHingeLoss(mse: ArrayLike<number>, ref: ArrayLike<number>, margin: number): number {
  const b = mse.length / 2;
  let sum = 0;
  for (let i = 0; i < b; i++) sum += Math.max(0, mse[i] - ref[i] - (mse[b + i] - ref[b + i]) + margin);
  return sum / b;
}

function droDiagnostics(mse: Float32Array, ref: Float32Array, margin: number) {
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

function cloneAdapter(a: LoraAdapter): LoraAdapter {
  const layers = new Map([...a.layers].map(([k, l]) => [k, { ...l, a: l.a.slice(), b: l.b.slice() }]));
  return { ...adapterFromLayers(layers, { ...a.metadata }), targetModules: [...a.targetModules] };
}

function cloneOptimizerState(s: AdamWState): AdamWState {
  return { step: s.step, m: new Map([...s.m].map(([k, v]) => [k, v.slice()])), v: new Map([...s.v].map(([k, v]) => [k, v.slice()])) };
}

export function validateHyperparameters(hp: FineTuneHyperparameters): void {
  const positiveInt = ['steps', 'batchSize', 'rank', 'policyRefreshSteps', 'bufferCapacity', 'bufferBatch', 'bufferSampleEvery', 'samplingSteps'] as const;
  for (const k of positiveInt) if (!Number.isInteger(hp[k]) || hp[k] < 1) throw new RangeError(`${k} must be a positive integer`);
  if (!(hp.lr > 0 && hp.lr < 1)) throw new RangeError('lr must be in (0, 1)');
  if (!(LORA_TARGETS as readonly string[]).includes(hp.targets)) throw new RangeError(`targets must be one of ${LORA_TARGETS.join(', ')}`);
  if (!(hp.alpha > 0)) throw new RangeError('alpha must be positive');
  if (!(hp.margin >= 0)) throw new RangeError('margin must be ≥ 0');
  if (!(hp.sftWeight >= 0 && hp.sftWeight <= 100)) throw new RangeError('sftWeight must be in [0, 100]');
  if (!(hp.maxTimestepFraction > 0 && hp.maxTimestepFraction <= 1)) throw new RangeError('maxTimestepFraction must be in (0, 1]');
  if (!(hp.captionDropout >= 0 && hp.captionDropout < 1)) throw new RangeError('captionDropout must be in [0, 1)');
  if (!(hp.emaDecay >= 0 && hp.emaDecay < 1)) throw new RangeError('emaDecay must be in [0, 1)');
  if (!(hp.gradClip > 0)) throw new RangeError('gradClip must be positive');
  if (!(hp.policyGuidance >= 1 && hp.policyGuidance <= 20)) throw new RangeError('policyGuidance must be in [1, 20]');
  if (!Number.isInteger(hp.seed) || hp.seed < 0) throw new RangeError('seed must be a non-negative integer');
}
