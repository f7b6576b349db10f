/**
 * LoRA adapter files (.safetensors).
 *
 * Written as diffusers' `StableDiffusionLoraLoaderMixin.save_lora_weights` writes them, so diffusers
 * (`pipe.load_lora_weights`) and peft can load them:
 *   unet.<module>.lora_A.weight [r, in], unet.<module>.lora_B.weight [out, r]
 *   convolutions as peft's LoRA on Conv2d: lora_A [r, c, k, k], lora_B [out, r, 1, 1]
 *   __metadata__: format = "pt"; lora_adapter_metadata = JSON (indent 2, sorted keys) of the peft
 *   LoraConfig fields, each prefixed with the component name ("unet.r", "unet.lora_alpha",
 *   "unet.target_modules", "unet.peft_type", and "unet.rank_pattern"/"unet.alpha_pattern" when layers
 *   differ). diffusers ≥ 0.33 strips that prefix before building the LoraConfig, and uses the config
 *   instead of inferring one, so alpha ≠ rank survives. Plain "rank"/"alpha" keys are added for
 *   simple readers.
 *
 * Read also: keys without the `unet.` prefix or with peft's `base_model.model.` prefix; legacy
 * diffusers `<module>.lora.down/up.weight`, `lora_linear_layer.down/up` and attention-processor
 * `…processor.to_q_lora.down.weight` keys; kohya `lora_unet_<module with _>.lora_down/lora_up.weight`
 * with per-layer `.alpha` scalars (LoCon: k×k `lora_down` and 1×1 `lora_up` on convolutions);
 * `<module>.alpha` network alphas; any float storage type.
 * Text-encoder LoRA keys are listed as ignored.
 *
 * Alpha of a layer, first found: its own alpha tensor (kohya: 0 means alpha = rank) →
 * lora_adapter_metadata (alpha_pattern, then lora_alpha, else peft's default 8, as diffusers builds
 * the LoraConfig from it alone; use_rslora becomes the equivalent alpha·√r) → plain "alpha"
 * metadata → kohya "ss_network_alpha" → rank (diffusers' default without alphas: scale 1).
 */
import {
  parseSafetensors,
  readSafetensorsFile,
  serializeSafetensors,
  writeSafetensorsFile,
  type NamedTensor,
  type WritableDType,
} from '../io/safetensors';
import {
  adapterFromLayers,
  kernelSizeOf,
  LoraError,
  mostCommon,
  throwIfProblems,
  validateAgainst,
  validateLoraAdapter,
  type LoraAdapter,
  type LoraLayer,
  type ModuleShape,
} from './lora-adapter';

export type LoraKeyFormat = 'peft' | 'diffusers-legacy' | 'kohya';

export interface LoraReadOptions {
  /** The base model's adaptable layers: resolves kohya names and validates shapes (validateAgainst). */
  moduleShapes?: Map<string, ModuleShape>;
  /** Known module names for kohya name resolution when shapes are not at hand. */
  knownModules?: Iterable<string>;
}

export interface LoraReadResult {
  adapter: LoraAdapter;
  /** Key styles found in the file. */
  formats: LoraKeyFormat[];
  /** Keys belonging to other components (text encoders); not loaded. */
  ignoredKeys: string[];
}

export interface LoraWriteOptions {
  /** Storage type of the factors (default F32). */
  dtype?: WritableDType;
}

export const LORA_ADAPTER_METADATA_KEY = 'lora_adapter_metadata';
/** Component name diffusers uses for the UNet's keys and metadata. */
export const UNET_PREFIX = 'unet';
/** Metadata keys this module owns; everything else in `adapter.metadata` is carried through. */
/** peft LoraConfig's default lora_alpha. */
const PEFT_DEFAULT_ALPHA = 8;
const RESERVED_METADATA = new Set(['format', LORA_ADAPTER_METADATA_KEY, 'rank', 'alpha']);

// ---- writing ---------------------------------------------------------------------------------

function sortKeysDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as Record<string, unknown>).sort()) out[k] = sortKeysDeep((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** The peft LoraConfig fields (unprefixed) describing the adapter's layers. */
export function peftConfigOf(adapter: LoraAdapter): Record<string, unknown> {
  const modules = [...adapter.layers.keys()].sort();
  const layers = modules.map((m) => adapter.layers.get(m)!);
  // Recomputed from the layers so the config always matches the tensors.
  const r = mostCommon(layers.map((l) => l.rank))!;
  const loraAlpha = mostCommon(layers.map((l) => l.alpha))!;
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  modules.forEach((m, i) => {
    if (layers[i].rank !== r) rankPattern[m] = layers[i].rank;
    if (layers[i].alpha !== loraAlpha) alphaPattern[m] = layers[i].alpha;
  });
  const config: Record<string, unknown> = { r, lora_alpha: loraAlpha, target_modules: modules, peft_type: 'LORA' };
  if (Object.keys(rankPattern).length > 0) config.rank_pattern = rankPattern;
  if (Object.keys(alphaPattern).length > 0) config.alpha_pattern = alphaPattern;
  return config;
}

/** Tensors and metadata of the file image, in diffusers/peft naming. */
export function loraFileContents(adapter: LoraAdapter): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  validateLoraAdapter(adapter);
  const tensors = new Map<string, NamedTensor>();
  for (const [m, l] of adapter.layers) {
    const k = l.kernelSize;
    const aShape = k === undefined ? [l.rank, l.inFeatures] : [l.rank, l.inFeatures / (k * k), k, k];
    const bShape = k === undefined ? [l.outFeatures, l.rank] : [l.outFeatures, l.rank, 1, 1];
    tensors.set(`${UNET_PREFIX}.${m}.lora_A.weight`, { shape: aShape, data: l.a });
    tensors.set(`${UNET_PREFIX}.${m}.lora_B.weight`, { shape: bShape, data: l.b });
  }
  const config = peftConfigOf(adapter);
  const prefixed: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) prefixed[`${UNET_PREFIX}.${k}`] = v;
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(adapter.metadata)) if (!RESERVED_METADATA.has(k)) metadata[k] = v;
  metadata.format = 'pt';
  metadata[LORA_ADAPTER_METADATA_KEY] = JSON.stringify(sortKeysDeep(prefixed), null, 2);
  metadata.rank = String(config.r);
  metadata.alpha = String(config.lora_alpha);
  return { tensors, metadata };
}

export function serializeLoraAdapter(adapter: LoraAdapter, opts: LoraWriteOptions = {}): Buffer {
  const { tensors, metadata } = loraFileContents(adapter);
  return serializeSafetensors(tensors, { dtype: opts.dtype ?? 'F32', metadata });
}

/** Writes the adapter atomically (temporary file, fsync, rename). */
export async function writeLoraFile(path: string, adapter: LoraAdapter, opts: LoraWriteOptions = {}): Promise<void> {
  const { tensors, metadata } = loraFileContents(adapter);
  await writeSafetensorsFile(path, tensors, { dtype: opts.dtype ?? 'F32', metadata });
}

// ---- kohya names ----------------------------------------------------------------------------

/** kohya's name for a UNet module: `lora_unet_` + the path with every "." replaced by "_". */
export function kohyaLoraName(module: string): string {
  return `lora_unet_${module.replace(/\./g, '_')}`;
}

// Multi-word names in diffusers' UNet, used only when no module list is given.
const COMPOUNDS = [
  'down_blocks', 'up_blocks', 'mid_block', 'transformer_blocks', 'to_q', 'to_k', 'to_v', 'to_out',
  'proj_in', 'proj_out', 'time_emb_proj', 'conv_shortcut', 'conv_in', 'conv_out', 'conv_norm_out',
  'time_embedding', 'linear_1', 'linear_2', 'add_embedding', 'class_embedding', 'add_time_proj',
].map((c) => c.split('_'));

/** Best-effort path for a kohya name without the model at hand (greedy longest compound match). */
export function guessKohyaModule(loraName: string): string {
  const tokens = loraName.replace(/^lora_unet_/, '').split('_');
  const parts: string[] = [];
  let i = 0;
  while (i < tokens.length) {
    let taken = 1;
    for (const c of COMPOUNDS) {
      if (c.length > taken && c.every((t, j) => tokens[i + j] === t)) taken = c.length;
    }
    parts.push(tokens.slice(i, i + taken).join('_'));
    i += taken;
  }
  return parts.join('.');
}

/** Resolves kohya names against the base model's module names (the "_" → "." mapping is ambiguous). */
export class KohyaNameIndex {
  private readonly byName = new Map<string, string[]>();

  constructor(modules: Iterable<string>) {
    for (const m of modules) {
      const k = kohyaLoraName(m);
      const list = this.byName.get(k);
      if (list) list.push(m);
      else this.byName.set(k, [m]);
    }
  }

  /** The module path, or an error message. */
  resolve(loraName: string): { module: string } | { error: string } {
    const hits = this.byName.get(loraName);
    if (!hits) return { error: `kohya name "${loraName}" matches no linear or convolution layer of the base model` };
    if (hits.length > 1) return { error: `kohya name "${loraName}" is ambiguous: ${hits.join(', ')}` };
    return { module: hits[0] };
  }
}

// ---- reading --------------------------------------------------------------------------------

type Part = 'A' | 'B' | 'alpha';

interface PendingLayer {
  kohya: boolean;
  a?: { key: string; tensor: NamedTensor };
  b?: { key: string; tensor: NamedTensor };
  alpha?: { key: string; value: number; kohya: boolean };
}

const TEXT_ENCODER_KEY = /^(?:text_encoder(?:_\d+)?\.|lora_te\d*_)/;
const KOHYA_KEY = /^(lora_unet_[^.]+)\.(lora_down\.weight|lora_up\.weight|alpha|dora_scale)$/;
const PEFT_KEY = /^(.+)\.lora_(A|B)\.weight$/;
const LEGACY_KEY = /^(.+)\.(?:lora|lora_linear_layer)\.(down|up)\.weight$/;
const PROCESSOR_KEY = /^(.+)\.processor\.(to_q|to_k|to_v|to_out)_lora\.(down|up)\.weight$/;
const ALPHA_KEY = /^(.+)\.alpha$/;
const DORA_KEY = /(?:\.lora_magnitude_vector(?:\.weight)?|\.dora_scale)$/;
const LORA_BIAS_KEY = /\.lora_(?:B|up)\.bias$|\.lora\.up\.bias$/;

function stripPrefixes(key: string): string {
  let k = key;
  for (;;) {
    if (k.startsWith('base_model.model.')) k = k.slice('base_model.model.'.length);
    else if (k.startsWith(`${UNET_PREFIX}.`)) k = k.slice(UNET_PREFIX.length + 1);
    else return k;
  }
}

function shapeText(shape: number[]): string {
  return `[${shape.join(', ')}]`;
}

/** [rows, cols] of an up/B factor: 2-D, or a 1×1 convolution kernel [rows, cols, 1, 1]. */
function matrixShape(shape: number[]): [number, number] | null {
  if (shape.length === 2) return [shape[0], shape[1]];
  if (shape.length === 4 && shape[2] === 1 && shape[3] === 1) return [shape[0], shape[1]];
  return null;
}

/** [rank, in] of a down/A factor and its kernel size: 2-D (linear), or a square kernel [rank, c, k, k] (in = c·k²). */
function downFactorShape(shape: number[]): { rows: number; cols: number; kernelSize?: number } | null {
  if (shape.length === 2) return { rows: shape[0], cols: shape[1] };
  if (shape.length === 4 && shape[2] === shape[3] && shape[2] >= 1) return { rows: shape[0], cols: shape[1] * shape[2] * shape[3], kernelSize: shape[2] };
  return null;
}

function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) if (data[i] - data[i] !== 0) return i;
  return -1;
}

interface PeftMetadata {
  r?: number;
  loraAlpha?: number;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  useRslora: boolean;
}

function numberRecord(v: unknown, field: string): Record<string, number> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new LoraError(`lora_adapter_metadata: ${field} must be an object`);
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new LoraError(`lora_adapter_metadata: ${field}["${k}"] is not a finite number`);
    out[k] = x;
  }
  return out;
}

/** The UNet's peft LoraConfig from `lora_adapter_metadata` (component-prefixed or plain), or null. */
function parsePeftMetadata(raw: string | undefined): PeftMetadata | null {
  if (raw === undefined || raw === '') return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new LoraError(`lora_adapter_metadata is not valid JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new LoraError('lora_adapter_metadata is not a JSON object');
  const all = parsed as Record<string, unknown>;
  const prefix = `${UNET_PREFIX}.`;
  const cfg: Record<string, unknown> = {};
  if (Object.keys(all).some((k) => k.startsWith(prefix))) {
    for (const [k, v] of Object.entries(all)) if (k.startsWith(prefix)) cfg[k.slice(prefix.length)] = v;
  } else {
    // Model-level saves (`unet.save_lora_adapter`) store the config unprefixed; other components' keys contain a dot.
    for (const [k, v] of Object.entries(all)) if (!k.includes('.')) cfg[k] = v;
  }
  if (Object.keys(cfg).length === 0) return null;
  if (cfg.peft_type !== undefined && cfg.peft_type !== null && cfg.peft_type !== 'LORA') {
    throw new LoraError(`lora_adapter_metadata: peft_type ${JSON.stringify(cfg.peft_type)} is not LORA`);
  }
  if (cfg.use_dora === true) throw new LoraError('lora_adapter_metadata: DoRA adapters (use_dora) are not supported');
  const out: PeftMetadata = {
    rankPattern: numberRecord(cfg.rank_pattern, 'rank_pattern'),
    alphaPattern: numberRecord(cfg.alpha_pattern, 'alpha_pattern'),
    useRslora: cfg.use_rslora === true,
  };
  if (cfg.r !== undefined) {
    if (typeof cfg.r !== 'number' || !Number.isSafeInteger(cfg.r) || cfg.r < 1) throw new LoraError(`lora_adapter_metadata: r ${JSON.stringify(cfg.r)} is not a positive integer`);
    out.r = cfg.r;
  }
  if (cfg.lora_alpha !== undefined) {
    if (typeof cfg.lora_alpha !== 'number' || !Number.isFinite(cfg.lora_alpha) || cfg.lora_alpha <= 0) {
      throw new LoraError(`lora_adapter_metadata: lora_alpha ${JSON.stringify(cfg.lora_alpha)} is not a positive number`);
    }
    out.loraAlpha = cfg.lora_alpha;
  }
  return out;
}

/** peft's pattern lookup (`(.*\.)?key$`), with keys taken literally; a leading "^" anchors the whole name. */
function patternValue(pattern: Record<string, number>, module: string): number | undefined {
  for (const [key, v] of Object.entries(pattern)) {
    if (key.startsWith('^')) {
      if (module === key.slice(1)) return v;
    } else if (module === key || module.endsWith(`.${key}`)) {
      return v;
    }
  }
  return undefined;
}

function metadataNumber(metadata: Record<string, string>, key: string): number | undefined {
  const raw = metadata[key];
  if (raw === undefined || raw.trim() === '') return undefined;
  const v = Number(raw);
  return Number.isFinite(v) && v > 0 ? v : undefined;
}

/**
 * Builds an adapter from a file's tensors and metadata. Throws LoraError listing every problem:
 * non-LoRA keys, missing halves, rank mismatches between A and B (or against the metadata),
 * non-finite values, and — with `moduleShapes` — shape mismatches against the base model.
 */
export function loraAdapterFromTensors(
  tensors: Map<string, NamedTensor>,
  metadata: Record<string, string>,
  opts: LoraReadOptions = {},
): LoraReadResult {
  const problems: string[] = [];
  const ignoredKeys: string[] = [];
  const formats = new Set<LoraKeyFormat>();
  const pending = new Map<string, PendingLayer>();
  const known = opts.knownModules ?? opts.moduleShapes?.keys();
  const kohyaIndex = known ? new KohyaNameIndex(known) : null;

  const put = (module: string, part: Part, key: string, tensor: NamedTensor, kohya: boolean): void => {
    let p = pending.get(module);
    if (!p) pending.set(module, (p = { kohya }));
    p.kohya ||= kohya;
    const existing = part === 'A' ? p.a : part === 'B' ? p.b : p.alpha;
    if (existing) {
      problems.push(`"${existing.key}" and "${key}" both give ${part === 'alpha' ? 'alpha' : `lora_${part}`} of ${module}`);
      return;
    }
    if (part === 'A') p.a = { key, tensor };
    else if (part === 'B') p.b = { key, tensor };
    else {
      if (tensor.data.length !== 1) {
        problems.push(`"${key}": alpha must be a scalar, got shape ${shapeText(tensor.shape)}`);
        return;
      }
      p.alpha = { key, value: tensor.data[0], kohya };
    }
  };

  for (const [key, tensor] of tensors) {
    const k = stripPrefixes(key);
    if (TEXT_ENCODER_KEY.test(k)) {
      ignoredKeys.push(key);
      continue;
    }
    if (DORA_KEY.test(k)) {
      problems.push(`"${key}": DoRA adapters are not supported`);
      continue;
    }
    if (LORA_BIAS_KEY.test(k)) {
      problems.push(`"${key}": LoRA bias terms are not supported`);
      continue;
    }
    let m: RegExpExecArray | null;
    if ((m = KOHYA_KEY.exec(k))) {
      formats.add('kohya');
      let module: string;
      if (kohyaIndex) {
        const r = kohyaIndex.resolve(m[1]);
        if ('error' in r) {
          problems.push(`"${key}": ${r.error}`);
          continue;
        }
        module = r.module;
      } else {
        module = guessKohyaModule(m[1]);
      }
      const part: Part = m[2] === 'lora_down.weight' ? 'A' : m[2] === 'lora_up.weight' ? 'B' : 'alpha';
      put(module, part, key, tensor, true);
    } else if ((m = PEFT_KEY.exec(k))) {
      formats.add('peft');
      put(m[1], m[2] === 'A' ? 'A' : 'B', key, tensor, false);
    } else if ((m = PROCESSOR_KEY.exec(k))) {
      formats.add('diffusers-legacy');
      const module = `${m[1]}.${m[2] === 'to_out' ? 'to_out.0' : m[2]}`;
      put(module, m[3] === 'down' ? 'A' : 'B', key, tensor, false);
    } else if ((m = LEGACY_KEY.exec(k))) {
      formats.add('diffusers-legacy');
      put(m[1], m[2] === 'down' ? 'A' : 'B', key, tensor, false);
    } else if ((m = ALPHA_KEY.exec(k))) {
      put(m[1], 'alpha', key, tensor, false);
    } else {
      problems.push(`"${key}" is not a LoRA tensor (expected <module>.lora_A/lora_B.weight, <module>.lora.down/up.weight or kohya lora_unet_*.lora_down/lora_up.weight/alpha)`);
    }
  }

  const peft = parsePeftMetadata(metadata[LORA_ADAPTER_METADATA_KEY]);
  const plainAlpha = metadataNumber(metadata, 'alpha');
  const kohyaAlpha = metadataNumber(metadata, 'ss_network_alpha');

  const layers = new Map<string, LoraLayer>();
  for (const [module, p] of pending) {
    if (!p.a || !p.b) {
      if (!p.a && !p.b) problems.push(`${module}: has an alpha ("${p.alpha!.key}") but no LoRA factors`);
      else if (!p.b) problems.push(`${module}: "${p.a!.key}" (A / down) has no matching B / up tensor`);
      else problems.push(`${module}: "${p.b.key}" (B / up) has no matching A / down tensor`);
      continue;
    }
    const aShape = downFactorShape(p.a.tensor.shape);
    const bShape = matrixShape(p.b.tensor.shape);
    if (!aShape) problems.push(`"${p.a.key}": shape ${shapeText(p.a.tensor.shape)} is not a LoRA down factor [rank, in] or [rank, channels, k, k]`);
    if (!bShape) problems.push(`"${p.b.key}": shape ${shapeText(p.b.tensor.shape)} is not a LoRA up factor [out, rank] or [out, rank, 1, 1]`);
    if (!aShape || !bShape) continue;
    const { rows: rank, cols: inFeatures } = aShape;
    // A 2-D factor on a 1×1 convolution of the base model is the same matrix: take the base's kernel.
    const baseShape = opts.moduleShapes?.get(module);
    const kernelSize = aShape.kernelSize ?? (baseShape ? kernelSizeOf(baseShape) : undefined);
    const [outFeatures, bRank] = bShape;
    if (rank !== bRank) {
      problems.push(`${module}: rank mismatch, A "${p.a.key}" is ${shapeText(p.a.tensor.shape)} (rank ${rank}) but B "${p.b.key}" is ${shapeText(p.b.tensor.shape)} (rank ${bRank})`);
      continue;
    }
    if (rank < 1 || inFeatures < 1 || outFeatures < 1) {
      problems.push(`${module}: empty factors (rank ${rank}, in ${inFeatures}, out ${outFeatures})`);
      continue;
    }
    let bad = false;
    for (const { key, tensor } of [p.a, p.b]) {
      const i = firstNonFinite(tensor.data);
      if (i >= 0) {
        problems.push(`"${key}": non-finite value ${tensor.data[i]} at index ${i}`);
        bad = true;
      }
    }
    if (peft?.r !== undefined) {
      const expected = patternValue(peft.rankPattern, module) ?? peft.r;
      if (expected !== rank) {
        problems.push(`${module}: lora_adapter_metadata gives rank ${expected}, but the tensors have rank ${rank}`);
        bad = true;
      }
    }
    let alpha: number | undefined;
    if (p.alpha) {
      const v = p.alpha.value;
      if (!Number.isFinite(v) || v < 0 || (v === 0 && !p.alpha.kohya)) {
        problems.push(`"${p.alpha.key}": alpha ${v} is not a positive finite number`);
        bad = true;
      }
      // kohya treats alpha 0 as "alpha = rank".
      alpha = v === 0 ? rank : v;
    } else if (peft) {
      // diffusers builds the LoraConfig from this metadata alone, so peft's default alpha applies when absent.
      const a = patternValue(peft.alphaPattern, module) ?? peft.loraAlpha ?? PEFT_DEFAULT_ALPHA;
      // rsLoRA scales by alpha/√r; alpha·√r over r is the same factor.
      alpha = peft.useRslora ? a * Math.sqrt(rank) : a;
    } else if (plainAlpha !== undefined) {
      alpha = plainAlpha;
    } else if (p.kohya && kohyaAlpha !== undefined) {
      alpha = kohyaAlpha;
    }
    if (bad) continue;
    // Copies keep the adapter independent of the file buffer; kernels are kept flattened.
    const layer: LoraLayer = {
      a: Float32Array.from(p.a.tensor.data),
      b: Float32Array.from(p.b.tensor.data),
      rank,
      inFeatures,
      outFeatures,
      alpha: alpha ?? rank,
    };
    if (kernelSize !== undefined) layer.kernelSize = kernelSize;
    layers.set(module, layer);
  }

  if (problems.length === 0 && layers.size === 0) {
    problems.push(ignoredKeys.length > 0 ? `no UNet LoRA weights (only ${ignoredKeys.length} text-encoder keys)` : 'no LoRA weights found');
  }
  throwIfProblems(problems, 'cannot read LoRA adapter');

  const userMetadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) if (!RESERVED_METADATA.has(k)) userMetadata[k] = v;
  const adapter = adapterFromLayers(layers, userMetadata);
  if (opts.moduleShapes) validateAgainst(adapter, opts.moduleShapes);
  return { adapter, formats: [...formats].sort(), ignoredKeys };
}

/** Reads an in-memory .safetensors LoRA file. */
export function parseLoraAdapter(buf: Uint8Array, opts: LoraReadOptions = {}): LoraReadResult {
  const file = parseSafetensors(buf);
  return loraAdapterFromTensors(file.tensors, file.metadata, opts);
}

export async function readLoraFile(path: string, opts: LoraReadOptions = {}): Promise<LoraReadResult> {
  const file = await readSafetensorsFile(path);
  return loraAdapterFromTensors(file.tensors, file.metadata, opts);
}
