// Diffusers-format model folders:
//   model_index.json                      pipeline class + one [library, class] pair per component
//   unet/config.json + diffusion_pytorch_model.safetensors       (diffusers components)
//   text_encoder/config.json + model.safetensors                  (transformers components)
//   tokenizer/tokenizer.json, tokenizer_config.json, ...
//   scheduler/scheduler_config.json
// Sharded checkpoints are read through `<weights>.safetensors.index.json` (weight_map: tensor → shard).
// Every write is atomic per file, and `writeModelFolder` swaps a complete folder into place, so a crash
// never leaves a half-written model behind.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from './atomic-write';
import {
  readSafetensorsFile,
  readSafetensorsHeader,
  serializeSafetensors,
  type NamedTensor,
  type SafetensorsFile,
  type TensorCollection,
} from './safetensors';
import type { DType, WritableDType } from './safetensors-dtype';

export const MODEL_INDEX_NAME = 'model_index.json';
export const DIFFUSERS_WEIGHTS_NAME = 'diffusion_pytorch_model.safetensors';
export const TRANSFORMERS_WEIGHTS_NAME = 'model.safetensors';
/** diffusers version stamped into files this project writes (the format it follows). */
export const DEFAULT_DIFFUSERS_VERSION = '0.32.0';
/** transformers version stamped into transformers component configs written here. */
export const DEFAULT_TRANSFORMERS_VERSION = '4.46.0';

/** `[library, class]` in model_index.json; `[null, null]` marks an optional component left out. */
export type ComponentSpec = [string | null, string | null];

export interface ModelIndex {
  _class_name: string;
  _diffusers_version: string;
  /** Components (`[library, class]` pairs) and pipeline options (e.g. `requires_safety_checker`). */
  [key: string]: unknown;
}

export type ComponentLibrary = 'diffusers' | 'transformers';
export type JsonObject = Record<string, unknown>;

export class ModelFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelFolderError';
  }
}

function isComponentSpec(v: unknown): v is ComponentSpec {
  return Array.isArray(v) && v.length === 2 && v.every((x) => x === null || typeof x === 'string');
}

/** Component entries of a model index: name → [library, class] (keys starting with "_" are not components). */
export function listComponents(index: ModelIndex): Array<{ name: string; library: string | null; className: string | null }> {
  return Object.entries(index)
    .filter(([k, v]) => !k.startsWith('_') && isComponentSpec(v))
    .map(([name, v]) => ({ name, library: (v as ComponentSpec)[0], className: (v as ComponentSpec)[1] }));
}

/** JSON as Python's `json.dumps(obj, indent=2, sort_keys=True)` lays it out, plus the trailing newline diffusers adds. */
export function stableJson(value: unknown): string {
  const sortKeys = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v && typeof v === 'object') {
      const out: JsonObject = {};
      for (const k of Object.keys(v as JsonObject).sort()) out[k] = sortKeys((v as JsonObject)[k]);
      return out;
    }
    return v;
  };
  return `${JSON.stringify(sortKeys(value), null, 2)}\n`;
}

async function readJson(file: string): Promise<JsonObject> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ModelFolderError(`missing file ${file}`);
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ModelFolderError(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ModelFolderError(`${file} is not a JSON object`);
  return parsed as JsonObject;
}

async function exists(file: string): Promise<boolean> {
  try {
    await fsp.access(file);
    return true;
  } catch {
    return false;
  }
}

export async function readModelIndex(dir: string): Promise<ModelIndex> {
  const index = await readJson(path.join(dir, MODEL_INDEX_NAME));
  if (typeof index._class_name !== 'string') throw new ModelFolderError(`${path.join(dir, MODEL_INDEX_NAME)} has no _class_name`);
  return index as ModelIndex;
}

export async function writeModelIndex(dir: string, index: ModelIndex): Promise<void> {
  await writeFileAtomic(path.join(dir, MODEL_INDEX_NAME), stableJson(index));
}

/** Name of a component's config file: schedulers and tokenizers use their own names. */
export function configFileName(component: string, className?: string | null): string {
  if (component === 'scheduler' || (className && /Scheduler$/.test(className))) return 'scheduler_config.json';
  if (component === 'tokenizer' || (className && /Tokenizer(Fast)?$/.test(className))) return 'tokenizer_config.json';
  if (component === 'feature_extractor' || (className && /(ImageProcessor|FeatureExtractor)$/.test(className))) return 'preprocessor_config.json';
  return 'config.json';
}

const CONFIG_CANDIDATES = ['config.json', 'scheduler_config.json', 'preprocessor_config.json', 'tokenizer_config.json'];

/** Reads a component's config (config.json, or scheduler_config.json etc. where that is what it has). */
export async function readComponentConfig(dir: string, component: string): Promise<JsonObject> {
  const componentDir = path.join(dir, component);
  const preferred = configFileName(component);
  for (const name of [preferred, ...CONFIG_CANDIDATES.filter((n) => n !== preferred)]) {
    const file = path.join(componentDir, name);
    if (await exists(file)) return readJson(file);
  }
  throw new ModelFolderError(`no config file in ${componentDir}`);
}

export async function writeComponentConfig(dir: string, component: string, config: JsonObject): Promise<void> {
  const className = typeof config._class_name === 'string' ? config._class_name : null;
  await writeFileAtomic(path.join(dir, component, configFileName(component, className)), stableJson(config));
}

/** Inserts a variant before the extension, as diffusers does: model.safetensors + fp16 → model.fp16.safetensors. */
export function addVariant(fileName: string, variant?: string): string {
  if (!variant) return fileName;
  const parts = fileName.split('.');
  parts.splice(parts.length - 1, 0, variant);
  return parts.join('.');
}

/** Which library a component config comes from: transformers configs carry model_type/architectures. */
export function componentLibrary(config: JsonObject): ComponentLibrary {
  if (typeof config._class_name === 'string' || typeof config._diffusers_version === 'string') return 'diffusers';
  if ('model_type' in config || 'architectures' in config || 'transformers_version' in config) return 'transformers';
  return 'diffusers';
}

export function weightsFileName(library: ComponentLibrary, variant?: string): string {
  return addVariant(library === 'transformers' ? TRANSFORMERS_WEIGHTS_NAME : DIFFUSERS_WEIGHTS_NAME, variant);
}

export interface WeightsLocation {
  /** A single weights file, or the index of a sharded checkpoint. */
  kind: 'single' | 'sharded';
  file: string;
}

/** Finds a component's safetensors weights (single file first, then a shard index). */
export async function locateComponentWeights(dir: string, component: string, variant?: string): Promise<WeightsLocation> {
  const componentDir = path.join(dir, component);
  for (const base of [DIFFUSERS_WEIGHTS_NAME, TRANSFORMERS_WEIGHTS_NAME]) {
    const single = path.join(componentDir, addVariant(base, variant));
    if (await exists(single)) return { kind: 'single', file: single };
    const index = path.join(componentDir, addVariant(`${base}.index.json`, variant));
    if (await exists(index)) return { kind: 'sharded', file: index };
  }
  throw new ModelFolderError(`no safetensors weights${variant ? ` (variant ${variant})` : ''} in ${componentDir}`);
}

export interface ReadWeightsOptions {
  /** e.g. "fp16" for diffusion_pytorch_model.fp16.safetensors. */
  variant?: string;
  filter?: (name: string) => boolean;
}

/** A shard index's weight map as shard file → the tensors it holds (shard names may not leave the folder). */
async function readShardMap(indexFile: string, filter?: (name: string) => boolean): Promise<Map<string, Set<string>>> {
  const index = await readJson(indexFile);
  const weightMap = index.weight_map as Record<string, unknown> | undefined;
  if (!weightMap || typeof weightMap !== 'object') throw new ModelFolderError(`${indexFile} has no weight_map`);
  const byShard = new Map<string, Set<string>>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\') || shard.startsWith('.')) {
      throw new ModelFolderError(`${indexFile}: invalid shard name for "${name}"`);
    }
    if (filter && !filter(name)) continue;
    if (!byShard.has(shard)) byShard.set(shard, new Set());
    byShard.get(shard)!.add(name);
  }
  return byShard;
}

/** Reads a sharded checkpoint through its `*.safetensors.index.json` weight map. */
export async function readShardedSafetensors(indexFile: string, opts: { filter?: (name: string) => boolean } = {}): Promise<SafetensorsFile> {
  const byShard = await readShardMap(indexFile, opts.filter);
  const tensors = new Map<string, NamedTensor>();
  const dtypes = new Map<string, DType>();
  const metadata: Record<string, string> = {};
  for (const shard of [...byShard.keys()].sort()) {
    const wanted = byShard.get(shard)!;
    const file = await readSafetensorsFile(path.join(path.dirname(indexFile), shard), { filter: (n) => wanted.has(n) });
    for (const name of wanted) {
      const t = file.tensors.get(name);
      if (!t) throw new ModelFolderError(`${indexFile}: "${name}" is not in shard ${shard}`);
      tensors.set(name, t);
      dtypes.set(name, file.dtypes.get(name)!);
    }
    Object.assign(metadata, file.metadata);
  }
  return { tensors, metadata, dtypes };
}

/** Every tensor's stored dtype and shape from a component's safetensors header(s), without reading tensor data. */
export async function readComponentWeightsInfo(dir: string, component: string, variant?: string): Promise<Map<string, { dtype: string; shape: number[] }>> {
  const where = await locateComponentWeights(dir, component, variant);
  const out = new Map<string, { dtype: string; shape: number[] }>();
  const addHeader = async (file: string, wanted?: Set<string>) => {
    for (const [name, info] of (await readSafetensorsHeader(file)).tensors) if (!wanted || wanted.has(name)) out.set(name, { dtype: info.dtype, shape: info.shape });
  };
  if (where.kind === 'single') {
    await addHeader(where.file);
    return out;
  }
  for (const [shard, names] of await readShardMap(where.file)) await addHeader(path.join(path.dirname(where.file), shard), names);
  return out;
}

/** Reads all weights of a component (e.g. "unet"), single-file or sharded. */
export async function readComponentWeights(dir: string, component: string, opts: ReadWeightsOptions = {}): Promise<SafetensorsFile> {
  const where = await locateComponentWeights(dir, component, opts.variant);
  return where.kind === 'single'
    ? readSafetensorsFile(where.file, { filter: opts.filter })
    : readShardedSafetensors(where.file, { filter: opts.filter });
}

export interface WriteComponentOptions {
  /** Storage type of the weights (default F32). */
  dtype?: WritableDType;
  /** Overrides the library guessed from the config (decides the weights file name). */
  library?: ComponentLibrary;
  variant?: string;
  /** Extra "__metadata__" entries; "format": "pt" is always set (transformers refuses files without it). */
  metadata?: Record<string, string>;
}

/**
 * Writes a component: weights first, config last, each atomically, so a readable config always comes
 * with complete weights. `tensors` may be omitted for weightless components (schedulers).
 */
export async function writeComponent(
  dir: string,
  component: string,
  config: JsonObject,
  tensors?: TensorCollection | null,
  opts: WriteComponentOptions = {},
): Promise<void> {
  const library = opts.library ?? componentLibrary(config);
  if (tensors) {
    const file = path.join(dir, component, weightsFileName(library, opts.variant));
    const bytes = serializeSafetensors(tensors, { dtype: opts.dtype ?? 'F32', metadata: { ...opts.metadata, format: 'pt' } });
    await writeFileAtomic(file, bytes);
  }
  await writeComponentConfig(dir, component, config);
}

/** Builds a model_index.json object from `[library, class]` pairs. */
export function createModelIndex(
  className: string,
  components: Record<string, ComponentSpec>,
  extra: JsonObject = {},
  diffusersVersion = DEFAULT_DIFFUSERS_VERSION,
): ModelIndex {
  return { ...extra, ...components, _class_name: className, _diffusers_version: diffusersVersion };
}

/**
 * Writes a whole model folder atomically: everything goes into a temporary sibling folder, which then
 * replaces `dir` by rename. `build` receives the temporary folder and writes components into it.
 */
export async function writeModelFolder(dir: string, build: (tmpDir: string) => Promise<void>): Promise<void> {
  const parent = path.dirname(path.resolve(dir));
  await fsp.mkdir(parent, { recursive: true });
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const tmp = path.join(parent, `.${path.basename(dir)}.tmp-${tag}`);
  const old = path.join(parent, `.${path.basename(dir)}.old-${tag}`);
  await fsp.mkdir(tmp);
  try {
    await build(tmp);
    if (!(await exists(path.join(tmp, MODEL_INDEX_NAME)))) throw new ModelFolderError('model folder build wrote no model_index.json');
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  // Directories cannot be renamed over non-empty ones: move the old folder aside first; the window in
  // which `dir` is missing is two renames long, and the old copy survives until the new one is in place.
  const hadOld = await exists(dir);
  if (hadOld) await fsp.rename(dir, old);
  try {
    await fsp.rename(tmp, dir);
  } catch (e) {
    if (hadOld) await fsp.rename(old, dir).catch(() => undefined);
    await fsp.rm(tmp, { recursive: true, force: true });
    throw e;
  }
  if (hadOld) await fsp.rm(old, { recursive: true, force: true });
}
