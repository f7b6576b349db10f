import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A diffusers-style folder with configs only (no weights): enough for listing base models. */
export function writeFakeModel(modelsDir: string, name: string, options: { latent?: boolean; card?: string; patchSize?: number } = {}): void {
  const folder = join(modelsDir, name);
  mkdirSync(join(folder, 'unet'), { recursive: true });
  writeFileSync(
    join(folder, 'model_index.json'),
    JSON.stringify({
      _class_name: 'StableDiffusionPipeline',
      _diffusers_version: '0.31.0',
      unet: ['diffusers', 'UNet2DConditionModel'],
      // Pixel-space models that fold patches into channels record the image size the engine produces.
      ...(options.patchSize ? { _sample_space: { type: 'pixel', imageSize: 32, patchSize: options.patchSize } } : {}),
    }),
  );
  const sampleSize = options.latent ? 16 : 32 / (options.patchSize ?? 1);
  writeFileSync(join(folder, 'unet', 'config.json'), JSON.stringify({ _class_name: 'UNet2DConditionModel', sample_size: sampleSize }));
  if (options.latent) {
    mkdirSync(join(folder, 'vae'), { recursive: true });
    const blocks = 3;
    writeFileSync(
      join(folder, 'vae', 'config.json'),
      JSON.stringify({ _class_name: 'AutoencoderKL', block_out_channels: [32, 64, 64], down_block_types: Array(blocks).fill('DownEncoderBlock2D'), up_block_types: Array(blocks).fill('UpDecoderBlock2D'), latent_channels: 4 }),
    );
  }
  if (options.card) writeFileSync(join(folder, 'README.md'), options.card);
}
