import { LORA_TARGETS, type LoraTargets } from '../models/lora-targets';

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
  /**
   * Weight λ of differential output preservation: on each demonstration's content caption (without the
   * style phrase) the adapted model's prediction is held to the frozen base's, so the adapter has to key
   * the style on the phrase instead of redrawing every prompt. 0 = off.
   */
  preservationWeight: number;
  /**
   * Train on each demonstration and its left-right mirror image: twice the shapes for the same style,
   * for brands whose images have no handed text or asymmetric marks.
   */
  mirrorAugmentation: boolean;
  /**
   * Min-SNR-γ weighting (Hang et al. 2023) of the denoising rows (SFT, DRO's anchor): each row weighs
   * min(SNR, γ)/(SNR + 1) for v-prediction, so no noise level dominates. 0 = every row weighs the same.
   */
  minSnrGamma: number;
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
  preservationWeight: 0,
  mirrorAugmentation: false,
  minSnrGamma: 0,
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

/**
 * Adapter strength recommended to users: the evaluation's frontier point that keeps concept top-5
 * within 0.10 of the base model while moving fidelity to the brand (README, Quality).
 */
export const DEFAULT_RECOMMENDED_SCALE = 0.5;

/** Throws a RangeError whose message starts with the offending hyperparameter's name. */
export function validateHyperparameters(hp: FineTuneHyperparameters): void {
  const positiveInt = ['steps', 'batchSize', 'rank', 'policyRefreshSteps', 'bufferCapacity', 'bufferBatch', 'bufferSampleEvery', 'samplingSteps'] as const;
  for (const k of positiveInt) if (!Number.isInteger(hp[k]) || hp[k] < 1) throw new RangeError(`${k} must be a positive integer`);
  if (!(hp.lr > 0 && hp.lr < 1)) throw new RangeError('lr must be in (0, 1)');
  if (!(LORA_TARGETS as readonly string[]).includes(hp.targets)) throw new RangeError(`targets must be one of ${LORA_TARGETS.join(', ')}`);
  if (!(hp.alpha > 0)) throw new RangeError('alpha must be positive');
  if (!(hp.margin >= 0)) throw new RangeError('margin must be ≥ 0');
  if (!(hp.sftWeight >= 0 && hp.sftWeight <= 100)) throw new RangeError('sftWeight must be in [0, 100]');
  if (!(hp.preservationWeight >= 0 && hp.preservationWeight <= 100)) throw new RangeError('preservationWeight must be in [0, 100]');
  if (!(hp.maxTimestepFraction > 0 && hp.maxTimestepFraction <= 1)) throw new RangeError('maxTimestepFraction must be in (0, 1]');
  if (!(hp.captionDropout >= 0 && hp.captionDropout < 1)) throw new RangeError('captionDropout must be in [0, 1)');
  if (!(hp.emaDecay >= 0 && hp.emaDecay < 1)) throw new RangeError('emaDecay must be in [0, 1)');
  if (!(hp.gradClip > 0)) throw new RangeError('gradClip must be positive');
  if (!(hp.policyGuidance >= 1 && hp.policyGuidance <= 20)) throw new RangeError('policyGuidance must be in [1, 20]');
  if (!(hp.minSnrGamma >= 0 && hp.minSnrGamma <= 1000)) throw new RangeError('minSnrGamma must be in [0, 1000]');
  if (typeof hp.mirrorAugmentation !== 'boolean') throw new RangeError('mirrorAugmentation must be true or false');
  if (!Number.isInteger(hp.seed) || hp.seed < 0) throw new RangeError('seed must be a non-negative integer');
}
