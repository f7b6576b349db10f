import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { BUNDLED_MODEL_NAME } from '../engine';
import { MODEL_ID } from './base-model.decorator';
import { BaseModelDto, BaseModelListDto } from './models.dto';

const MAX_CARD_BYTES = 256 * 1024;

/** The base model used when a request names none: the bundled one. */
export const DEFAULT_BASE_MODEL = BUNDLED_MODEL_NAME;

async function readJson(path: string): Promise<Record<string, unknown> | null> {
  try {
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Pixel side of the generated images: the engine's recorded sample space for pixel-space models that
 * fold patches into channels, else the UNet's `sample_size` times the VAE's downsampling for latent
 * models (2^(blocks-1), as diffusers computes `vae_scale_factor`).
 */
function resolutionOf(modelIndex: Record<string, unknown>, unet: Record<string, unknown> | null, vae: Record<string, unknown> | null): number | null {
  const space = modelIndex._sample_space as { imageSize?: unknown } | undefined;
  if (typeof space?.imageSize === 'number' && space.imageSize > 0) return space.imageSize;
  const sample = unet?.sample_size;
  const side = Array.isArray(sample) ? sample[0] : sample;
  if (typeof side !== 'number' || side <= 0) return null;
  const blocks = vae?.block_out_channels;
  const factor = Array.isArray(blocks) && blocks.length > 0 ? 2 ** (blocks.length - 1) : 1;
  return side * factor;
}

/** Base models are diffusers-format folders in MODELS_DIR, recognised by their `model_index.json`. */
@Injectable()
export class ModelsService {
  constructor(@Inject(APP_CONFIG) private readonly config: RuntimeConfig) {}

  async listModels(): Promise<BaseModelListDto> {
    let names: string[];
    try {
      names = (await readdir(this.config.modelsDir, { withFileTypes: true }))
        .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
        .map((entry) => entry.name)
        .sort();
    } catch {
      return { data: [] };
    }
    const models = await Promise.all(names.map((name) => this.describe(name)));
    return { data: models.filter((model): model is BaseModelDto => model !== null) };
  }

  async getModel(id: string): Promise<BaseModelDto> {
    const model = MODEL_ID.test(id) ? await this.describe(id) : null;
    if (!model) throw new NotFoundException(`Model ${id} not found`);
    return model;
  }

  /** The resolution an installed model generates and trains at (its `resolution` here), or null. */
  async findResolution(id: string): Promise<number | null> {
    return MODEL_ID.test(id) ? ((await this.describe(id))?.resolution ?? null) : null;
  }

  /** The folder of an installed model (one with a model_index.json), or null; never leaves MODELS_DIR. */
  async findModelDir(id: string): Promise<string | null> {
    if (!MODEL_ID.test(id) || id.includes('..')) return null;
    const folder = join(this.config.modelsDir, id);
    try {
      await access(join(folder, 'model_index.json'));
      return folder;
    } catch {
      return null;
    }
  }

  private async describe(name: string): Promise<BaseModelDto | null> {
    const folder = join(this.config.modelsDir, name);
    const modelIndex = await readJson(join(folder, 'model_index.json'));
    if (!modelIndex) return null;
    const [unet, vae] = await Promise.all([readJson(join(folder, 'unet', 'config.json')), readJson(join(folder, 'vae', 'config.json'))]);
    let modelCard: string | null = null;
    try {
      const card = await readFile(join(folder, 'README.md'));
      modelCard = card.subarray(0, MAX_CARD_BYTES).toString('utf8');
    } catch {
      modelCard = null;
    }
    return {
      id: name,
      resolution: resolutionOf(modelIndex, unet, vae),
      unetClass: typeof unet?._class_name === 'string' ? unet._class_name : null,
      modelIndex,
      modelCard,
    };
  }
}
