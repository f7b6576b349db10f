/**
 * Writing LoRA adapter files (.safetensors), as diffusers' `StableDiffusionLoraLoaderMixin.save_lora_weights`
 * writes them, so diffusers (`pipe.load_lora_weights`) and peft can load them:
 *   unet.<module>.lora_A.weight [r, in], unet.<module>.lora_B.weight [out, r]
 *   convolutions as peft's LoRA on Conv2d: lora_A [r, c, k, k], lora_B [out, r, 1, 1]
 *   __metadata__: format = "pt"; lora_adapter_metadata = JSON (indent 2, sorted keys) of the peft
 *   LoraConfig fields, each prefixed with the component name ("unet.r", "unet.lora_alpha",
 *   "unet.target_modules", "unet.peft_type", and "unet.rank_pattern"/"unet.alpha_pattern" when layers
 *   differ); plain "rank"/"alpha" keys for simple readers.
 *
 * Alpha is folded into the factors: lora_B holds (alpha/rank)·B and the file records alpha = rank.
 * Loaders that ignore the recorded alpha (diffusers ≤ 0.32 reads no lora_adapter_metadata and
 * applies scale 1; peft without adapter_config.json uses its default) then apply the same ΔW as
 * those that honour it.
 */
import { serializeSafetensors, writeSafetensorsFile, type NamedTensor } from '../io/safetensors';
import type { WritableDType } from '../io/safetensors-dtype';
import { adapterFromLayers, effectiveScale, validateLoraAdapter, type LoraAdapter, type LoraLayer } from './lora-adapter';
import { TENSOR_METADATA_KEYS } from './lora-file.reader';
import { UNET_PREFIX } from './lora-key-format';
import { LORA_ADAPTER_METADATA_KEY, peftConfigOf } from './peft-config';

export interface LoraWriteOptions {
  /** Storage type of the factors (default F32). */
  dtype?: WritableDType;
}

export interface EncodedLoraFile {
  bytes: Buffer;
  /** The file's `__metadata__`. */
  metadata: Record<string, string>;
  tensorCount: number;
}

function sortKeysDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as Record<string, unknown>).sort()) out[k] = sortKeysDeep((v as Record<string, unknown>)[k]);
    return out;
  }
  return v;
}

/** The same adapter with every layer's alpha/rank carried by B and alpha = rank (ΔW unchanged). */
function foldAlpha(adapter: LoraAdapter): LoraAdapter {
  const layers = new Map<string, LoraLayer>();
  for (const [m, l] of adapter.layers) {
    const scale = effectiveScale(l);
    layers.set(m, scale === 1 ? l : { ...l, b: l.b.map((v) => v * scale), alpha: l.rank });
  }
  return adapterFromLayers(layers, adapter.metadata);
}

/** Tensors and metadata of the file image, in diffusers/peft naming with alpha folded into lora_B. */
export function loraFileContents(adapter: LoraAdapter): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  validateLoraAdapter(adapter);
  const folded = foldAlpha(adapter);
  const tensors = new Map<string, NamedTensor>();
  for (const [m, l] of folded.layers) {
    const k = l.kernelSize;
    const aShape = k === undefined ? [l.rank, l.inFeatures] : [l.rank, l.inFeatures / (k * k), k, k];
    const bShape = k === undefined ? [l.outFeatures, l.rank] : [l.outFeatures, l.rank, 1, 1];
    tensors.set(`${UNET_PREFIX}.${m}.lora_A.weight`, { shape: aShape, data: l.a });
    tensors.set(`${UNET_PREFIX}.${m}.lora_B.weight`, { shape: bShape, data: l.b });
  }
  const config = peftConfigOf(folded);
  const prefixed: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) prefixed[`${UNET_PREFIX}.${k}`] = v;
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(adapter.metadata)) if (!TENSOR_METADATA_KEYS.has(k)) metadata[k] = v;
  metadata.format = 'pt';
  metadata[LORA_ADAPTER_METADATA_KEY] = JSON.stringify(sortKeysDeep(prefixed), null, 2);
  metadata.rank = String(config.r);
  metadata.alpha = String(config.lora_alpha);
  return { tensors, metadata };
}

/** The file image with what describes it (metadata, tensor count). */
export function encodeLoraFile(adapter: LoraAdapter, opts: LoraWriteOptions = {}): EncodedLoraFile {
  const { tensors, metadata } = loraFileContents(adapter);
  return { bytes: serializeSafetensors(tensors, { dtype: opts.dtype ?? 'F32', metadata }), metadata, tensorCount: tensors.size };
}

export function serializeLoraAdapter(adapter: LoraAdapter, opts: LoraWriteOptions = {}): Buffer {
  return encodeLoraFile(adapter, opts).bytes;
}

/** Writes the adapter atomically (temporary file, fsync, rename). */
export async function writeLoraFile(path: string, adapter: LoraAdapter, opts: LoraWriteOptions = {}): Promise<void> {
  const { tensors, metadata } = loraFileContents(adapter);
  await writeSafetensorsFile(path, tensors, { dtype: opts.dtype ?? 'F32', metadata });
}
