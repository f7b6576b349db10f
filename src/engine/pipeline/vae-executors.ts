import * as ort from 'onnxruntime-node';
import { OnnxGraphOps } from '../graph/onnx-graph-ops';
import { AutoencoderKlConfig, vaeDecode, vaeEncode, vaeScaleFactor } from '../models/autoencoder-kl.model';
import type { ParamMap } from '../models/param-init';
import type { ImageSize } from '../models/sample-space';
import { encodeModel } from '../onnx/onnx-model';
import { createSession } from '../onnx/ort-session';
import type { OrtOptions } from './onnx-executors';

export type VaePart = 'encoder' | 'decoder';

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
    const { width, height } = typeof size === 'number' ? { width: size, height: size } : size;
    const f = vaeScaleFactor(config);
    if (width % f !== 0 || height % f !== 0) throw new Error(`vae: image size ${width}×${height} is not a multiple of ${f}`);
    const parts = new Set(opts.parts ?? ['encoder', 'decoder']);
    const build = (part: VaePart) => {
      const g = new OnnxGraphOps({ params });
      if (part === 'encoder') {
        const { mean, logvar } = vaeEncode(g, config, g.input('image', [-1, config.in_channels, height, width]));
        g.output(mean, 'mean');
        g.output(logvar, 'logvar');
      } else {
        g.output(vaeDecode(g, config, g.input('latents', [-1, config.latent_channels, height / f, width / f])), 'image');
      }
      return createSession(encodeModel(g.toModel({ model: `vae-${part}` })), opts).then((s) => s.session);
    };
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
