/**
 * The engine's public face: everything the API, the worker and the command-line tools use from it.
 * Modules inside the engine import each other directly; nothing outside imports past this file.
 */
export type { Demonstration } from './dro/demonstration-batches';
export { DEFAULT_FINE_TUNE_HYPERPARAMETERS, DEFAULT_RECOMMENDED_SCALE, FineTuneHyperparameters, FineTuneMethod, validateHyperparameters } from './dro/fine-tune.hyperparameters';
export { FineTuneProgress, FineTuneResult, fineTune } from './dro/fine-tune.trainer';
export { writeFileAtomic } from './io/atomic-write';
export { readCaptionedImageFolder } from './io/captioned-image-folder.reader';
export { parseSafetensors, readSafetensorsFile, writeSafetensorsFile } from './io/safetensors';
export type { SafetensorsFile } from './io/safetensors';
export { SafetensorsError } from './io/safetensors-header';
export { LoraAdapter, LoraError, createLoraAdapter, validateAgainst } from './lora/lora-adapter';
export type { ModuleShape } from './lora/lora-adapter';
export { loraAdapterFromTensors, parseLoraAdapter, readLoraFile } from './lora/lora-file.reader';
export type { LoraReadResult } from './lora/lora-file.reader';
export { encodeLoraFile, serializeLoraAdapter, writeLoraFile } from './lora/lora-file.writer';
export type { LoraKeyFormat } from './lora/lora-key-format';
export { parseAdapterConfigJson } from './lora/peft-config';
export type { PeftLoraConfig } from './lora/peft-config';
export { BUNDLED_MODEL_NAME, resolveDefaultModelDir } from './models/default-model';
export { DiffusionModel, loadDiffusionModel, modelWeightsVersion, sampleShape } from './models/diffusion-model';
export type { ImageSize, SampleSpace } from './models/diffusion-model';
export { ImageSizeError, checkActivationBudget, checkImageSize, estimateActivationBytes, imageSizeRules } from './models/generation-size';
export type { ActivationEstimate, ImageSizeRules, ModelGeometry } from './models/generation-size';
export { describeModelFolder, readModelGeometry } from './models/model-description';
export type { ComponentWeights, ModelDescription, StoredDtype } from './models/model-description';
export { COMMON_EVAL_PROMPTS } from './models/emoji-base.prompts';
export { LORA_TARGETS, adaptableModules, loraModuleShapes, readLoraModuleShapes } from './models/lora-targets';
export type { LoraTargets } from './models/lora-targets';
export { createRandomModel } from './models/random-model';
export { stableDiffusion15Configs, writeRandomSdFolder } from './models/random-sd-folder';
export type { RandomSdSize } from './models/random-sd-folder';
export { GENERATION_DEFAULTS } from './pipeline/generation-defaults';
export { decodeImageToChw, encodeImagePng, encodeRgbPng, tileImages } from './pipeline/image-encoding';
export { InferenceEngine, createPipeline } from './pipeline/pipeline.factory';
export { GenerationRequest, GenerationResult, SamplerName, TextToImagePipeline } from './pipeline/text-to-image.pipeline';
export { Random, SCHEDULER_NAMES, isSchedulerName } from './schedulers';
export { BUNDLED_SCORER_NAME, EmojiScorer, parseScorerFileConfig } from './scorer/emoji-scorer';
export { scorerParamCount } from './scorer/scorer.model';
export { Tokenizer } from './tokenizer/tokenizer';
export { loadTokenizer } from './tokenizer/tokenizer.loader';
export type { AdamWState } from './training/adamw.optimizer';
export { CheckpointStore } from './training/checkpoint.store';
export type { CheckpointFiles } from './training/checkpoint-files';
export { ProgressBar, formatDuration } from './training/progress-reporter';
