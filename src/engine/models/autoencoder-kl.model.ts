// diffusers' AutoencoderKL (Stable Diffusion's VAE) with its parameter names: Encoder (conv_in,
// DownEncoderBlock2D, UNetMidBlock2D with one attention, conv_norm_out, conv_out) → quant_conv → the
// diagonal Gaussian's mean and log-variance; post_quant_conv → Decoder (conv_in, mid block,
// UpDecoderBlock2D, conv_norm_out, conv_out). Written once against Ops, like the UNet.
import { Ops, conv2dModule, groupNormModule, linearModule, multiHeadAttention, silu } from '../graph/ops';

export interface AutoencoderKlConfig {
  in_channels: number;
  out_channels: number;
  latent_channels: number;
  block_out_channels: number[];
  down_block_types: string[];
  up_block_types: string[];
  layers_per_block: number;
  norm_num_groups: number;
  act_fn: string;
  sample_size: number;
  scaling_factor: number;
  /** SD3/Flux-style VAEs: latents are (z − shift) · scale. */
  shift_factor: number | null;
  /** The VAE must run in fp32 even when the rest runs in fp16 (SD-1.x/2.x VAEs overflow in fp16). */
  force_upcast: boolean;
  mid_block_add_attention: boolean;
}

/** The VAE's GroupNorm eps in diffusers' Encoder/Decoder (fixed there, not in the config). */
const VAE_NORM_EPS = 1e-6;

export function parseAutoencoderKlConfig(json: Record<string, unknown>): AutoencoderKlConfig {
  const cls = json._class_name;
  if (cls !== undefined && cls !== 'AutoencoderKL') throw new Error(`vae: ${String(cls)} is not supported (AutoencoderKL only)`);
  const list = (k: string) => {
    const v = json[k];
    if (!Array.isArray(v)) throw new Error(`vae config: ${k} must be a list`);
    return v;
  };
  const num = (k: string, d?: number) => {
    const v = json[k] ?? d;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`vae config: ${k} must be a number`);
    return v;
  };
  const cfg: AutoencoderKlConfig = {
    in_channels: num('in_channels', 3),
    out_channels: num('out_channels', 3),
    latent_channels: num('latent_channels', 4),
    block_out_channels: list('block_out_channels') as number[],
    down_block_types: list('down_block_types') as string[],
    up_block_types: list('up_block_types') as string[],
    layers_per_block: num('layers_per_block', 1),
    norm_num_groups: num('norm_num_groups', 32),
    act_fn: String(json.act_fn ?? 'silu'),
    sample_size: num('sample_size', 32),
    scaling_factor: num('scaling_factor', 0.18215),
    shift_factor: typeof json.shift_factor === 'number' ? json.shift_factor : null,
    force_upcast: json.force_upcast !== false,
    mid_block_add_attention: json.mid_block_add_attention !== false,
  };
  if (cfg.act_fn !== 'silu') throw new Error(`vae config: act_fn ${cfg.act_fn} is not supported (silu only)`);
  if (cfg.down_block_types.some((t) => t !== 'DownEncoderBlock2D')) throw new Error('vae config: down_block_types must all be DownEncoderBlock2D');
  if (cfg.up_block_types.some((t) => t !== 'UpDecoderBlock2D')) throw new Error('vae config: up_block_types must all be UpDecoderBlock2D');
  if (cfg.down_block_types.length !== cfg.block_out_channels.length || cfg.up_block_types.length !== cfg.block_out_channels.length) {
    throw new Error('vae config: one down and one up block per block_out_channels entry');
  }
  return cfg;
}

/** Pixels per latent along each side (2 per down block after the first). */
export function vaeScaleFactor(cfg: AutoencoderKlConfig): number {
  return 2 ** (cfg.block_out_channels.length - 1);
}

/** ResnetBlock2D without a time embedding. */
function resnetBlock<T>(ops: Ops<T>, cfg: AutoencoderKlConfig, x: T, name: string, outChannels: number): T {
  const inChannels = ops.shape(x)[1];
  let h = conv2dModule(ops, silu(ops, groupNormModule(ops, x, `${name}.norm1`, cfg.norm_num_groups, VAE_NORM_EPS)), `${name}.conv1`);
  h = conv2dModule(ops, silu(ops, groupNormModule(ops, h, `${name}.norm2`, cfg.norm_num_groups, VAE_NORM_EPS)), `${name}.conv2`);
  const shortcut = inChannels !== outChannels ? conv2dModule(ops, x, `${name}.conv_shortcut`, 1, 0) : x;
  return ops.add(shortcut, h);
}

/** The mid block's single-head spatial self-attention with its own GroupNorm and a residual. */
function spatialAttention<T>(ops: Ops<T>, cfg: AutoencoderKlConfig, x: T, name: string): T {
  const [, c, h, w] = ops.shape(x);
  const normed = groupNormModule(ops, x, `${name}.group_norm`, cfg.norm_num_groups, VAE_NORM_EPS);
  const seq = ops.transpose(ops.reshape(normed, [-1, c, h * w]), [0, 2, 1]);
  const q = linearModule(ops, seq, `${name}.to_q`);
  const k = linearModule(ops, seq, `${name}.to_k`);
  const v = linearModule(ops, seq, `${name}.to_v`);
  const out = linearModule(ops, multiHeadAttention(ops, q, k, v, 1, null), `${name}.to_out.0`);
  return ops.add(ops.reshape(ops.transpose(out, [0, 2, 1]), [-1, c, h, w]), x);
}

function midBlock<T>(ops: Ops<T>, cfg: AutoencoderKlConfig, x: T, name: string): T {
  const c = ops.shape(x)[1];
  let h = resnetBlock(ops, cfg, x, `${name}.resnets.0`, c);
  if (cfg.mid_block_add_attention) h = spatialAttention(ops, cfg, h, `${name}.attentions.0`);
  return resnetBlock(ops, cfg, h, `${name}.resnets.1`, c);
}

/** Image [N, in_channels, H, W] in [-1, 1] → the posterior's mean and log-variance (clamped to [-30, 20] as diffusers does). */
export function vaeEncode<T>(ops: Ops<T>, cfg: AutoencoderKlConfig, image: T): { mean: T; logvar: T } {
  let h = conv2dModule(ops, image, 'encoder.conv_in');
  cfg.block_out_channels.forEach((out, i) => {
    for (let j = 0; j < cfg.layers_per_block; j++) h = resnetBlock(ops, cfg, h, `encoder.down_blocks.${i}.resnets.${j}`, out);
    if (i < cfg.block_out_channels.length - 1) {
      // Downsample2D with padding 0: pad right and bottom by one zero, then a stride-2 3×3 convolution.
      h = ops.concat([h, ops.scale(ops.slice(h, 3, 0, 1), 0)], 3);
      h = ops.concat([h, ops.scale(ops.slice(h, 2, 0, 1), 0)], 2);
      h = conv2dModule(ops, h, `encoder.down_blocks.${i}.downsamplers.0.conv`, 2, 0);
    }
  });
  h = midBlock(ops, cfg, h, 'encoder.mid_block');
  h = conv2dModule(ops, silu(ops, groupNormModule(ops, h, 'encoder.conv_norm_out', cfg.norm_num_groups, VAE_NORM_EPS)), 'encoder.conv_out');
  if (ops.hasParam('quant_conv.weight')) h = conv2dModule(ops, h, 'quant_conv', 1, 0);
  const l = cfg.latent_channels;
  const mean = ops.slice(h, 1, 0, l);
  const raw = ops.slice(h, 1, l, 2 * l);
  // clamp(logvar, -30, 20) = -30 + relu(x + 30) - relu(x - 20)
  const logvar = ops.sub(ops.addScalar(ops.relu(ops.addScalar(raw, 30)), -30), ops.relu(ops.addScalar(raw, -20)));
  return { mean, logvar };
}

/** Latents [N, latent_channels, h, w] (already divided by scaling_factor) → image [N, out_channels, H, W]. */
export function vaeDecode<T>(ops: Ops<T>, cfg: AutoencoderKlConfig, latents: T): T {
  let h = ops.hasParam('post_quant_conv.weight') ? conv2dModule(ops, latents, 'post_quant_conv', 1, 0) : latents;
  const reversed = [...cfg.block_out_channels].reverse();
  h = conv2dModule(ops, h, 'decoder.conv_in');
  h = midBlock(ops, cfg, h, 'decoder.mid_block');
  reversed.forEach((out, i) => {
    for (let j = 0; j <= cfg.layers_per_block; j++) h = resnetBlock(ops, cfg, h, `decoder.up_blocks.${i}.resnets.${j}`, out);
    if (i < reversed.length - 1) h = conv2dModule(ops, ops.upsampleNearest2x(h), `decoder.up_blocks.${i}.upsamplers.0.conv`);
  });
  return conv2dModule(ops, silu(ops, groupNormModule(ops, h, 'decoder.conv_norm_out', cfg.norm_num_groups, VAE_NORM_EPS)), 'decoder.conv_out');
}
