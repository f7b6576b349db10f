import { UNetConfig, transformerLayersPerBlock } from './unet-config';

export type ParamShapes = Map<string, number[]>;

/** Adds torch-layout parameter shapes of conv, linear and norm modules to `p`. */
export function shapeRecorders(p: ParamShapes) {
  return {
    conv(name: string, cin: number, cout: number, k: number): void {
      p.set(`${name}.weight`, [cout, cin, k, k]);
      p.set(`${name}.bias`, [cout]);
    },
    linear(name: string, cin: number, cout: number, bias = true): void {
      p.set(`${name}.weight`, [cout, cin]);
      if (bias) p.set(`${name}.bias`, [cout]);
    },
    norm(name: string, c: number): void {
      p.set(`${name}.weight`, [c]);
      p.set(`${name}.bias`, [c]);
    },
  };
}

/** Every parameter of a UNet2DConditionModel config, by diffusers name, with its shape. */
export function unetParamShapes(cfg: UNetConfig): ParamShapes {
  const p: ParamShapes = new Map();
  const ch = cfg.block_out_channels;
  const temb = ch[0] * 4;
  const cross = cfg.cross_attention_dim;
  const kIn = cfg.conv_in_kernel;
  const kOut = cfg.conv_out_kernel;
  const tLayers = transformerLayersPerBlock(cfg);

  const { conv, linear, norm } = shapeRecorders(p);
  const resnet = (name: string, cin: number, cout: number) => {
    norm(`${name}.norm1`, cin);
    conv(`${name}.conv1`, cin, cout, 3);
    linear(`${name}.time_emb_proj`, temb, cout);
    norm(`${name}.norm2`, cout);
    conv(`${name}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${name}.conv_shortcut`, cin, cout, 1);
  };
  const transformer = (name: string, c: number, layers: number) => {
    norm(`${name}.norm`, c);
    if (cfg.use_linear_projection) linear(`${name}.proj_in`, c, c);
    else conv(`${name}.proj_in`, c, c, 1);
    for (let k = 0; k < layers; k++) {
      const b = `${name}.transformer_blocks.${k}`;
      norm(`${b}.norm1`, c);
      linear(`${b}.attn1.to_q`, c, c, false);
      linear(`${b}.attn1.to_k`, c, c, false);
      linear(`${b}.attn1.to_v`, c, c, false);
      linear(`${b}.attn1.to_out.0`, c, c);
      norm(`${b}.norm2`, c);
      linear(`${b}.attn2.to_q`, c, c, false);
      linear(`${b}.attn2.to_k`, cross, c, false);
      linear(`${b}.attn2.to_v`, cross, c, false);
      linear(`${b}.attn2.to_out.0`, c, c);
      norm(`${b}.norm3`, c);
      linear(`${b}.ff.net.0.proj`, c, c * 4 * 2);
      linear(`${b}.ff.net.2`, c * 4, c);
    }
    if (cfg.use_linear_projection) linear(`${name}.proj_out`, c, c);
    else conv(`${name}.proj_out`, c, c, 1);
  };

  conv('conv_in', cfg.in_channels, ch[0], kIn);
  linear('time_embedding.linear_1', ch[0], temb);
  linear('time_embedding.linear_2', temb, temb);

  let cin = ch[0];
  cfg.down_block_types.forEach((type, i) => {
    const cout = ch[i];
    for (let j = 0; j < cfg.layers_per_block; j++) {
      resnet(`down_blocks.${i}.resnets.${j}`, j === 0 ? cin : cout, cout);
      if (type === 'CrossAttnDownBlock2D') transformer(`down_blocks.${i}.attentions.${j}`, cout, tLayers[i]);
    }
    if (i < ch.length - 1) conv(`down_blocks.${i}.downsamplers.0.conv`, cout, cout, 3);
    cin = cout;
  });

  const last = ch[ch.length - 1];
  if (cfg.mid_block_type) {
    resnet('mid_block.resnets.0', last, last);
    transformer('mid_block.attentions.0', last, tLayers[tLayers.length - 1]);
    resnet('mid_block.resnets.1', last, last);
  }

  // Skip channels in pop order mirror the down path: conv_in, then each resnet and downsampler.
  const skipChannels: number[] = [ch[0]];
  ch.forEach((c, i) => {
    for (let j = 0; j < cfg.layers_per_block; j++) skipChannels.push(c);
    if (i < ch.length - 1) skipChannels.push(c);
  });
  const rev = [...ch].reverse();
  const revLayers = [...tLayers].reverse();
  let prev = last;
  cfg.up_block_types.forEach((type, i) => {
    const cout = rev[i];
    for (let j = 0; j < cfg.layers_per_block + 1; j++) {
      const skip = skipChannels.pop() as number;
      const resIn = (j === 0 ? prev : cout) + skip;
      resnet(`up_blocks.${i}.resnets.${j}`, resIn, cout);
      if (type === 'CrossAttnUpBlock2D') transformer(`up_blocks.${i}.attentions.${j}`, cout, revLayers[i]);
    }
    if (i < ch.length - 1) conv(`up_blocks.${i}.upsamplers.0.conv`, cout, cout, 3);
    prev = cout;
  });

  norm('conv_norm_out', ch[0]);
  conv('conv_out', ch[0], cfg.out_channels, kOut);
  return p;
}
