import { DiffusionModel, loadDiffusionModel } from '../models/diffusion-model';
import { OrtOptions, OrtTextEncoder, OrtUNetDenoiser } from './onnx-executors';
import { TfjsTextEncoder, TfjsUNetDenoiser } from './tfjs-executors';
import { TextToImagePipeline } from './text-to-image.pipeline';

export type InferenceEngine = 'onnxruntime' | 'tfjs';

export interface PipelineOptions extends OrtOptions {
  engine?: InferenceEngine;
  /** LoRA-capable modules; defaults to every adaptable layer (models/lora-targets.ts). */
  loraModules?: string[];
}

/** Builds a ready pipeline from a model folder or a loaded model (ONNX Runtime by default). */
export async function createPipeline(model: string | DiffusionModel, opts: PipelineOptions = {}): Promise<TextToImagePipeline> {
  const m = typeof model === 'string' ? await loadDiffusionModel(model) : model;
  const loraModules = opts.loraModules ?? TextToImagePipeline.defaultLoraModules(m);
  if ((opts.engine ?? 'onnxruntime') === 'tfjs') {
    return new TextToImagePipeline({ model: m, textEncoder: await TfjsTextEncoder.create(m), denoiser: await TfjsUNetDenoiser.create(m), loraModules });
  }
  const [textEncoder, denoiser] = [await OrtTextEncoder.create(m, opts), await OrtUNetDenoiser.create(m, loraModules, opts)];
  const createDenoiser = (modules: string[]) => OrtUNetDenoiser.create(m, modules, opts);
  return new TextToImagePipeline({ model: m, textEncoder, denoiser, loraModules, createDenoiser });
}
