import * as fsp from 'fs/promises';
import * as path from 'path';
import { UNetConfig, parseUNetConfig } from './unet-config';
import { ClipTextConfig, parseClipTextConfig } from './clip-text.model';
import { ParamMap } from './param-init';
import { NamedTensor } from '../io/safetensors';
import {
  createModelIndex,
  locateComponentWeights,
  readComponentConfig,
  readComponentWeights,
  readModelIndex,
  writeComponent,
  writeModelFolder,
  writeModelIndex,
} from '../io/model-folder';
import { writeFileAtomic } from '../io/atomic-write';
import { Tokenizer } from '../tokenizer/tokenizer';
import { loadTokenizer } from '../tokenizer/tokenizer.loader';
import { BuiltTokenizer, serializeTokenizerJson } from '../tokenizer/word-level.tokenizer';
import { SchedulerConfig, parseSchedulerConfig, serializeSchedulerConfig } from '../schedulers';
import { AutoencoderKlConfig, parseAutoencoderKlConfig } from './autoencoder-kl.model';
import { SampleSpace, latentSampleSpace } from './sample-space';

export type { ImageSize, LatentSampleSpace, PixelSampleSpace, SampleSpace } from './sample-space';
export { sampleShape } from './sample-space';

/** A loaded text-to-image model: diffusers-layout configs, weights and tokenizer. */
export interface DiffusionModel {
  name: string;
  unetConfig: UNetConfig;
  textConfig: ClipTextConfig;
  schedulerConfig: SchedulerConfig;
  unetParams: ParamMap;
  textParams: ParamMap;
  tokenizer: Tokenizer;
  /** Raw tokenizer files, written back unchanged on save. */
  tokenizerFiles: Record<string, string>;
  sampleSpace: SampleSpace;
  /** Latent models: the AutoencoderKL that maps images to the UNet's latents and back. */
  vae?: { config: AutoencoderKlConfig; params: ParamMap };
  maxLength: number;
  extraIndex?: Record<string, unknown>;
}

/** Files in a model folder that are not written by saveDiffusionModel itself but kept across saves. */
const PRESERVED_FILES = ['README.md', 'samples.png', 'eval.json'];

const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt'];

/** Tokenizer files as written into a model folder. */
export function tokenizerFilesOf(built: BuiltTokenizer): Record<string, string> {
  return {
    'tokenizer.json': serializeTokenizerJson(built.files['tokenizer.json']),
    'tokenizer_config.json': `${JSON.stringify(built.files['tokenizer_config.json'], null, 2)}\n`,
    'special_tokens_map.json': `${JSON.stringify(built.files['special_tokens_map.json'], null, 2)}\n`,
  };
}

/** Captions as the text encoder takes them: ids [N, L] padded/truncated to the model's length, float mask [N, L]. */
export function tokenizeCaptions(model: Pick<DiffusionModel, 'tokenizer' | 'maxLength'>, texts: readonly string[]): { inputIds: BigInt64Array; attentionMask: Float32Array } {
  const enc = model.tokenizer.encodeBatch(texts, { maxLength: model.maxLength, padding: 'max_length', truncation: true, dtype: 'int64' });
  return { inputIds: enc.inputIds as BigInt64Array, attentionMask: Float32Array.from(enc.attentionMask as BigInt64Array, Number) };
}

/**
 * When the model folder's UNet weights last changed (ms since the epoch): a model retrained in place
 * has a new version, so caches know to reload it. Rejects when the folder has no UNet weights.
 */
export async function modelWeightsVersion(dir: string): Promise<number> {
  const { file } = await locateComponentWeights(dir, 'unet');
  return (await fsp.stat(file)).mtimeMs;
}

/**
 * The sample space a folder describes: latent when it has a VAE (diffusers' layout), else the pixel
 * space recorded as `_sample_space` in model_index.json, else plain pixels at the UNet's sample_size.
 */
export function readSampleSpace(index: Record<string, unknown>, unet: Pick<UNetConfig, 'sample_size'>, vae: AutoencoderKlConfig | null): SampleSpace {
  if (vae) return latentSampleSpace(vae, unet);
  const recorded = index._sample_space as { type?: unknown; imageSize?: unknown; patchSize?: unknown } | undefined;
  if (recorded && recorded.type === 'pixel' && typeof recorded.imageSize === 'number' && typeof recorded.patchSize === 'number') {
    return { type: 'pixel', imageSize: recorded.imageSize, patchSize: recorded.patchSize };
  }
  return { type: 'pixel', imageSize: unet.sample_size, patchSize: 1 };
}

/** Whether a model folder has a VAE component (its config is what diffusers reads first). */
export async function hasVae(dir: string): Promise<boolean> {
  try {
    await fsp.access(path.join(dir, 'vae', 'config.json'));
    return true;
  } catch {
    return false;
  }
}

function toParamMap(tensors: Map<string, NamedTensor>, ignore: (name: string) => boolean = () => false): ParamMap {
  const out: ParamMap = new Map();
  for (const [k, v] of tensors) if (!ignore(k)) out.set(k, { shape: v.shape, data: v.data });
  return out;
}

export async function loadDiffusionModel(dir: string): Promise<DiffusionModel> {
  const index = await readModelIndex(dir);
  const unetConfig = parseUNetConfig(await readComponentConfig(dir, 'unet'));
  const textConfig = parseClipTextConfig(await readComponentConfig(dir, 'text_encoder'));
  const schedulerConfig = parseSchedulerConfig(await fsp.readFile(path.join(dir, 'scheduler', 'scheduler_config.json'), 'utf8'));
  const unet = await readComponentWeights(dir, 'unet');
  // Older transformers checkpoints carry the position_ids buffer; it is not a parameter.
  const text = await readComponentWeights(dir, 'text_encoder');
  const tokenizerFiles: Record<string, string> = {};
  for (const f of TOKENIZER_FILES) {
    try {
      tokenizerFiles[f] = await fsp.readFile(path.join(dir, 'tokenizer', f), 'utf8');
    } catch {
      // optional file
    }
  }
  const tokenizer = await loadTokenizer(path.join(dir, 'tokenizer'));
  const tokenizerConfig = tokenizerFiles['tokenizer_config.json'] ? JSON.parse(tokenizerFiles['tokenizer_config.json']) : {};
  // fp16 or fp32 weights alike are held as float32: every executor computes in float32.
  const vae = (await hasVae(dir)) ? { config: parseAutoencoderKlConfig(await readComponentConfig(dir, 'vae')), params: toParamMap((await readComponentWeights(dir, 'vae')).tensors) } : undefined;
  return {
    name: path.basename(path.resolve(dir)),
    unetConfig,
    textConfig,
    schedulerConfig,
    unetParams: toParamMap(unet.tensors),
    textParams: toParamMap(text.tensors, (k) => k.endsWith('position_ids')),
    tokenizer,
    tokenizerFiles,
    sampleSpace: readSampleSpace(index, unetConfig, vae?.config ?? null),
    ...(vae ? { vae } : {}),
    maxLength: Math.min(textConfig.max_position_embeddings, Number(tokenizerConfig.model_max_length ?? textConfig.max_position_embeddings)),
    extraIndex: Object.fromEntries(Object.entries(index).filter(([k]) => k.startsWith('_') && !['_class_name', '_diffusers_version', '_sample_space'].includes(k))),
  };
}

/** Writes the model as a diffusers folder (atomically: a crash never leaves a half-written model). */
export async function saveDiffusionModel(
  dir: string,
  model: DiffusionModel,
  opts: { dtype?: 'F32' | 'F16'; metadata?: Record<string, string>; extraFiles?: Record<string, string | Uint8Array> } = {},
): Promise<void> {
  const dtype = opts.dtype ?? 'F16';
  // Documents that live beside the weights (model card, sample grid, scores) survive re-exports.
  const carried: Record<string, Uint8Array> = {};
  for (const f of PRESERVED_FILES) {
    if (opts.extraFiles?.[f] !== undefined) continue;
    try {
      carried[f] = await fsp.readFile(path.join(dir, f));
    } catch {
      // not there yet
    }
  }
  await writeModelFolder(dir, async (tmp) => {
    for (const [f, content] of Object.entries(carried)) await writeFileAtomic(path.join(tmp, f), content);
    await writeComponent(tmp, 'unet', { _class_name: 'UNet2DConditionModel', _diffusers_version: '0.32.0', ...model.unetConfig }, model.unetParams, {
      dtype,
      metadata: opts.metadata,
    });
    await writeComponent(
      tmp,
      'text_encoder',
      {
        architectures: ['CLIPTextModel'],
        model_type: 'clip_text_model',
        torch_dtype: dtype === 'F16' ? 'float16' : 'float32',
        transformers_version: '4.46.0',
        ...model.textConfig,
      },
      model.textParams,
      { dtype, metadata: opts.metadata },
    );
    if (model.vae) {
      await writeComponent(tmp, 'vae', { _class_name: 'AutoencoderKL', _diffusers_version: '0.32.0', ...model.vae.config }, model.vae.params, { dtype, metadata: opts.metadata });
    }
    // diffusers writes Python-style JSON (-Infinity), so the serialised text is stored as is.
    await writeFileAtomic(path.join(tmp, 'scheduler', 'scheduler_config.json'), serializeSchedulerConfig(model.schedulerConfig));
    for (const [f, content] of Object.entries(model.tokenizerFiles)) await writeFileAtomic(path.join(tmp, 'tokenizer', f), content);
    for (const [f, content] of Object.entries(opts.extraFiles ?? {})) await writeFileAtomic(path.join(tmp, f), content);
    const index = createModelIndex(
      'StyleTextToImagePipeline',
      {
        unet: ['diffusers', 'UNet2DConditionModel'],
        text_encoder: ['transformers', 'CLIPTextModel'],
        tokenizer: ['transformers', 'PreTrainedTokenizerFast'],
        scheduler: ['diffusers', String(model.schedulerConfig._class_name ?? 'DPMSolverMultistepScheduler')],
        ...(model.vae ? { vae: ['diffusers', 'AutoencoderKL'] as [string, string] } : {}),
      },
      // A latent model's sample space follows from its VAE; a pixel model records its patch folding.
      model.sampleSpace.type === 'pixel' ? { ...model.extraIndex, _sample_space: model.sampleSpace } : { ...model.extraIndex },
    );
    await writeModelIndex(tmp, index);
  });
}
