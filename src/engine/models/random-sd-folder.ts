/**
 * A Stable Diffusion 1.5 diffusers folder with random weights: SD-1.5's own configs (UNet 320/640/
 * 1280/1280, AutoencoderKL 128/256/512/512, CLIP ViT-L/14 text tower, PNDM scheduler file), CLIP
 * tokenizer files copied from a given folder, fp16 safetensors under diffusers/transformers names.
 * For benchmarks and export checks at real size without downloading a checkpoint. `tiny` keeps every
 * block type and name but shrinks widths, for tests.
 *
 * Weights are deterministic from the seed: each module draws from its own generator (seeded from the
 * seed and its name) with the engine's initParams rule — torch's U(±1/√fan_in), whose variance
 * 1/(3·fan_in) shrinks activations through each layer, so the random network stays finite at every
 * depth; norms 1/0, embeddings N(0, 0.02²). Tensors are made and written one at a time: writing the
 * 1.07 B-parameter folder holds one tensor in memory, not the model.
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { createModelIndex, writeComponentConfig, writeModelFolder, writeModelIndex, DIFFUSERS_WEIGHTS_NAME, TRANSFORMERS_WEIGHTS_NAME, type JsonObject } from '../io/model-folder';
import { writeFileAtomic } from '../io/atomic-write';
import { writeSafetensorsStream } from '../io/safetensors';
import { initParams } from './param-init';
import { parseUNetConfig } from './unet-config';
import { unetParamShapes, type ParamShapes } from './unet-params';
import { clipTextParamShapes, parseClipTextConfig } from './clip-text.model';
import { parseAutoencoderKlConfig } from './autoencoder-kl.model';
import { autoencoderKlParamShapes } from './autoencoder-kl-params';

export type RandomSdSize = 'full' | 'tiny';

export interface RandomSdOptions {
  seed?: number;
  size?: RandomSdSize;
  /** Folder with CLIP's vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json. */
  tokenizerDir: string;
}

const TOKENIZER_FILES = ['vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json'];

const DOWN = ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'];
const UP = ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'];

/** runwayml/stable-diffusion-v1-5's component configs; `tiny` changes only widths and sizes. */
export function stableDiffusion15Configs(size: RandomSdSize = 'full'): { unet: JsonObject; vae: JsonObject; textEncoder: JsonObject; scheduler: JsonObject } {
  const tiny = size === 'tiny';
  const unet: JsonObject = {
    _class_name: 'UNet2DConditionModel',
    _diffusers_version: '0.6.0',
    act_fn: 'silu',
    attention_head_dim: 8,
    block_out_channels: tiny ? [32, 32, 64, 64] : [320, 640, 1280, 1280],
    center_input_sample: false,
    cross_attention_dim: tiny ? 64 : 768,
    down_block_types: DOWN,
    downsample_padding: 1,
    flip_sin_to_cos: true,
    freq_shift: 0,
    in_channels: 4,
    layers_per_block: 2,
    mid_block_scale_factor: 1,
    norm_eps: 1e-5,
    norm_num_groups: 32,
    out_channels: 4,
    sample_size: tiny ? 8 : 64,
    up_block_types: UP,
  };
  const vae: JsonObject = {
    _class_name: 'AutoencoderKL',
    _diffusers_version: '0.6.0',
    act_fn: 'silu',
    block_out_channels: tiny ? [32, 32, 64, 64] : [128, 256, 512, 512],
    down_block_types: new Array(4).fill('DownEncoderBlock2D'),
    in_channels: 3,
    latent_channels: 4,
    layers_per_block: 2,
    norm_num_groups: 32,
    out_channels: 3,
    sample_size: tiny ? 64 : 512,
    scaling_factor: 0.18215,
    up_block_types: new Array(4).fill('UpDecoderBlock2D'),
  };
  const textEncoder: JsonObject = {
    _name_or_path: 'openai/clip-vit-large-patch14',
    architectures: ['CLIPTextModel'],
    attention_dropout: 0.0,
    bos_token_id: 0,
    dropout: 0.0,
    eos_token_id: 2,
    hidden_act: 'quick_gelu',
    hidden_size: tiny ? 64 : 768,
    initializer_factor: 1.0,
    initializer_range: 0.02,
    intermediate_size: tiny ? 128 : 3072,
    layer_norm_eps: 1e-5,
    max_position_embeddings: 77,
    model_type: 'clip_text_model',
    num_attention_heads: tiny ? 4 : 12,
    num_hidden_layers: tiny ? 2 : 12,
    pad_token_id: 1,
    projection_dim: tiny ? 64 : 768,
    torch_dtype: 'float16',
    transformers_version: '4.22.0.dev0',
    vocab_size: 49408,
  };
  const scheduler: JsonObject = {
    _class_name: 'PNDMScheduler',
    _diffusers_version: '0.6.0',
    beta_end: 0.012,
    beta_schedule: 'scaled_linear',
    beta_start: 0.00085,
    num_train_timesteps: 1000,
    set_alpha_to_one: false,
    skip_prk_steps: true,
    steps_offset: 1,
    trained_betas: null,
    clip_sample: false,
  };
  return { unet, vae, textEncoder, scheduler };
}

/** A 53-bit seed per module, so each module's values do not depend on which others are written. */
function moduleSeed(seed: number, module: string): number {
  const h = createHash('sha256').update(`${seed}:${module}`).digest();
  return h.readUIntLE(0, 6);
}

/** Produces one tensor at a time, initialising its whole module (weight and bias share fan_in) on first use. */
function randomTensorSource(shapes: ParamShapes, seed: number): (name: string) => Float32Array {
  const moduleOf = (name: string) => name.slice(0, name.lastIndexOf('.'));
  const pending = new Map<string, Float32Array>();
  return (name) => {
    const ready = pending.get(name);
    if (ready) {
      pending.delete(name);
      return ready;
    }
    const module = moduleOf(name);
    const members = new Map([...shapes].filter(([n]) => moduleOf(n) === module));
    let out: Float32Array | undefined;
    for (const [n, p] of initParams(members, moduleSeed(seed, module))) {
      if (n === name) out = p.data;
      else pending.set(n, p.data);
    }
    return out!;
  };
}

async function writeRandomComponent(dir: string, component: string, fileName: string, config: JsonObject, shapes: ParamShapes, seed: number): Promise<void> {
  const next = randomTensorSource(shapes, seed);
  await writeSafetensorsStream(path.join(dir, component, fileName), shapes, (name) => next(name), { dtype: 'F16', metadata: { format: 'pt' } });
  await writeComponentConfig(dir, component, config);
}

/** Writes the folder atomically (a temporary sibling renamed into place). */
export async function writeRandomSdFolder(dir: string, opts: RandomSdOptions): Promise<void> {
  const seed = opts.seed ?? 0;
  const cfg = stableDiffusion15Configs(opts.size ?? 'full');
  const tokenizerFiles = await Promise.all(TOKENIZER_FILES.map((f) => fsp.readFile(path.join(opts.tokenizerDir, f))));
  await writeModelFolder(dir, async (tmp) => {
    await writeRandomComponent(tmp, 'unet', DIFFUSERS_WEIGHTS_NAME, cfg.unet, unetParamShapes(parseUNetConfig(cfg.unet)), seed);
    await writeRandomComponent(tmp, 'vae', DIFFUSERS_WEIGHTS_NAME, cfg.vae, autoencoderKlParamShapes(parseAutoencoderKlConfig(cfg.vae)), seed + 1);
    await writeRandomComponent(tmp, 'text_encoder', TRANSFORMERS_WEIGHTS_NAME, cfg.textEncoder, clipTextParamShapes(parseClipTextConfig(cfg.textEncoder)), seed + 2);
    for (const [i, f] of TOKENIZER_FILES.entries()) await writeFileAtomic(path.join(tmp, 'tokenizer', f), tokenizerFiles[i]);
    await writeComponentConfig(tmp, 'scheduler', cfg.scheduler);
    const index = createModelIndex(
      'StableDiffusionPipeline',
      {
        feature_extractor: [null, null],
        safety_checker: [null, null],
        scheduler: ['diffusers', 'PNDMScheduler'],
        text_encoder: ['transformers', 'CLIPTextModel'],
        tokenizer: ['transformers', 'CLIPTokenizer'],
        unet: ['diffusers', 'UNet2DConditionModel'],
        vae: ['diffusers', 'AutoencoderKL'],
      },
      { requires_safety_checker: false },
      '0.6.0',
    );
    await writeModelIndex(tmp, index);
  });
}
