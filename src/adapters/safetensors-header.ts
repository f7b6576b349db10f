/*
 * Validation-only reader of the safetensors format: an 8-byte little-endian header length, a JSON
 * header mapping tensor names to { dtype, shape, data_offsets } (plus an optional string map
 * `__metadata__`), then the tensor bytes. Checks that the header is well formed, that the offsets
 * tile the data section exactly, and that the tensors are those of a LoRA adapter.
 */

export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
};

export interface TensorInfo {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  headerBytes: number;
  tensors: TensorInfo[];
  metadata: Record<string, string> | null;
}

export interface LoraSummary {
  format: 'peft' | 'kohya';
  /** Number of adapted modules (A/B or down/up pairs). */
  modules: number;
  rank: number | null;
  alpha: number | null;
}

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

function isDimension(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function parseSafetensorsHeader(file: Buffer): SafetensorsHeader {
  if (file.length < 8) throw new SafetensorsError('file is shorter than the 8-byte header length');
  const declared = file.readBigUInt64LE(0);
  if (declared < 2n || declared > BigInt(MAX_HEADER_BYTES)) throw new SafetensorsError(`header length ${declared} is out of range`);
  const headerBytes = Number(declared);
  if (8 + headerBytes > file.length) throw new SafetensorsError('header length runs past the end of the file');

  let header: unknown;
  try {
    header = JSON.parse(file.toString('utf8', 8, 8 + headerBytes));
  } catch {
    throw new SafetensorsError('header is not valid JSON');
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new SafetensorsError('header is not a JSON object');

  let metadata: Record<string, string> | null = null;
  const tensors: TensorInfo[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (!value || typeof value !== 'object' || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) {
        throw new SafetensorsError('__metadata__ must map strings to strings');
      }
      metadata = value as Record<string, string>;
      continue;
    }
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!info || typeof info !== 'object') throw new SafetensorsError(`tensor "${name}" is not an object`);
    if (typeof info.dtype !== 'string' || !(info.dtype in DTYPE_BYTES)) throw new SafetensorsError(`tensor "${name}" has unknown dtype ${String(info.dtype)}`);
    if (!Array.isArray(info.shape) || !info.shape.every(isDimension)) throw new SafetensorsError(`tensor "${name}" has an invalid shape`);
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isDimension) || offsets[0] > offsets[1]) {
      throw new SafetensorsError(`tensor "${name}" has invalid data_offsets`);
    }
    const elements = (info.shape as number[]).reduce((a, b) => a * b, 1);
    if (offsets[1] - offsets[0] !== elements * DTYPE_BYTES[info.dtype]) {
      throw new SafetensorsError(`tensor "${name}" data_offsets do not match its dtype and shape`);
    }
    tensors.push({ name, dtype: info.dtype, shape: info.shape as number[], begin: offsets[0], end: offsets[1] });
  }

  // The tensors must tile the data section exactly: no gaps, no overlaps, nothing after.
  const dataBytes = file.length - 8 - headerBytes;
  const ordered = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const tensor of ordered) {
    if (tensor.begin !== cursor) throw new SafetensorsError(`tensor "${tensor.name}" does not start where the previous one ends`);
    cursor = tensor.end;
  }
  if (cursor !== dataBytes) throw new SafetensorsError(`tensor data covers ${cursor} bytes but the file holds ${dataBytes}`);
  return { headerBytes, tensors, metadata };
}

const PEFT = /^(.+)\.lora_(A|B)(?:\.[^.]+)?\.weight$/;
const KOHYA = /^(.+)\.lora_(down|up)\.weight$/;
const KOHYA_ALPHA = /^(.+)\.alpha$/;

function numberFrom(metadata: Record<string, string> | null, keys: string[]): number | null {
  for (const key of keys) {
    const value = Number(metadata?.[key]);
    if (metadata?.[key] !== undefined && Number.isFinite(value) && value > 0) return value;
  }
  return null;
}

/** Rank and alpha as recorded by diffusers/peft (`lora_adapter_metadata`) or kohya (`ss_network_*`) or plainly. */
function rankAndAlphaFromMetadata(metadata: Record<string, string> | null): { rank: number | null; alpha: number | null } {
  let rank = numberFrom(metadata, ['rank', 'lora_rank', 'r', 'ss_network_dim', 'network_dim']);
  let alpha = numberFrom(metadata, ['alpha', 'lora_alpha', 'ss_network_alpha', 'network_alpha']);
  const nested = metadata?.lora_adapter_metadata;
  if (nested) {
    try {
      const config = JSON.parse(nested) as Record<string, unknown>;
      const flat = Object.fromEntries(Object.entries(config).map(([k, v]) => [k, String(v)]));
      rank ??= numberFrom(flat, ['r', 'rank']);
      alpha ??= numberFrom(flat, ['lora_alpha', 'alpha']);
    } catch {
      // Unreadable nested metadata only means rank/alpha come from the tensors.
    }
  }
  return { rank, alpha };
}

/** Checks the tensors form LoRA pairs with consistent ranks; throws SafetensorsError otherwise. */
export function summarizeLora(header: SafetensorsHeader): LoraSummary {
  const pairs = new Map<string, { a?: TensorInfo; b?: TensorInfo }>();
  let peft = 0;
  let kohya = 0;
  for (const tensor of header.tensors) {
    const p = PEFT.exec(tensor.name);
    const k = p ? null : KOHYA.exec(tensor.name);
    if (p) peft++;
    else if (k) kohya++;
    else if (KOHYA_ALPHA.test(tensor.name) && tensor.shape.length <= 1) continue;
    else throw new SafetensorsError(`tensor "${tensor.name}" is not a LoRA weight (expected *.lora_A/B.weight or *.lora_down/up.weight)`);
    const [, module, side] = (p ?? k)!;
    const pair = pairs.get(module) ?? {};
    if (side === 'A' || side === 'down') pair.a = tensor;
    else pair.b = tensor;
    pairs.set(module, pair);
  }
  if (pairs.size === 0) throw new SafetensorsError('no LoRA weights found');
  if (peft > 0 && kohya > 0) throw new SafetensorsError('mixes lora_A/lora_B and lora_down/lora_up key styles');

  let tensorRank: number | null = null;
  for (const [module, pair] of pairs) {
    if (!pair.a || !pair.b) throw new SafetensorsError(`module "${module}" lacks its ${pair.a ? 'up/B' : 'down/A'} weight`);
    if (pair.a.shape.length < 2 || pair.b.shape.length < 2) throw new SafetensorsError(`module "${module}" weights must be at least 2-D`);
    const rank = pair.a.shape[0];
    if (pair.b.shape[1] !== rank) throw new SafetensorsError(`module "${module}" has mismatched ranks ${rank} and ${pair.b.shape[1]}`);
    tensorRank = tensorRank === null ? rank : Math.max(tensorRank, rank);
  }
  const recorded = rankAndAlphaFromMetadata(header.metadata);
  return { format: peft > 0 ? 'peft' : 'kohya', modules: pairs.size, rank: recorded.rank ?? tensorRank, alpha: recorded.alpha };
}
