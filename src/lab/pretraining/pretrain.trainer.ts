import * as path from 'path';
import * as os from 'os';
import { DiffusionModel, sampleShape, saveDiffusionModel, tokenizeCaptions } from '../../engine/models/diffusion-model';
import { initParams, ParamMap } from '../../engine/models/param-init';
import { patchSizeOf } from '../../engine/models/sample-space';
import { unetParamShapes } from '../../engine/models/unet-params';
import { clipTextParamShapes } from '../../engine/models/clip-text.model';
import { pixelUnshuffle } from '../../engine/models/pixel-shuffle';
import { NoiseSchedule, Random } from '../../engine/schedulers';
import { createTrainingStep } from '../../engine/training/training-backend';
import { AdamW, Ema } from '../../engine/training/adamw.optimizer';
import { CheckpointStore } from '../../engine/training/checkpoint.store';
import { readJsonFileOrNull } from '../../engine/io/json-file';
import { FocusSampling, LossProportionalSampler, measureImageLosses } from './focus-sampler';
import type { CaptionedImages } from './captioned-images';

export type { CaptionedImages };

export interface PretrainOptions {
  /** Untrained model description: configs, tokenizer; parameters are initialised here unless resuming. */
  model: DiffusionModel;
  data: CaptionedImages;
  outDir: string;
  checkpointDir: string;
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  /** Final learning rate as a fraction of lr (cosine decay). */
  minLrRatio: number;
  weightDecay: number;
  gradClip: number;
  emaDecay: number;
  minSnrGamma: number;
  captionDropout: number;
  seed: number;
  checkpointEverySteps: number;
  resume: boolean;
  /**
   * Where the schedule stands when the model's weights come from an exported folder rather than a
   * checkpoint (a new machine without the checkpoint: optimizer moments restart, the schedule does not).
   */
  startFrom?: { step: number; trainSeconds: number };
  intraOpThreads?: number;
  signal?: AbortSignal;
  onProgress?: (p: PretrainProgress) => void;
  /** Earlier schedule lengths of a resumed run, recorded in training_log.json (the learning rate follows the current one). */
  scheduleChanges?: ScheduleChange[];
  /** Draw part of every batch in proportion to per-image loss (off when absent). */
  focus?: FocusSampling;
  /** Extra files written into every exported model folder (model card, sample grid). */
  extraFiles?: () => Promise<Record<string, string | Uint8Array>>;
}

/** What an exported model folder's training_log.json records. */
export interface TrainingLog {
  steps: number;
  batchSize: number;
  samplesSeen: number;
  trainHours: number;
  samplesPerSecond: number;
  lr: number;
  scheduleSteps: number;
  scheduleChanges?: ScheduleChange[];
  /** Loss-proportional sampling, and the step from which it was used. */
  focus?: FocusSampling & { fromStep: number };
  host: { cpus: number; cpuModel: string; engine?: string };
  /** Training continued outside this engine (`scripts/cuda-pretrain.py`), in order, after the steps above. */
  phases?: TrainingPhase[];
}

/** One run of `scripts/cuda-pretrain.py` on a model folder, as it appends itself to training_log.json. */
export interface TrainingPhase {
  fromStep: number;
  steps: number;
  scheduleSteps: number;
  batchSize: number;
  samplesSeen: number;
  trainHours: number;
  samplesPerSecond: number;
  lr: number;
  warmupSteps: number;
  finalLoss: number;
  host: { device: string; engine: string; bf16: boolean };
  command: string;
  /** Max |PyTorch − engine| / max |engine| of the rebuilt modules on the pack's reference inputs, checked before training. */
  verify: { textRelErr: number; unetRelErr: number; unetOnEngineTextRelErr: number; ok: boolean };
  exportReason: string;
}

/** Optimizer steps behind a folder's weights: this engine's, then every later phase's. */
export function totalTrainingSteps(log: Pick<TrainingLog, 'steps' | 'phases'>): number {
  return log.steps + (log.phases ?? []).reduce((sum, p) => sum + p.steps, 0);
}

export function readTrainingLog(modelDir: string): Promise<TrainingLog | null> {
  return readJsonFileOrNull<TrainingLog>(path.join(modelDir, 'training_log.json'));
}

/**
 * A resumed run that changed `--steps` or `--lr`: from that step on, the cosine schedule spans
 * `toSteps` and peaks at `toLr`.
 */
export interface ScheduleChange {
  atStep: number;
  fromSteps: number;
  toSteps: number;
  fromLr?: number;
  toLr?: number;
}

export interface PretrainProgress {
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  samplesPerSecond: number;
  elapsedSeconds: number;
}

export interface PretrainResult {
  steps: number;
  samplesSeen: number;
  trainSeconds: number;
  finalLoss: number;
}

/** Learning rate with linear warm-up then cosine decay to minLrRatio·lr. */
export function learningRateAt(step: number, o: Pick<PretrainOptions, 'lr' | 'warmupSteps' | 'minLrRatio' | 'steps'>): number {
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  const progress = Math.min(1, (step - o.warmupSteps) / Math.max(1, o.steps - o.warmupSteps));
  return o.lr * (o.minLrRatio + (1 - o.minLrRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

function flatten(params: ParamMap): Map<string, Float32Array> {
  return new Map([...params].map(([k, v]) => [k, v.data]));
}

/**
 * Full-parameter pretraining of UNet + text encoder with v-prediction, Min-SNR-γ weighting, caption
 * dropout (for classifier-free guidance), AdamW, EMA and resumable checkpoints. Every gradient step
 * runs as one ONNX Runtime session call.
 */
export async function pretrain(o: PretrainOptions): Promise<PretrainResult> {
  const model = o.model;
  const store = new CheckpointStore(o.checkpointDir);
  const [c, h, w] = sampleShape(model);
  const patch = patchSizeOf(model.sampleSpace);
  const schedule = new NoiseSchedule(model.schedulerConfig);
  const prediction = model.schedulerConfig.prediction_type;
  const unetNames = [...unetParamShapes(model.unetConfig).keys()];
  const textNames = [...clipTextParamShapes(model.textConfig).keys()];
  const allParams: ParamMap = new Map([...model.unetParams, ...model.textParams]);
  if (allParams.size === 0) {
    for (const [k, v] of initParams(new Map([...unetParamShapes(model.unetConfig), ...clipTextParamShapes(model.textConfig)]), o.seed)) allParams.set(k, v);
  }
  const params = flatten(allParams);
  const optimizer = new AdamW({ lr: o.lr, weightDecay: o.weightDecay, noDecay: (n) => !n.endsWith('.weight') || /norm|embedding/.test(n) });
  let ema = new Ema(params, o.emaDecay);
  let rng = new Random(o.seed);
  let step = 0;
  let trainSeconds = 0;
  let focusLosses: Float32Array | null = null;
  let focusMeasuredAt = -1;
  let focusFromStep: number | null = null;
  let resumedEpoch: { order: number[]; cursor: number } | null = null;

  if (o.startFrom) {
    step = o.startFrom.step;
    trainSeconds = o.startFrom.trainSeconds;
  }
  if (o.resume) {
    const ck = await store.load();
    if (ck) {
      for (const [k, v] of ck.params) params.get(k)?.set(v);
      ema = new Ema(params, o.emaDecay);
      for (const [k, v] of ck.ema) ema.shadow.get(k)?.set(v);
      optimizer.state = ck.optimizer;
      rng = Random.fromState(ck.rngState);
      step = ck.step;
      trainSeconds = ck.trainSeconds;
      const saved = ck.extraTensors?.get('focus_losses');
      if (saved && typeof ck.extra?.focusMeasuredAt === 'number') {
        focusLosses = saved;
        focusMeasuredAt = ck.extra.focusMeasuredAt;
      }
      if (typeof ck.extra?.focusFromStep === 'number') focusFromStep = ck.extra.focusFromStep;
      // An order saved for a different data set (e.g. another --limit) is dropped: a fresh epoch starts.
      if (Array.isArray(ck.extra?.epochOrder) && ck.extra.epochOrder.length === o.data.count && typeof ck.extra?.epochCursor === 'number') {
        resumedEpoch = { order: ck.extra.epochOrder as number[], cursor: ck.extra.epochCursor };
      }
    }
  }

  const graph = await createTrainingStep({
    unet: model.unetConfig,
    text: model.textConfig,
    params: allParams,
    seqLen: model.maxLength,
    sampleShape: [c, h, w],
    objective: 'weighted-mse',
    intraOpThreads: o.intraOpThreads,
  });

  const exportModel = async (reason: string) => {
    const ema32 = (names: Iterable<string>): ParamMap =>
      new Map([...names].map((k) => [k, { shape: allParams.get(k)!.shape, data: ema.shadow.get(k)! }]));
    const out: DiffusionModel = { ...model, unetParams: ema32(unetNames), textParams: ema32(textNames) };
    await saveDiffusionModel(o.outDir, out, {
      dtype: 'F16',
      metadata: { training_step: String(step), samples_seen: String(step * o.batchSize), export_reason: reason },
      extraFiles: {
        ...(o.extraFiles ? await o.extraFiles() : {}),
        'training_log.json': JSON.stringify(
          {
            steps: step,
            batchSize: o.batchSize,
            samplesSeen: step * o.batchSize,
            trainHours: +(trainSeconds / 3600).toFixed(3),
            samplesPerSecond: +((step * o.batchSize) / Math.max(trainSeconds, 1e-9)).toFixed(2),
            lr: o.lr,
            scheduleSteps: o.steps,
            ...(o.scheduleChanges?.length ? { scheduleChanges: o.scheduleChanges } : {}),
            ...(o.focus && focusFromStep !== null ? { focus: { ...o.focus, fromStep: focusFromStep } } : {}),
            host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', engine: graph.engine },
          },
          null,
          2,
        ),
      },
    });
    return out;
  };

  const b = o.batchSize;
  const imgLen = 3 * o.data.imageSize * o.data.imageSize;
  const sampleLen = c * h * w;
  let order: number[] = [];
  let cursor = 0;
  const nextInEpochOrder = (): number => {
    if (cursor >= order.length) {
      order = Array.from({ length: o.data.count }, (_, k) => k);
      for (let k = order.length - 1; k > 0; k--) {
        const j = rng.randint(0, k + 1);
        [order[k], order[j]] = [order[j], order[k]];
      }
      cursor = 0;
    }
    return order[cursor++];
  };
  if (resumedEpoch) ({ order, cursor } = resumedEpoch);
  let focusSampler = focusLosses && o.focus ? new LossProportionalSampler(focusLosses, o.focus.power) : null;
  const checkpointState = () => ({
    step,
    params,
    ema: ema.shadow,
    optimizer: optimizer.state,
    rngState: rng.getState(),
    trainSeconds,
    // The epoch order travels with the checkpoint so that a resumed run draws the same batches.
    extra: { epochOrder: order, epochCursor: cursor, ...(focusFromStep !== null ? { focusMeasuredAt, focusFromStep } : {}) },
    extraTensors: focusLosses ? new Map([['focus_losses', focusLosses]]) : undefined,
  });
  let lastLoss = NaN;
  let lastCheckpointStep = step;
  const started = Date.now();
  const startStep = step;
  try {
    while (step < o.steps) {
      if (o.signal?.aborted) break;
      const t0 = Date.now();
      if (o.focus && (focusLosses === null || step - focusMeasuredAt >= o.focus.refreshEverySteps)) {
        // Measured with the weights being trained and noise fixed by the step: a resumed run sees the same.
        focusLosses = await measureImageLosses(model, allParams, o.data, {
          timesteps: o.focus.timesteps,
          seed: o.seed + step,
          intraOpThreads: o.intraOpThreads,
        });
        focusMeasuredAt = step;
        focusFromStep ??= step;
        focusSampler = new LossProportionalSampler(focusLosses, o.focus.power);
      }
      const x0 = new Float32Array(b * imgLen);
      const captions: string[] = [];
      for (let i = 0; i < b; i++) {
        const idx = o.focus && focusSampler && rng.uniform() < o.focus.share ? focusSampler.sample(rng) : nextInEpochOrder();
        x0.set(o.data.images.subarray(idx * imgLen, (idx + 1) * imgLen), i * imgLen);
        captions.push(rng.uniform() < o.captionDropout ? '' : o.data.caption(idx, rng));
      }
      const clean = pixelUnshuffle(x0, b, 3, o.data.imageSize, o.data.imageSize, patch);
      const noise = rng.randn(b * sampleLen);
      const t = schedule.sampleTimesteps(b, rng);
      const noisy = schedule.addNoise(clean, noise, t);
      const target = schedule.trainingTarget(prediction, clean, noise, t);
      const weights = schedule.minSnrWeights(t, o.minSnrGamma, prediction).map((v) => v / b);
      const { inputIds, attentionMask } = tokenizeCaptions(model, captions);
      const res = await graph.step(
        {
          inputIds,
          attentionMask,
          noisy,
          timesteps: Float32Array.from(t),
          target,
          weights,
          batch: b,
        },
        params,
      );
      if (!Number.isFinite(res.loss)) throw new Error(`loss became ${res.loss} at step ${step}`);
      const lr = learningRateAt(step, o);
      const gradNorm = optimizer.step(params, res.grads, { lr, clipNorm: o.gradClip });
      ema.update(params, step);
      step += 1;
      lastLoss = res.loss;
      const dt = (Date.now() - t0) / 1000;
      trainSeconds += dt;
      const elapsed = (Date.now() - started) / 1000;
      o.onProgress?.({ step, totalSteps: o.steps, loss: res.loss, lr, gradNorm, samplesPerSecond: ((step - startStep) * b) / Math.max(elapsed, 1e-9), elapsedSeconds: elapsed });
      if (step - lastCheckpointStep >= o.checkpointEverySteps || step === o.steps) {
        await store.save(checkpointState());
        await exportModel('checkpoint');
        lastCheckpointStep = step;
      }
    }
  } finally {
    await graph.release();
  }
  if (step !== lastCheckpointStep) {
    await store.save(checkpointState());
    await exportModel('stopped');
  }
  return { steps: step, samplesSeen: step * b, trainSeconds, finalLoss: lastLoss };
}
