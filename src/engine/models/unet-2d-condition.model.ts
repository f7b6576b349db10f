import {
  Ops,
  activation,
  conv2dModule,
  groupNormModule,
  layerNormModule,
  linearModule,
  multiHeadAttention,
} from '../graph/ops';
import { UNetConfig, headsPerBlock, transformerLayersPerBlock } from './unet-config';

/**
 * diffusers UNet2DConditionModel forward pass, with its parameter names, for the block types used by
 * SD-1.5-class models: sample [N, C, H, W], timesteps [N] (float), encoder states [N, M, D] and an
 * optional additive cross-attention bias [N, 1, 1, M] (0 keep, −10000 masked, as diffusers converts
 * encoder_attention_mask).
 */
export function unetForward<T>(
  ops: Ops<T>,
  cfg: UNetConfig,
  sample: T,
  timesteps: T,
  encoderHiddenStates: T,
  crossAttentionBias: T | null = null,
): T {
  const ch0 = cfg.block_out_channels[0];
  const heads = headsPerBlock(cfg);
  const tLayers = transformerLayersPerBlock(cfg);
  const ctx: Ctx<T> = { ops, cfg, encoderHiddenStates, crossAttentionBias, temb: null as unknown as T };

  if (cfg.center_input_sample) sample = ops.addScalar(ops.scale(sample, 2), -1);
  const tProj = timestepEmbedding(ops, timesteps, ch0, cfg.flip_sin_to_cos, cfg.freq_shift);
  let temb = linearModule(ops, tProj, 'time_embedding.linear_1');
  temb = linearModule(ops, activation(ops, cfg.act_fn, temb), 'time_embedding.linear_2');
  ctx.temb = temb;

  let h = conv2dModule(ops, sample, 'conv_in');
  const skips: T[] = [h];
  cfg.down_block_types.forEach((type, i) => {
    const out = cfg.block_out_channels[i];
    const withAttention = type === 'CrossAttnDownBlock2D';
    for (let j = 0; j < cfg.layers_per_block; j++) {
      h = resnetBlock(ctx, h, `down_blocks.${i}.resnets.${j}`, out);
      if (withAttention) h = transformer2d(ctx, h, `down_blocks.${i}.attentions.${j}`, heads[i], tLayers[i]);
      skips.push(h);
    }
    if (i < cfg.block_out_channels.length - 1) {
      h = conv2dModule(ops, h, `down_blocks.${i}.downsamplers.0.conv`, 2, cfg.downsample_padding);
      skips.push(h);
    }
  });

  if (cfg.mid_block_type) {
    const last = cfg.block_out_channels.length - 1;
    const c = cfg.block_out_channels[last];
    h = resnetBlock(ctx, h, 'mid_block.resnets.0', c);
    h = transformer2d(ctx, h, 'mid_block.attentions.0', heads[last], tLayers[last]);
    h = resnetBlock(ctx, h, 'mid_block.resnets.1', c);
  }

  const reversedChannels = [...cfg.block_out_channels].reverse();
  const reversedHeads = [...heads].reverse();
  const reversedLayers = [...tLayers].reverse();
  cfg.up_block_types.forEach((type, i) => {
    const out = reversedChannels[i];
    const withAttention = type === 'CrossAttnUpBlock2D';
    for (let j = 0; j < cfg.layers_per_block + 1; j++) {
      const skip = skips.pop() as T;
      h = ops.concat([h, skip], 1);
      h = resnetBlock(ctx, h, `up_blocks.${i}.resnets.${j}`, out);
      if (withAttention) h = transformer2d(ctx, h, `up_blocks.${i}.attentions.${j}`, reversedHeads[i], reversedLayers[i]);
    }
    if (i < cfg.up_block_types.length - 1) {
      h = conv2dModule(ops, ops.upsampleNearest2x(h), `up_blocks.${i}.upsamplers.0.conv`);
    }
  });

  h = groupNormModule(ops, h, 'conv_norm_out', cfg.norm_num_groups, cfg.norm_eps);
  h = activation(ops, cfg.act_fn, h);
  return conv2dModule(ops, h, 'conv_out');
}

interface Ctx<T> {
  ops: Ops<T>;
  cfg: UNetConfig;
  temb: T;
  encoderHiddenStates: T;
  crossAttentionBias: T | null;
}

/** diffusers get_timestep_embedding: sinusoidal features of t with max_period 10000. */
export function timestepEmbedding<T>(ops: Ops<T>, timesteps: T, dim: number, flipSinToCos: boolean, freqShift: number): T {
  const half = Math.floor(dim / 2);
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.exp((-Math.log(10000) * i) / (half - freqShift));
  const args = ops.mul(ops.reshape(timesteps, [-1, 1]), ops.constant(freqs, [1, half]));
  const sin = ops.sin(args);
  const cos = ops.cos(args);
  let emb = flipSinToCos ? ops.concat([cos, sin], 1) : ops.concat([sin, cos], 1);
  if (dim % 2 === 1) emb = ops.concat([emb, ops.scale(ops.slice(emb, 1, 0, 1), 0)], 1);
  return emb;
}

function resnetBlock<T>(ctx: Ctx<T>, x: T, name: string, outChannels: number): T {
  const { ops, cfg } = ctx;
  const inChannels = ops.shape(x)[1];
  let h = groupNormModule(ops, x, `${name}.norm1`, cfg.norm_num_groups, cfg.norm_eps);
  h = conv2dModule(ops, activation(ops, cfg.act_fn, h), `${name}.conv1`);
  const t = linearModule(ops, activation(ops, cfg.act_fn, ctx.temb), `${name}.time_emb_proj`);
  h = ops.add(h, ops.reshape(t, [-1, outChannels, 1, 1]));
  h = groupNormModule(ops, h, `${name}.norm2`, cfg.norm_num_groups, cfg.norm_eps);
  h = conv2dModule(ops, activation(ops, cfg.act_fn, h), `${name}.conv2`);
  const shortcut = inChannels !== outChannels ? conv2dModule(ops, x, `${name}.conv_shortcut`, 1, 0) : x;
  return ops.add(shortcut, h);
}

/** Transformer2DModel (continuous input): GroupNorm, proj_in, BasicTransformerBlocks, proj_out, residual. */
function transformer2d<T>(ctx: Ctx<T>, x: T, name: string, heads: number, layers: number): T {
  const { ops, cfg } = ctx;
  const [, c, hgt, wid] = ops.shape(x);
  const tokens = hgt * wid;
  let h = groupNormModule(ops, x, `${name}.norm`, cfg.norm_num_groups, 1e-6);
  const toTokens = (y: T) => ops.reshape(ops.transpose(y, [0, 2, 3, 1]), [-1, tokens, ops.shape(y)[1]]);
  if (cfg.use_linear_projection) {
    h = linearModule(ops, toTokens(h), `${name}.proj_in`);
  } else {
    h = toTokens(conv2dModule(ops, h, `${name}.proj_in`, 1, 0));
  }
  const inner = ops.shape(h)[2];
  for (let k = 0; k < layers; k++) h = basicTransformerBlock(ctx, h, `${name}.transformer_blocks.${k}`, heads);
  const toImage = (y: T) => ops.transpose(ops.reshape(y, [-1, hgt, wid, ops.shape(y)[2]]), [0, 3, 1, 2]);
  if (cfg.use_linear_projection) {
    h = toImage(linearModule(ops, h, `${name}.proj_out`));
  } else {
    h = conv2dModule(ops, toImage(h), `${name}.proj_out`, 1, 0);
  }
  if (ops.shape(h)[1] !== c || inner <= 0) throw new Error(`${name}: channel mismatch`);
  return ops.add(h, x);
}

function basicTransformerBlock<T>(ctx: Ctx<T>, x: T, name: string, heads: number): T {
  const { ops } = ctx;
  let n = layerNormModule(ops, x, `${name}.norm1`, 1e-5);
  x = ops.add(attention(ctx, n, null, `${name}.attn1`, heads, null), x);
  n = layerNormModule(ops, x, `${name}.norm2`, 1e-5);
  x = ops.add(attention(ctx, n, ctx.encoderHiddenStates, `${name}.attn2`, heads, ctx.crossAttentionBias), x);
  n = layerNormModule(ops, x, `${name}.norm3`, 1e-5);
  return ops.add(feedForwardGeglu(ops, n, `${name}.ff`), x);
}

/** diffusers Attention with the default processor: to_q/to_k/to_v (bias optional) and to_out.0. */
function attention<T>(ctx: Ctx<T>, x: T, context: T | null, name: string, heads: number, bias: T | null): T {
  const { ops } = ctx;
  const kvSource = context ?? x;
  const q = linearModule(ops, x, `${name}.to_q`);
  const k = linearModule(ops, kvSource, `${name}.to_k`);
  const v = linearModule(ops, kvSource, `${name}.to_v`);
  const out = multiHeadAttention(ops, q, k, v, heads, bias);
  return linearModule(ops, out, `${name}.to_out.0`);
}

/** FeedForward with GEGLU: net.0.proj → (hidden, gate) halves → hidden·gelu(gate) → net.2. */
function feedForwardGeglu<T>(ops: Ops<T>, x: T, name: string): T {
  const proj = linearModule(ops, x, `${name}.net.0.proj`);
  const width = ops.shape(proj)[2];
  const hidden = ops.slice(proj, 2, 0, width / 2);
  const gate = ops.slice(proj, 2, width / 2, width);
  const geglu = ops.mul(hidden, activation(ops, 'gelu', gate));
  return linearModule(ops, geglu, `${name}.net.2`);
}

/** Module names of the attention projections that LoRA adapters target by default. */
export function attentionProjectionModules(cfg: UNetConfig): string[] {
  const names: string[] = [];
  const tLayers = transformerLayersPerBlock(cfg);
  const blocks: { prefix: string; layers: number }[] = [];
  cfg.down_block_types.forEach((t, i) => {
    if (t !== 'CrossAttnDownBlock2D') return;
    for (let j = 0; j < cfg.layers_per_block; j++) blocks.push({ prefix: `down_blocks.${i}.attentions.${j}`, layers: tLayers[i] });
  });
  if (cfg.mid_block_type) blocks.push({ prefix: 'mid_block.attentions.0', layers: tLayers[tLayers.length - 1] });
  const revLayers = [...tLayers].reverse();
  cfg.up_block_types.forEach((t, i) => {
    if (t !== 'CrossAttnUpBlock2D') return;
    for (let j = 0; j < cfg.layers_per_block + 1; j++) blocks.push({ prefix: `up_blocks.${i}.attentions.${j}`, layers: revLayers[i] });
  });
  for (const b of blocks) {
    for (let k = 0; k < b.layers; k++) {
      for (const attn of ['attn1', 'attn2']) {
        for (const proj of ['to_q', 'to_k', 'to_v', 'to_out.0']) names.push(`${b.prefix}.transformer_blocks.${k}.${attn}.${proj}`);
      }
    }
  }
  return names;
}
