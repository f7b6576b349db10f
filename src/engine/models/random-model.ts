import { DiffusionModel, tokenizerFilesOf } from './diffusion-model';
import { parseUNetConfig } from './unet-config';
import { parseClipTextConfig, clipTextParamShapes } from './clip-text.model';
import { unetParamShapes } from './unet-params';
import { initParams } from './param-init';
import { makeSchedulerConfig } from '../schedulers';
import { buildWordLevelTokenizer } from '../tokenizer/word-level.tokenizer';

export interface RandomModelOptions {
  seed?: number;
  imageSize?: number;
  patchSize?: number;
  channels?: number[];
  crossAttentionDim?: number;
  maxLength?: number;
  words?: string[];
}

/**
 * A small randomly initialised model with the bundled model's architecture family, for tests and
 * benchmarks that must not depend on trained weights.
 */
export function createRandomModel(o: RandomModelOptions = {}): DiffusionModel {
  const imageSize = o.imageSize ?? 16;
  const patch = o.patchSize ?? 2;
  const channels = o.channels ?? [16, 32];
  const cross = o.crossAttentionDim ?? 16;
  const maxLength = o.maxLength ?? 8;
  const words = o.words ?? ['red', 'heart', 'sun', 'cat', 'face', 'noto', 'twemoji', 'openmoji', 'style', 'tree', 'pizza', 'rocket'];
  const built = buildWordLevelTokenizer(words, { modelMaxLength: maxLength });
  const unetConfig = parseUNetConfig({
    sample_size: imageSize / patch,
    in_channels: 3 * patch * patch,
    out_channels: 3 * patch * patch,
    block_out_channels: channels,
    down_block_types: channels.map((_, i) => (i === 0 ? 'DownBlock2D' : 'CrossAttnDownBlock2D')),
    up_block_types: channels.map((_, i) => (i === channels.length - 1 ? 'UpBlock2D' : 'CrossAttnUpBlock2D')),
    layers_per_block: 1,
    norm_num_groups: 8,
    cross_attention_dim: cross,
    attention_head_dim: 2,
  });
  const textConfig = parseClipTextConfig({
    vocab_size: built.tokenizer.vocabSize,
    hidden_size: cross,
    intermediate_size: cross * 2,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    max_position_embeddings: maxLength,
    bos_token_id: built.specialTokenIds.bos,
    eos_token_id: built.specialTokenIds.eos,
    pad_token_id: built.specialTokenIds.pad,
  });
  const seed = o.seed ?? 0;
  return {
    name: 'random-test-model',
    unetConfig,
    textConfig,
    schedulerConfig: makeSchedulerConfig(
      { beta_schedule: 'squaredcos_cap_v2', prediction_type: 'v_prediction', timestep_spacing: 'trailing', num_train_timesteps: 1000 },
      'DPMSolverMultistepScheduler',
    ),
    unetParams: initParams(unetParamShapes(unetConfig), seed),
    textParams: initParams(clipTextParamShapes(textConfig), seed + 1),
    tokenizer: built.tokenizer,
    tokenizerFiles: tokenizerFilesOf(built),
    sampleSpace: { type: 'pixel', imageSize, patchSize: patch },
    maxLength,
  };
}
