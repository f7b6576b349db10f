import * as ort from 'onnxruntime-node';
import { OnnxGraphOps } from '../graph/onnx-graph-ops';
import { AutoencoderKlConfig, vaeDecode, vaeEncode, vaeScaleFactor } from '../models/autoencoder-kl.model';
import type { ParamMap } from '../models/param-init';
import type { OnnxModel } from '../onnx/onnx-model';
import { createSession } from '../onnx/ort-session';
import type { OrtOptions } from './onnx-executors';

function latentSize(config: AutoencoderKlConfig, imageSize: number): number {
  const f = vaeScaleFactor(config);
  if (imageSize % f !== 0) throw new Error(`vae: image size ${imageSize} is not a multiple of ${f}`);
  return imageSize / f;
}

/** The encoder as an ONNX graph: image [N, C, S, S] → mean, logvar. */
export function vaeEncoderOnnxModel(config: AutoencoderKlConfig, params: ParamMap, imageSize: number): OnnxModel {
  latentSize(config, imageSize);
  const enc = new OnnxGraphOps({ params });
  const image = enc.input('image', [-1, config.in_channels, imageSize, imageSize]);
  const { mean, logvar } = vaeEncode(enc, config, image);
  enc.output(mean, 'mean');
  enc.output(logvar, 'logvar');
  return enc.toModel({ model: 'vae-encoder' });
}

/** The decoder as an ONNX graph: unscaled latents [N, latent_channels, S/f, S/f] → image. */
export function vaeDecoderOnnxModel(config: AutoencoderKlConfig, params: ParamMap, imageSize: number): OnnxModel {
  const l = latentSize(config, imageSize);
  const dec = new OnnxGraphOps({ params });
  const latents = dec.input('latents', [-1, config.latent_channels, l, l]);
  dec.output(vaeDecode(dec, config, latents), 'image');
  return dec.toModel({ model: 'vae-decoder' });
}

/** An AutoencoderKL as two ONNX Runtime sessions (batch dynamic, image size fixed per instance). */
export class OrtAutoencoderKl {
  private constructor(
    readonly config: AutoencoderKlConfig,
    private readonly encoder: ort.InferenceSession,
    private readonly decoder: ort.InferenceSession,
    private readonly imageSize: number,
  ) {}

  static async create(config: AutoencoderKlConfig, params: ParamMap, imageSize: number, opts: OrtOptions = {}): Promise<OrtAutoencoderKl> {
    const [e, d] = await Promise.all([createSession(vaeEncoderOnnxModel(config, params, imageSize), opts), createSession(vaeDecoderOnnxModel(config, params, imageSize), opts)]);
    return new OrtAutoencoderKl(config, e.session, d.session, imageSize);
  }

  /** Posterior mean and log-variance of images [N, C, S, S] in [-1, 1] (unscaled latents). */
  async encode(images: Float32Array, n: number): Promise<{ mean: Float32Array; logvar: Float32Array }> {
    const s = this.imageSize;
    const out = await this.encoder.run({ image: new ort.Tensor('float32', images, [n, this.config.in_channels, s, s]) });
    return { mean: out.mean.data as Float32Array, logvar: out.logvar.data as Float32Array };
  }

  /** Images from unscaled latents (divide sampled latents by scaling_factor first, as diffusers' pipelines do). */
  async decode(latents: Float32Array, n: number): Promise<Float32Array> {
    const l = this.imageSize / vaeScaleFactor(this.config);
    const out = await this.decoder.run({ latents: new ort.Tensor('float32', latents, [n, this.config.latent_channels, l, l]) });
    return out.image.data as Float32Array;
  }

  async release(): Promise<void> {
    await Promise.all([this.encoder.release(), this.decoder.release()]);
  }
}
