import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { COMMON_EVAL_PROMPTS, EMOJI_STYLES } from '../../src/lab/emoji-data';
import { writeSafetensorsFile } from '../../src/engine/io/safetensors';
import { initParams } from '../../src/engine/models/param-init';
import { BUNDLED_SCORER_NAME, EmojiScorerFileConfig } from '../../src/engine/scorer/emoji-scorer';
import { DEFAULT_SCORER_ARCHITECTURE, ScorerConfig, scorerParamShapes } from '../../src/engine/scorer/scorer.model';
import { BUNDLED_MODEL_NAME } from '../../src/engine/models/default-model';
import { saveDiffusionModel } from '../../src/engine/models/diffusion-model';
import { createRandomModel } from '../../src/engine/models/random-model';
import { createLoraAdapter, LoraAdapter } from '../../src/engine/lora/lora-adapter';
import { serializeLoraAdapter } from '../../src/engine/lora/lora-file.writer';
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

/**
 * A tiny randomly initialised scorer under the bundled scorer's name whose concepts are the bundled
 * model's common prompts, so previews of the tiny model get concept scores (meaningless, but real).
 */
export async function writeTinyScorer(modelsDir: string, seed = 3): Promise<string> {
  const dir = join(modelsDir, BUNDLED_SCORER_NAME);
  const config: ScorerConfig = { ...DEFAULT_SCORER_ARCHITECTURE, image_size: 8, stem_channels: 8, stage_channels: [8, 16], norm_num_groups: 4, num_styles: EMOJI_STYLES.length, num_concepts: COMMON_EVAL_PROMPTS.length };
  const fileConfig: EmojiScorerFileConfig = {
    ...config,
    styles: [...EMOJI_STYLES],
    concept_ids: COMMON_EVAL_PROMPTS.map((p) => p.id),
    normalization: { layout: 'CHW', channels: 'RGB', range: [-1, 1], background: 'white' },
  };
  await mkdir(dir, { recursive: true });
  await writeSafetensorsFile(join(dir, 'model.safetensors'), initParams(scorerParamShapes(config), seed, { randomNorms: true }), { dtype: 'F32' });
  await writeFile(join(dir, 'config.json'), JSON.stringify(fileConfig));
  return dir;
}
