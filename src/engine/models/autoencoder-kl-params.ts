import type { AutoencoderKlConfig } from './autoencoder-kl.model';
import { shapeRecorders, type ParamShapes } from './unet-params';

/** Every parameter of a diffusers AutoencoderKL config, by diffusers name, with its shape. */
export function autoencoderKlParamShapes(cfg: AutoencoderKlConfig): ParamShapes {
  const p: ParamShapes = new Map();
  const { conv, linear, norm } = shapeRecorders(p);
  const resnet = (name: string, cin: number, cout: number) => {
    norm(`${name}.norm1`, cin);
    conv(`${name}.conv1`, cin, cout, 3);
    norm(`${name}.norm2`, cout);
    conv(`${name}.conv2`, cout, cout, 3);
    if (cin !== cout) conv(`${name}.conv_shortcut`, cin, cout, 1);
  };
  const midBlock = (name: string, c: number) => {
    resnet(`${name}.resnets.0`, c, c);
    if (cfg.mid_block_add_attention) {
      const a = `${name}.attentions.0`;
      norm(`${a}.group_norm`, c);
      for (const proj of ['to_q', 'to_k', 'to_v', 'to_out.0']) linear(`${a}.${proj}`, c, c);
    }
    resnet(`${name}.resnets.1`, c, c);
  };
  const ch = cfg.block_out_channels;
  const last = ch[ch.length - 1];
  const latent = cfg.latent_channels;

  conv('encoder.conv_in', cfg.in_channels, ch[0], 3);
  let cin = ch[0];
  ch.forEach((out, i) => {
    for (let j = 0; j < cfg.layers_per_block; j++) resnet(`encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? cin : out, out);
    if (i < ch.length - 1) conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, out, out, 3);
    cin = out;
  });
  midBlock('encoder.mid_block', last);
  norm('encoder.conv_norm_out', last);
  conv('encoder.conv_out', last, 2 * latent, 3);
  conv('quant_conv', 2 * latent, 2 * latent, 1);
  conv('post_quant_conv', latent, latent, 1);

  conv('decoder.conv_in', latent, last, 3);
  midBlock('decoder.mid_block', last);
  let prev = last;
  [...ch].reverse().forEach((out, i) => {
    for (let j = 0; j <= cfg.layers_per_block; j++) resnet(`decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? prev : out, out);
    if (i < ch.length - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, out, out, 3);
    prev = out;
  });
  norm('decoder.conv_norm_out', ch[0]);
  conv('decoder.conv_out', ch[0], cfg.out_channels, 3);
  return p;
}
