/** The subset of diffusers' UNet2DConditionModel config this engine executes, with diffusers defaults. */
export interface UNetConfig {
  sample_size: number;
  in_channels: number;
  out_channels: number;
  down_block_types: string[];
  mid_block_type: string | null;
  up_block_types: string[];
  block_out_channels: number[];
  layers_per_block: number;
  norm_num_groups: number;
  norm_eps: number;
  cross_attention_dim: number;
  /** Legacy diffusers naming: when num_attention_heads is null, this is the number of heads. */
  attention_head_dim: number | number[];
  num_attention_heads: number | number[] | null;
  transformer_layers_per_block: number | number[];
  use_linear_projection: boolean;
  flip_sin_to_cos: boolean;
  freq_shift: number;
  act_fn: string;
  downsample_padding: number;
  center_input_sample: boolean;
  only_cross_attention: boolean;
  upcast_attention: boolean;
  resnet_time_scale_shift: string;
  time_embedding_type: string;
  conv_in_kernel: number;
  conv_out_kernel: number;
  [extra: string]: unknown;
}

const SUPPORTED_DOWN = new Set(['DownBlock2D', 'CrossAttnDownBlock2D']);
const SUPPORTED_UP = new Set(['UpBlock2D', 'CrossAttnUpBlock2D']);

export function parseUNetConfig(json: Record<string, unknown>): UNetConfig {
  const cfg: UNetConfig = {
    sample_size: 64,
    in_channels: 4,
    out_channels: 4,
    down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
    mid_block_type: 'UNetMidBlock2DCrossAttn',
    up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
    block_out_channels: [320, 640, 1280, 1280],
    layers_per_block: 2,
    norm_num_groups: 32,
    norm_eps: 1e-5,
    cross_attention_dim: 1280,
    attention_head_dim: 8,
    num_attention_heads: null,
    transformer_layers_per_block: 1,
    use_linear_projection: false,
    flip_sin_to_cos: true,
    freq_shift: 0,
    act_fn: 'silu',
    downsample_padding: 1,
    center_input_sample: false,
    only_cross_attention: false,
    upcast_attention: false,
    resnet_time_scale_shift: 'default',
    time_embedding_type: 'positional',
    conv_in_kernel: 3,
    conv_out_kernel: 3,
    // "_class_name"/"_diffusers_version" describe the file, not the model.
    ...(Object.fromEntries(Object.entries(json).filter(([k]) => !k.startsWith('_'))) as Partial<UNetConfig>),
  };
  for (const t of cfg.down_block_types) if (!SUPPORTED_DOWN.has(t)) throw new Error(`unsupported down block type ${t}`);
  for (const t of cfg.up_block_types) if (!SUPPORTED_UP.has(t)) throw new Error(`unsupported up block type ${t}`);
  if (cfg.mid_block_type !== null && cfg.mid_block_type !== 'UNetMidBlock2DCrossAttn') {
    throw new Error(`unsupported mid block type ${cfg.mid_block_type}`);
  }
  if (cfg.resnet_time_scale_shift !== 'default') throw new Error('only resnet_time_scale_shift "default" is supported');
  if (cfg.time_embedding_type !== 'positional') throw new Error('only positional time embeddings are supported');
  if (cfg.only_cross_attention !== false) throw new Error('only_cross_attention is not supported');
  if (cfg.down_block_types.length !== cfg.block_out_channels.length) throw new Error('down_block_types and block_out_channels differ in length');
  return cfg;
}

function perBlock<V>(v: V | V[], n: number): V[] {
  return Array.isArray(v) ? v : new Array<V>(n).fill(v);
}

/** Heads per down block (diffusers resolves num_attention_heads ?? attention_head_dim). */
export function headsPerBlock(cfg: UNetConfig): number[] {
  return perBlock(cfg.num_attention_heads ?? cfg.attention_head_dim, cfg.block_out_channels.length);
}

export function transformerLayersPerBlock(cfg: UNetConfig): number[] {
  return perBlock(cfg.transformer_layers_per_block, cfg.block_out_channels.length);
}
