/**
 * peft's LoraConfig: the rank and alpha of each layer of an adapter. It travels in a file's
 * `lora_adapter_metadata` (diffusers ≥ 0.33, fields prefixed with the component name: "unet.r") or
 * as peft's `adapter_config.json` beside `adapter_model.safetensors` (unprefixed).
 */
import { LoraError, mostCommon, type LoraAdapter } from './lora-adapter';
import { UNET_PREFIX } from './lora-key-format';

export const LORA_ADAPTER_METADATA_KEY = 'lora_adapter_metadata';
/** peft LoraConfig's default lora_alpha. */
export const PEFT_DEFAULT_ALPHA = 8;

export interface PeftLoraConfig {
  /** Where it came from, for messages: "lora_adapter_metadata" or "adapter_config.json". */
  source: string;
  r?: number;
  loraAlpha?: number;
  rankPattern: Record<string, number>;
  alphaPattern: Record<string, number>;
  useRslora: boolean;
}

function numberRecord(v: unknown, field: string, source: string): Record<string, number> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new LoraError(`${source}: ${field} must be an object`);
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new LoraError(`${source}: ${field}["${k}"] is not a finite number`);
    out[k] = x;
  }
  return out;
}

function parseJsonObject(text: string, source: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new LoraError(`${source} is not valid JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new LoraError(`${source} is not a JSON object`);
  return parsed as Record<string, unknown>;
}

/** The LoRA fields of an unprefixed LoraConfig; throws LoraError for anything that is not a plain LoRA. */
function readLoraConfig(cfg: Record<string, unknown>, source: string): PeftLoraConfig {
  if (cfg.peft_type !== undefined && cfg.peft_type !== null && cfg.peft_type !== 'LORA') {
    throw new LoraError(`${source}: peft_type ${JSON.stringify(cfg.peft_type)} is not LORA`);
  }
  if (cfg.use_dora === true) throw new LoraError(`${source}: DoRA adapters (use_dora) are not supported`);
  const out: PeftLoraConfig = {
    source,
    rankPattern: numberRecord(cfg.rank_pattern, 'rank_pattern', source),
    alphaPattern: numberRecord(cfg.alpha_pattern, 'alpha_pattern', source),
    useRslora: cfg.use_rslora === true,
  };
  if (cfg.r !== undefined) {
    if (typeof cfg.r !== 'number' || !Number.isSafeInteger(cfg.r) || cfg.r < 1) throw new LoraError(`${source}: r ${JSON.stringify(cfg.r)} is not a positive integer`);
    out.r = cfg.r;
  }
  if (cfg.lora_alpha !== undefined) {
    if (typeof cfg.lora_alpha !== 'number' || !Number.isFinite(cfg.lora_alpha) || cfg.lora_alpha <= 0) {
      throw new LoraError(`${source}: lora_alpha ${JSON.stringify(cfg.lora_alpha)} is not a positive number`);
    }
    out.loraAlpha = cfg.lora_alpha;
  }
  return out;
}

/** peft's `adapter_config.json` (what `save_pretrained` writes beside the weights). */
export function parseAdapterConfigJson(text: string): PeftLoraConfig {
  const source = 'adapter_config.json';
  return readLoraConfig(parseJsonObject(text, source), source);
}

/** The UNet's LoraConfig from a file's `lora_adapter_metadata` (component-prefixed or plain), or null. */
export function peftConfigFromMetadata(raw: string | undefined): PeftLoraConfig | null {
  if (raw === undefined || raw === '') return null;
  const all = parseJsonObject(raw, LORA_ADAPTER_METADATA_KEY);
  const prefix = `${UNET_PREFIX}.`;
  const cfg: Record<string, unknown> = {};
  if (Object.keys(all).some((k) => k.startsWith(prefix))) {
    for (const [k, v] of Object.entries(all)) if (k.startsWith(prefix)) cfg[k.slice(prefix.length)] = v;
  } else {
    // Model-level saves (`unet.save_lora_adapter`) store the config unprefixed; other components' keys contain a dot.
    for (const [k, v] of Object.entries(all)) if (!k.includes('.')) cfg[k] = v;
  }
  if (Object.keys(cfg).length === 0) return null;
  return readLoraConfig(cfg, LORA_ADAPTER_METADATA_KEY);
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

/** The rank the config gives a module, if it gives one. */
export function configuredRank(config: PeftLoraConfig, module: string): number | undefined {
  return config.r === undefined ? undefined : (patternValue(config.rankPattern, module) ?? config.r);
}

/**
 * The alpha the config gives a module of the given rank: alpha_pattern, lora_alpha, else peft's
 * default (diffusers builds the LoraConfig from this metadata alone). rsLoRA scales by alpha/√r,
 * returned as the equivalent alpha·√r (over r, the same factor).
 */
export function configuredAlpha(config: PeftLoraConfig, module: string, rank: number): number {
  const alpha = patternValue(config.alphaPattern, module) ?? config.loraAlpha ?? PEFT_DEFAULT_ALPHA;
  return config.useRslora ? alpha * Math.sqrt(rank) : alpha;
}

/** The unprefixed LoraConfig fields describing an adapter's layers, as peft writes them. */
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
