import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { BUNDLED_MODEL_NAME, describeModelFolder, type ModelDescription, type ModelGeometry, readModelGeometry } from '../engine';
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

/** What the engine reads of a folder, as GET /v1/models reports it; nulls when its configs cannot be read. */
function describedFields(d: ModelDescription | null): Omit<BaseModelDto, 'id' | 'unetClass' | 'modelIndex' | 'modelCard'> {
  const space = d?.sampleSpace;
  const components = { unet: d?.components.unet ?? null, textEncoder: d?.components.textEncoder ?? null, vae: d?.components.vae ?? null };
  const present = Object.values(components).filter((c) => c !== null);
  return {
    resolution: d?.sizes.native.width ?? null,
    width: d?.sizes.native.width ?? null,
    height: d?.sizes.native.height ?? null,
    space: space?.type ?? null,
    vaeScaleFactor: space?.type === 'latent' ? space.vaeScaleFactor : null,
    latentChannels: space?.type === 'latent' ? space.latentChannels : null,
    patchSize: space?.type === 'pixel' ? space.patchSize : null,
    sizes: d ? { multiple: d.sizes.multiple, maxWidth: d.sizes.maxWidth, maxHeight: d.sizes.maxHeight } : null,
    components,
    parameters: present.length > 0 ? present.reduce((sum, c) => sum + c.parameters, 0) : null,
    dtype: d?.dtype ?? null,
  };
}

/** Base models are diffusers-format folders in MODELS_DIR, recognised by their `model_index.json`. */
@Injectable()
export class ModelsService {
  constructor(@Inject(APP_CONFIG) private readonly config: RuntimeConfig) {}

  async listModels(): Promise<BaseModelListDto> {
    let names: string[];
    try {
      // Symlinked folders count too (a shared model store linked in); describe() needs their model_index.json.
      names = (await readdir(this.config.modelsDir, { withFileTypes: true }))
        .filter((entry) => (entry.isDirectory() || entry.isSymbolicLink()) && !entry.name.startsWith('.'))
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

  /** The configs that decide an installed model's sizes and activation memory, or null when they cannot be read. */
  async findGeometry(id: string): Promise<ModelGeometry | null> {
    const folder = await this.findModelDir(id);
    return folder ? readModelGeometry(folder).catch(() => null) : null;
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
    const [unet, description] = await Promise.all([readJson(join(folder, 'unet', 'config.json')), describeModelFolder(folder).catch(() => null)]);
    let modelCard: string | null = null;
    try {
      const card = await readFile(join(folder, 'README.md'));
      modelCard = card.subarray(0, MAX_CARD_BYTES).toString('utf8');
    } catch {
      modelCard = null;
    }
    return {
      id: name,
      ...describedFields(description),
      unetClass: typeof unet?._class_name === 'string' ? unet._class_name : null,
      modelIndex,
      modelCard,
    };
  }
}
