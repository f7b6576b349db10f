import * as ort from 'onnxruntime-node';
import { OnnxGraphOps } from '../graph/onnx-graph-ops';
import { AutoencoderKlConfig, vaeDecode, vaeEncode, vaeScaleFactor } from '../models/autoencoder-kl.model';
import type { ParamMap } from '../models/param-init';
import type { ImageSize } from '../models/sample-space';
import type { OnnxModel } from '../onnx/onnx-model';
import { createSession } from '../onnx/ort-session';
import type { OrtOptions } from './onnx-executors';

export type VaePart = 'encoder' | 'decoder';

function sizeOf(config: AutoencoderKlConfig, size: number | ImageSize): ImageSize {
  const { width, height } = typeof size === 'number' ? { width: size, height: size } : size;
  const f = vaeScaleFactor(config);
  if (width % f !== 0 || height % f !== 0) throw new Error(`vae: image size ${width}×${height} is not a multiple of ${f}`);
  return { width, height };
}

/** The encoder as an ONNX graph: image [N, C, H, W] → mean, logvar. */
export function vaeEncoderOnnxModel(config: AutoencoderKlConfig, params: ParamMap, size: number | ImageSize): OnnxModel {
  const { width, height } = sizeOf(config, size);
  const enc = new OnnxGraphOps({ params });
  const { mean, logvar } = vaeEncode(enc, config, enc.input('image', [-1, config.in_channels, height, width]));
  enc.output(mean, 'mean');
  enc.output(logvar, 'logvar');
  return enc.toModel({ model: 'vae-encoder' });
}

/** The decoder as an ONNX graph: unscaled latents [N, latent_channels, H/f, W/f] → image. */
export function vaeDecoderOnnxModel(config: AutoencoderKlConfig, params: ParamMap, size: number | ImageSize): OnnxModel {
  const { width, height } = sizeOf(config, size);
  const f = vaeScaleFactor(config);
  const dec = new OnnxGraphOps({ params });
  dec.output(vaeDecode(dec, config, dec.input('latents', [-1, config.latent_channels, height / f, width / f])), 'image');
  return dec.toModel({ model: 'vae-decoder' });
}

/**
 * An AutoencoderKL as ONNX Runtime sessions (batch dynamic, image size fixed per instance). Sampling
 * only decodes and training only encodes, so `parts` builds just the half that is needed.
 */
export class OrtAutoencoderKl {
  private constructor(
    readonly config: AutoencoderKlConfig,
    private readonly encoder: ort.InferenceSession | null,
    private readonly decoder: ort.InferenceSession | null,
    readonly size: ImageSize,
  ) {}

  static async create(config: AutoencoderKlConfig, params: ParamMap, size: number | ImageSize, opts: OrtOptions & { parts?: VaePart[] } = {}): Promise<OrtAutoencoderKl> {
    const { width, height } = sizeOf(config, size);
    const parts = new Set(opts.parts ?? ['encoder', 'decoder']);
    const build = (part: VaePart) => createSession(part === 'encoder' ? vaeEncoderOnnxModel(config, params, size) : vaeDecoderOnnxModel(config, params, size), opts).then((s) => s.session);
    const [e, d] = await Promise.all([parts.has('encoder') ? build('encoder') : null, parts.has('decoder') ? build('decoder') : null]);
    return new OrtAutoencoderKl(config, e, d, { width, height });
  }

  /** Posterior mean and log-variance of images [N, C, H, W] in [-1, 1] (unscaled latents). */
  async encode(images: Float32Array, n: number): Promise<{ mean: Float32Array; logvar: Float32Array }> {
    if (!this.encoder) throw new Error('this VAE was built without its encoder');
    const { width, height } = this.size;
    const out = await this.encoder.run({ image: new ort.Tensor('float32', images, [n, this.config.in_channels, height, width]) });
    return { mean: out.mean.data as Float32Array, logvar: out.logvar.data as Float32Array };
  }

  /** Images from unscaled latents (divide sampled latents by scaling_factor first, as diffusers' pipelines do). */
  async decode(latents: Float32Array, n: number): Promise<Float32Array> {
    if (!this.decoder) throw new Error('this VAE was built without its decoder');
    const f = vaeScaleFactor(this.config);
    const out = await this.decoder.run({ latents: new ort.Tensor('float32', latents, [n, this.config.latent_channels, this.size.height / f, this.size.width / f]) });
    return out.image.data as Float32Array;
  }

  async release(): Promise<void> {
    await Promise.all([this.encoder?.release(), this.decoder?.release()]);
  }
}
