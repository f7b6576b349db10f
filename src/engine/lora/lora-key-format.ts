/**
 * The tensor names of LoRA files and the layer each belongs to.
 *
 * Recognised key styles (a file uses one):
 * - peft: `<module>.lora_A.weight` / `<module>.lora_B.weight` (diffusers ≥ 0.22 and peft), also with
 *   an adapter name (`lora_A.default.weight`);
 * - diffusers-legacy: `<module>.lora.down/up.weight`, `lora_linear_layer.down/up.weight`, and the
 *   attention-processor keys `…processor.to_q_lora.down.weight`;
 * - kohya: `lora_unet_<module with "_" for ".">.lora_down/lora_up.weight` and `.alpha`.
 * Any style may carry `<module>.alpha` scalars. Prefixes `unet.` (diffusers) and `base_model.model.`
 * (peft) are stripped; text-encoder keys are ignored; DoRA and LoRA bias terms are refused.
 */

export type LoraKeyFormat = 'peft' | 'diffusers-legacy' | 'kohya';
/** Which tensor of a layer a key holds: A (down), B (up) or its alpha scalar. */
export type LoraPart = 'A' | 'B' | 'alpha';

/** Component name diffusers uses for the UNet's keys and metadata. */
export const UNET_PREFIX = 'unet';

export type LoraKey =
  /** A layer tensor; kohya keys name the layer by `kohyaName`, resolved against the base model later. */
  | { kind: 'layer'; part: LoraPart; format: LoraKeyFormat | null; module: string; kohyaName?: string }
  /** Another component's key (text encoders): not loaded. */
  | { kind: 'ignored' }
  | { kind: 'refused'; reason: string }
  | { kind: 'unknown' };

const TEXT_ENCODER_KEY = /^(?:text_encoder(?:_\d+)?\.|lora_te\d*_)/;
const KOHYA_KEY = /^(lora_unet_[^.]+)\.(lora_down\.weight|lora_up\.weight|alpha|dora_scale)$/;
const PEFT_KEY = /^(.+)\.lora_(A|B)(?:\.[^.]+)?\.weight$/;
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

/** What one tensor name of a LoRA file is. */
export function classifyLoraKey(key: string): LoraKey {
  const k = stripPrefixes(key);
  if (TEXT_ENCODER_KEY.test(k)) return { kind: 'ignored' };
  if (DORA_KEY.test(k)) return { kind: 'refused', reason: 'DoRA adapters are not supported' };
  if (LORA_BIAS_KEY.test(k)) return { kind: 'refused', reason: 'LoRA bias terms are not supported' };
  let m: RegExpExecArray | null;
  if ((m = KOHYA_KEY.exec(k))) {
    const part: LoraPart = m[2] === 'lora_down.weight' ? 'A' : m[2] === 'lora_up.weight' ? 'B' : 'alpha';
    return { kind: 'layer', part, format: 'kohya', module: guessKohyaModule(m[1]), kohyaName: m[1] };
  }
  if ((m = PEFT_KEY.exec(k))) return { kind: 'layer', part: m[2] === 'A' ? 'A' : 'B', format: 'peft', module: m[1] };
  if ((m = PROCESSOR_KEY.exec(k))) {
    const module = `${m[1]}.${m[2] === 'to_out' ? 'to_out.0' : m[2]}`;
    return { kind: 'layer', part: m[3] === 'down' ? 'A' : 'B', format: 'diffusers-legacy', module };
  }
  if ((m = LEGACY_KEY.exec(k))) return { kind: 'layer', part: m[2] === 'down' ? 'A' : 'B', format: 'diffusers-legacy', module: m[1] };
  if ((m = ALPHA_KEY.exec(k))) return { kind: 'layer', part: 'alpha', format: null, module: m[1] };
  return { kind: 'unknown' };
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
