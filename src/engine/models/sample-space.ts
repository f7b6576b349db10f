import type { AutoencoderKlConfig } from './autoencoder-kl.model';
import { vaeScaleFactor } from './autoencoder-kl.model';
import type { UNetConfig } from './unet-config';

/** An image's size in pixels. */
export interface ImageSize {
  width: number;
  height: number;
}

/**
 * Pixel-space models denoise the image itself, optionally with f×f pixel patches folded into channels
 * (pixel_unshuffle) so a 32 px image is denoised as a 16×16 grid.
 */
export interface PixelSampleSpace {
  type: 'pixel';
  /** Native image side in pixels. */
  imageSize: number;
  patchSize: number;
}

/**
 * Latent models denoise an AutoencoderKL's latents: images are `vaeScaleFactor` times larger than the
 * UNet's sample, and the sampler's latents are `(z − shiftFactor) · scalingFactor` of the VAE's z.
 */
export interface LatentSampleSpace {
  type: 'latent';
  /** Native image side in pixels: the UNet's sample_size × vaeScaleFactor. */
  imageSize: number;
  vaeScaleFactor: number;
  latentChannels: number;
  scalingFactor: number;
  shiftFactor: number | null;
  /** Recorded from the VAE's config; the engine runs every component in float32 anyway. */
  forceUpcast: boolean;
}

/** How images map to the UNet's sample space. */
export type SampleSpace = PixelSampleSpace | LatentSampleSpace;

/** Pixels per sample cell along each side: the patch size, or the VAE's downsampling. */
export function pixelsPerSample(space: SampleSpace): number {
  return space.type === 'latent' ? space.vaeScaleFactor : space.patchSize;
}

/** The sample space of a model with a VAE, from the VAE's config and the UNet's sample_size. */
export function latentSampleSpace(vae: AutoencoderKlConfig, unet: Pick<UNetConfig, 'sample_size'>): LatentSampleSpace {
  const f = vaeScaleFactor(vae);
  return {
    type: 'latent',
    imageSize: unet.sample_size * f,
    vaeScaleFactor: f,
    latentChannels: vae.latent_channels,
    scalingFactor: vae.scaling_factor,
    shiftFactor: vae.shift_factor,
    forceUpcast: vae.force_upcast,
  };
}

/** The model's native image size (square, as diffusers' sample_size). */
export function nativeImageSize(model: { sampleSpace: SampleSpace }): ImageSize {
  return { width: model.sampleSpace.imageSize, height: model.sampleSpace.imageSize };
}

/** The UNet's sample shape [C, H, W] for images of `size` (the native size by default). */
export function sampleShape(model: { unetConfig: Pick<UNetConfig, 'in_channels'>; sampleSpace: SampleSpace }, size: ImageSize = nativeImageSize(model)): [number, number, number] {
  const f = pixelsPerSample(model.sampleSpace);
  if (size.width % f !== 0 || size.height % f !== 0) throw new Error(`image size ${size.width}×${size.height} is not a multiple of ${f}`);
  return [model.unetConfig.in_channels, size.height / f, size.width / f];
}

/** The pixel-space model's patch size; latent models have none (lab tools train pixel models only). */
export function patchSizeOf(space: SampleSpace): number {
  if (space.type !== 'pixel') throw new Error('this tool works on pixel-space models only');
  return space.patchSize;
}

/** Sampler latents → the VAE's z, as diffusers' pipelines decode: latents / scaling_factor + shift_factor. */
export function latentsToVae(space: LatentSampleSpace, latents: Float32Array): Float32Array {
  const shift = space.shiftFactor ?? 0;
  return latents.map((v) => v / space.scalingFactor + shift);
}

/** The VAE's z → sampler latents, as diffusers' training scripts encode: (z − shift_factor) · scaling_factor. */
export function vaeToLatents(space: LatentSampleSpace, z: Float32Array): Float32Array {
  const shift = space.shiftFactor ?? 0;
  return z.map((v) => (v - shift) * space.scalingFactor);
}
