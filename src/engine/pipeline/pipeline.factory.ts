import { DiffusionModel, ImageSize, loadDiffusionModel } from '../models/diffusion-model';
import { OrtOptions, OrtTextEncoder, OrtUNetDenoiser } from './onnx-executors';
import { TfjsTextEncoder, TfjsUNetDenoiser } from './tfjs-executors';
import { PipelineParts, TextToImagePipeline } from './text-to-image.pipeline';
import { OrtAutoencoderKl } from './vae-executors';
import type { VaeDecoder } from './denoiser';

export type InferenceEngine = 'onnxruntime' | 'tfjs';

export interface PipelineOptions extends OrtOptions {
  engine?: InferenceEngine;
  /** LoRA-capable modules; defaults to every adaptable layer (models/lora-targets.ts). */
  loraModules?: string[];
  /** Most estimated activation memory of one denoiser call (estimateActivationBytes); unbounded by default. */
  memoryBudgetBytes?: number;
}

/** Builds a ready pipeline from a model folder or a loaded model (ONNX Runtime by default). */
export async function createPipeline(model: string | DiffusionModel, opts: PipelineOptions = {}): Promise<TextToImagePipeline> {
  const m = typeof model === 'string' ? await loadDiffusionModel(model) : model;
  const loraModules = opts.loraModules ?? TextToImagePipeline.defaultLoraModules(m);
  // The VAE runs in ONNX Runtime with either engine (tfjs has no faster path for it).
  const vae = m.vae;
  const createVaeDecoder = vae ? (size: ImageSize): Promise<VaeDecoder> => OrtAutoencoderKl.create(vae.config, vae.params, size, { ...opts, parts: ['decoder'] }) : undefined;
  const common: Pick<PipelineParts, 'model' | 'loraModules' | 'createVaeDecoder' | 'memoryBudgetBytes'> = { model: m, loraModules, createVaeDecoder, memoryBudgetBytes: opts.memoryBudgetBytes };
  if ((opts.engine ?? 'onnxruntime') === 'tfjs') {
    const denoiser = await TfjsUNetDenoiser.create(m);
    // Eager tfjs reads LoRA factors whatever the modules: one set of weights serves every size.
    return new TextToImagePipeline({ ...common, textEncoder: await TfjsTextEncoder.create(m), denoiser, createDenoiser: async (_modules, size) => denoiser.atSize(size) });
  }
  const [textEncoder, denoiser] = [await OrtTextEncoder.create(m, opts), await OrtUNetDenoiser.create(m, loraModules, opts)];
  const createDenoiser = (modules: string[], size: ImageSize) => OrtUNetDenoiser.create(m, modules, { ...opts, size });
  return new TextToImagePipeline({ ...common, textEncoder, denoiser, createDenoiser });
}
