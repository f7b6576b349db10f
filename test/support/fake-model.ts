import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A diffusers-style folder with configs only (no weights): enough for listing base models. */
export function writeFakeModel(modelsDir: string, name: string, options: { latent?: boolean; card?: string } = {}): void {
  const folder = join(modelsDir, name);
  mkdirSync(join(folder, 'unet'), { recursive: true });
  writeFileSync(
    join(folder, 'model_index.json'),
    JSON.stringify({ _class_name: 'StableDiffusionPipeline', _diffusers_version: '0.31.0', unet: ['diffusers', 'UNet2DConditionModel'] }),
  );
  writeFileSync(join(folder, 'unet', 'config.json'), JSON.stringify({ _class_name: 'UNet2DConditionModel', sample_size: options.latent ? 16 : 32 }));
  if (options.latent) {
    mkdirSync(join(folder, 'vae'), { recursive: true });
    writeFileSync(join(folder, 'vae', 'config.json'), JSON.stringify({ _class_name: 'AutoencoderKL', block_out_channels: [32, 64, 64] }));
  }
  if (options.card) writeFileSync(join(folder, 'README.md'), options.card);
}
