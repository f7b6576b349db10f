/**
 * Reading LoRA adapter files (.safetensors) in any of the key styles of ./lora-key-format.ts, any
 * float storage type.
 *
 * Alpha of a layer, first found: its own alpha tensor (kohya: 0 means alpha = rank) → the peft
 * LoraConfig (an adapter_config.json sent beside the file, else its lora_adapter_metadata: see
 * ./peft-config.ts) → plain "alpha" or "lora_alpha" metadata → for kohya layers "ss_network_alpha"
 * or "network_alpha" → rank (diffusers' default without alphas: scale 1). A peft-style layer that
 * reaches the last step is listed in `unrecordedAlpha`: peft keeps alpha only in adapter_config.json,
 * so the file alone cannot tell.
 */
import { parseSafetensors, readSafetensorsFile, type NamedTensor } from '../io/safetensors';
import {
  adapterFromLayers,
  firstNonFinite,
  kernelSizeOf,
  throwIfProblems,
  validateAgainst,
  type LoraAdapter,
  type LoraLayer,
  type ModuleShape,
} from './lora-adapter';
import { classifyLoraKey, KohyaNameIndex, type LoraKeyFormat, type LoraPart } from './lora-key-format';
import { configuredAlpha, configuredRank, LORA_ADAPTER_METADATA_KEY, peftConfigFromMetadata, type PeftLoraConfig } from './peft-config';

export interface LoraReadOptions {
  /** The base model's adaptable layers: resolves kohya names and validates shapes (validateAgainst). */
  moduleShapes?: Map<string, ModuleShape>;
  /** Known module names for kohya name resolution when shapes are not at hand. */
  knownModules?: Iterable<string>;
  /** A LoraConfig sent beside the weights (peft's adapter_config.json); it wins over the file's metadata. */
  peftConfig?: PeftLoraConfig;
}

export interface LoraReadResult {
  adapter: LoraAdapter;
  /** The file's key style. */
  format: LoraKeyFormat;
  /** Keys belonging to other components (text encoders); not loaded. */
  ignoredKeys: string[];
  /** peft-style layers whose alpha nothing records (read as alpha = rank). */
  unrecordedAlpha: string[];
}

/**
 * Metadata keys that describe the tensors (format, rank, alpha): read here, rewritten by the writer,
 * so they never travel as free-form metadata that could contradict the file they end up in.
 */
export const TENSOR_METADATA_KEYS: ReadonlySet<string> = new Set([
  'format', LORA_ADAPTER_METADATA_KEY, 'rank', 'alpha', 'lora_alpha', 'ss_network_alpha', 'network_alpha',
]);

interface PendingLayer {
  format: LoraKeyFormat | null;
  a?: { key: string; tensor: NamedTensor };
  b?: { key: string; tensor: NamedTensor };
  alpha?: { key: string; value: number };
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

function metadataNumber(metadata: Record<string, string>, ...keys: string[]): number | undefined {
  for (const key of keys) {
    const raw = metadata[key];
    if (raw === undefined || raw.trim() === '') continue;
    const v = Number(raw);
    if (Number.isFinite(v) && v > 0) return v;
  }
  return undefined;
}

/**
 * Builds an adapter from a file's tensors and metadata. Throws LoraError listing every problem:
 * non-LoRA keys, mixed key styles, missing halves, rank mismatches between A and B (or against the
 * LoraConfig), non-finite values, and — with `moduleShapes` — shape mismatches against the base model.
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

  const put = (module: string, part: LoraPart, format: LoraKeyFormat | null, key: string, tensor: NamedTensor): void => {
    let p = pending.get(module);
    if (!p) pending.set(module, (p = { format }));
    p.format ??= format;
    const existing = part === 'A' ? p.a : part === 'B' ? p.b : p.alpha;
    if (existing) {
      problems.push(`"${existing.key}" and "${key}" both give ${part === 'alpha' ? 'alpha' : `lora_${part}`} of ${module}`);
      return;
    }
    if (part === 'A') p.a = { key, tensor };
    else if (part === 'B') p.b = { key, tensor };
    else if (tensor.data.length !== 1) problems.push(`"${key}": alpha must be a scalar, got shape ${shapeText(tensor.shape)}`);
    else p.alpha = { key, value: tensor.data[0] };
  };

  for (const [key, tensor] of tensors) {
    const k = classifyLoraKey(key);
    if (k.kind === 'ignored') {
      ignoredKeys.push(key);
      continue;
    }
    if (k.kind === 'refused') {
      problems.push(`"${key}": ${k.reason}`);
      continue;
    }
    if (k.kind === 'unknown') {
      problems.push(`"${key}" is not a LoRA tensor (expected <module>.lora_A/lora_B.weight, <module>.lora.down/up.weight or kohya lora_unet_*.lora_down/lora_up.weight/alpha)`);
      continue;
    }
    let module = k.module;
    if (k.kohyaName !== undefined && kohyaIndex) {
      const r = kohyaIndex.resolve(k.kohyaName);
      if ('error' in r) {
        problems.push(`"${key}": ${r.error}`);
        continue;
      }
      module = r.module;
    }
    if (k.format) formats.add(k.format);
    put(module, k.part, k.format, key, tensor);
  }
  if (formats.size > 1) problems.push(`the file mixes LoRA key styles (${[...formats].sort().join(', ')}); a LoRA file uses one`);

  const config = opts.peftConfig ?? peftConfigFromMetadata(metadata[LORA_ADAPTER_METADATA_KEY]);
  const plainAlpha = metadataNumber(metadata, 'alpha', 'lora_alpha');
  const kohyaAlpha = metadataNumber(metadata, 'ss_network_alpha', 'network_alpha');
  const unrecordedAlpha: string[] = [];

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
    const expectedRank = config ? configuredRank(config, module) : undefined;
    if (expectedRank !== undefined && expectedRank !== rank) {
      problems.push(`${module}: ${config!.source} gives rank ${expectedRank}, but the tensors have rank ${rank}`);
      bad = true;
    }
    let alpha: number;
    if (p.alpha) {
      const v = p.alpha.value;
      const kohya = p.format === 'kohya';
      if (!Number.isFinite(v) || v < 0 || (v === 0 && !kohya)) {
        problems.push(`"${p.alpha.key}": alpha ${v} is not a positive finite number`);
        bad = true;
      }
      // kohya treats alpha 0 as "alpha = rank".
      alpha = v === 0 ? rank : v;
    } else if (config) {
      alpha = configuredAlpha(config, module, rank);
    } else if (plainAlpha !== undefined) {
      alpha = plainAlpha;
    } else if (p.format === 'kohya' && kohyaAlpha !== undefined) {
      alpha = kohyaAlpha;
    } else {
      alpha = rank;
      if (p.format === 'peft') unrecordedAlpha.push(module);
    }
    if (bad) continue;
    // Copies keep the adapter independent of the file buffer; kernels are kept flattened.
    const layer: LoraLayer = { a: Float32Array.from(p.a.tensor.data), b: Float32Array.from(p.b.tensor.data), rank, inFeatures, outFeatures, alpha };
    if (kernelSize !== undefined) layer.kernelSize = kernelSize;
    layers.set(module, layer);
  }

  if (problems.length === 0 && layers.size === 0) {
    problems.push(ignoredKeys.length > 0 ? `no UNet LoRA weights (only ${ignoredKeys.length} text-encoder keys)` : 'no LoRA weights found');
  }
  throwIfProblems(problems, 'cannot read LoRA adapter');

  const userMetadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) if (!TENSOR_METADATA_KEYS.has(k)) userMetadata[k] = v;
  const adapter = adapterFromLayers(layers, userMetadata);
  if (opts.moduleShapes) validateAgainst(adapter, opts.moduleShapes);
  // One key style per file (checked above); a file of alpha keys alone has failed already.
  return { adapter, format: [...formats][0], ignoredKeys, unrecordedAlpha: unrecordedAlpha.sort() };
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
