import { DenoiserTrainingGraph, TrainingGraphSpec, TrainingStepInputs, TrainingStepResult } from './denoiser-training-graph';
import { TfjsTrainingStep } from './tfjs-training-step';
import { loadTfjs } from '../graph/tfjs-backend';

/** A compiled training step: forward, loss and gradients for the named trainable tensors. */
export interface TrainingStep {
  /** What executes the step, e.g. "onnxruntime" or "tfjs-tensorflow-gpu". */
  readonly engine: string;
  readonly trainableNames: string[];
  step(inputs: TrainingStepInputs, trainable: Map<string, Float32Array>): Promise<TrainingStepResult>;
  release(): Promise<void>;
}

export type TrainingBackendChoice = 'auto' | 'onnxruntime' | 'tfjs';

/**
 * auto: tfjs when a native tfjs backend (tfjs-node-gpu / tfjs-node) is installed, else ONNX Runtime
 * gradient graphs — the pure-JS tfjs backend is orders of magnitude too slow for convolution gradients.
 * TRAINING_BACKEND overrides.
 */
export async function createTrainingStep(spec: TrainingGraphSpec, choice: TrainingBackendChoice = (process.env.TRAINING_BACKEND as TrainingBackendChoice) ?? 'auto'): Promise<TrainingStep> {
  if (choice === 'tfjs') return TfjsTrainingStep.create(spec);
  if (choice === 'auto') {
    const { backend } = await loadTfjs();
    if (backend !== 'cpu') return TfjsTrainingStep.create(spec);
  }
  return DenoiserTrainingGraph.create(spec);
}
