import { readComponentConfig, readComponentWeightsInfo, readModelIndex } from '../io/model-folder';
import { parseAutoencoderKlConfig } from './autoencoder-kl.model';
import { hasVae, readSampleSpace } from './diffusion-model';
import { ImageSizeRules, ModelGeometry, imageSizeRules } from './generation-size';
import { parseUNetConfig } from './unet-config';

/** How weights are stored on disk (safetensors dtypes); `mixed` when a component's tensors differ. */
export type StoredDtype = 'fp16' | 'fp32' | 'bf16' | 'fp64' | 'mixed';

export interface ComponentWeights {
  parameters: number;
  dtype: StoredDtype;
}

/** What a model folder is, read from its configs and the safetensors headers (no weights loaded). */
export interface ModelDescription extends ModelGeometry {
  sizes: ImageSizeRules;
  /** Per component; null when the folder has no weights for it (or no such component: pixel models have no VAE). */
  components: { unet: ComponentWeights | null; textEncoder: ComponentWeights | null; vae: ComponentWeights | null };
  /** The dtype every component is stored in, `mixed` when they differ; null without weights. */
  dtype: StoredDtype | null;
}

const FLOAT_DTYPES: Record<string, Exclude<StoredDtype, 'mixed'>> = { F16: 'fp16', F32: 'fp32', BF16: 'bf16', F64: 'fp64' };

function combine(dtypes: Iterable<StoredDtype>): StoredDtype | null {
  const set = new Set(dtypes);
  return set.size === 0 ? null : set.size === 1 ? [...set][0] : 'mixed';
}

/** Parameter count and stored dtype of a component's floating-point tensors; null when it has no weights. */
async function componentWeights(dir: string, component: string, isBuffer: (name: string) => boolean = () => false): Promise<ComponentWeights | null> {
  let info;
  try {
    info = await readComponentWeightsInfo(dir, component);
  } catch {
    return null;
  }
  let parameters = 0;
  const dtypes: StoredDtype[] = [];
  for (const [name, t] of info) {
    const dtype = FLOAT_DTYPES[t.dtype];
    if (!dtype || isBuffer(name)) continue;
    parameters += t.shape.reduce((a, b) => a * b, 1);
    dtypes.push(dtype);
  }
  const dtype = combine(dtypes);
  return dtype ? { parameters, dtype } : null;
}

/** The configs that decide sample space, sizes and activation memory (cheap: JSON files only). */
export async function readModelGeometry(dir: string): Promise<ModelGeometry> {
  const index = await readModelIndex(dir);
  const unetConfig = parseUNetConfig(await readComponentConfig(dir, 'unet'));
  const vae = (await hasVae(dir)) ? { config: parseAutoencoderKlConfig(await readComponentConfig(dir, 'vae')) } : null;
  let maxLength: number | undefined;
  try {
    const text = await readComponentConfig(dir, 'text_encoder');
    if (typeof text.max_position_embeddings === 'number') maxLength = text.max_position_embeddings;
  } catch {
    // no text encoder config: the estimate assumes CLIP's 77 tokens
  }
  return { unetConfig, sampleSpace: readSampleSpace(index, unetConfig, vae?.config ?? null), vae, maxLength };
}

export async function describeModelFolder(dir: string): Promise<ModelDescription> {
  const geometry = await readModelGeometry(dir);
  const [unet, textEncoder, vae] = await Promise.all([
    componentWeights(dir, 'unet'),
    // Older transformers checkpoints carry the position_ids buffer; it is not a parameter.
    componentWeights(dir, 'text_encoder', (name) => name.endsWith('position_ids')),
    geometry.vae ? componentWeights(dir, 'vae') : Promise.resolve(null),
  ]);
  const components = { unet, textEncoder, vae };
  return {
    ...geometry,
    sizes: imageSizeRules(geometry),
    components,
    dtype: combine(Object.values(components).flatMap((c) => (c ? [c.dtype] : []))),
  };
}
