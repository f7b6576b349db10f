import { join } from 'node:path';
import { BUNDLED_MODEL_NAME } from '../../src/engine/models/default-model';
import { saveDiffusionModel } from '../../src/engine/models/diffusion-model';
import { createRandomModel } from '../../src/engine/models/random-model';
import { createLoraAdapter, LoraAdapter } from '../../src/engine/lora/lora-adapter';
import { serializeLoraAdapter } from '../../src/engine/lora/lora-file';
import { attentionProjectionModules } from '../../src/engine/models/unet-2d-condition.model';
import { Random } from '../../src/engine/schedulers';

/**
 * A tiny randomly initialised model (16 px, two UNet levels) saved as a real diffusers folder under the
 * bundled model's name, so the API, the worker and the engine run for real in a fraction of a second.
 */
export async function writeTinyModel(modelsDir: string, seed = 7, name = BUNDLED_MODEL_NAME): Promise<string> {
  const dir = join(modelsDir, name);
  await saveDiffusionModel(dir, createRandomModel({ seed }), { dtype: 'F32' });
  return dir;
}

/** A LoRA for the tiny model with non-zero factors, so it visibly changes the images. */
export function tinyLora(seed: number, rank = 2): { adapter: LoraAdapter; file: Buffer } {
  const model = createRandomModel({ seed: 7 });
  const shapes = new Map(attentionProjectionModules(model.unetConfig).map((m) => [m, model.unetParams.get(`${m}.weight`)!.shape as [number, number]]));
  const adapter = createLoraAdapter(shapes, { rank, alpha: rank, seed });
  const rng = new Random(seed + 100);
  for (const layer of adapter.layers.values()) for (let k = 0; k < layer.b.length; k++) layer.b[k] = rng.normal() * 0.3;
  return { adapter, file: serializeLoraAdapter(adapter) };
}
