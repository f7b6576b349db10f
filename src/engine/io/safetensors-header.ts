// The safetensors header (https://github.com/huggingface/safetensors):
//   [u64 little-endian N][N bytes of UTF-8 JSON header][tensor bytes]
// The header maps tensor names to { dtype, shape, data_offsets: [begin, end] } (offsets relative to the
// start of the byte buffer, contiguous, covering it exactly) plus an optional "__metadata__" string map.
// Parsing checks what the reference loader checks, with its limits, so a file accepted here loads there.

/** The reference implementation refuses headers above 100 MB; so do we, before allocating. */
export const MAX_HEADER_SIZE = 100_000_000;

/** Bytes per element of every dtype the format defines (types outside our read set still validate). */
export const DTYPE_SIZE: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

export class SafetensorsError extends Error {
  /** The problem without the "safetensors: " prefix, for messages that say the format already. */
  readonly reason: string;

  constructor(reason: string) {
    super(`safetensors: ${reason}`);
    this.name = 'SafetensorsError';
    this.reason = reason;
  }
}

export interface TensorInfo {
  dtype: string;
  shape: number[];
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  /** Tensors in file order (ascending data offset). */
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
  /** Byte offset of the tensor data region within the file (8 + header length). */
  dataStart: number;
  /** Length in bytes of the tensor data region. */
  dataLength: number;
}

export function numel(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isNonNegativeInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Parses and validates the JSON header, the way the reference loader does. */
export function parseHeaderJson(headerBytes: Uint8Array, bufferLength: number | null, headerLength: number): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) throw new SafetensorsError('header does not start with "{"');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`header is not valid JSON (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new SafetensorsError('header is not a JSON object');

  const metadata: Record<string, string> = {};
  const entries: Array<[string, TensorInfo]> = [];
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (value === null) continue;
      if (typeof value !== 'object' || Array.isArray(value)) throw new SafetensorsError('__metadata__ must be a string map');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new SafetensorsError(`__metadata__ value for "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (!info || typeof info !== 'object') throw new SafetensorsError(`entry "${name}" is not an object`);
    const { dtype, shape, data_offsets: offsets } = info;
    if (typeof dtype !== 'string' || !(dtype in DTYPE_SIZE)) throw new SafetensorsError(`tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInt)) throw new SafetensorsError(`tensor "${name}" has an invalid shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInt)) {
      throw new SafetensorsError(`tensor "${name}" has invalid data_offsets`);
    }
    entries.push([name, { dtype, shape: shape as number[], dataOffsets: [offsets[0], offsets[1]] }]);
  }

  // Offsets must tile the data region in order, with no gaps or overlaps; files written by older
  // writers may list tensors in any order, so validate in offset order.
  entries.sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1]);
  let cursor = 0;
  for (const [name, info] of entries) {
    const [begin, end] = info.dataOffsets;
    if (begin !== cursor || end < begin) throw new SafetensorsError(`tensor "${name}" has invalid offsets [${begin}, ${end}]`);
    const expected = numel(info.shape) * DTYPE_SIZE[info.dtype];
    if (!Number.isSafeInteger(expected)) throw new SafetensorsError(`tensor "${name}" is too large`);
    if (end - begin !== expected) {
      throw new SafetensorsError(`tensor "${name}" has ${end - begin} bytes, but ${info.dtype}${JSON.stringify(info.shape)} needs ${expected}`);
    }
    cursor = end;
  }
  const dataStart = 8 + headerLength;
  if (bufferLength !== null && dataStart + cursor !== bufferLength) {
    throw new SafetensorsError(`data region is ${bufferLength - dataStart} bytes, but the header describes ${cursor}`);
  }
  return { tensors: new Map(entries), metadata, dataStart, dataLength: cursor };
}

export function readHeaderLength(first8: Uint8Array): number {
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) throw new SafetensorsError(`header length ${n} exceeds ${MAX_HEADER_SIZE}`);
  return Number(n);
}

/** Parses only the header of an in-memory safetensors file. */
export function parseSafetensorsHeader(buf: Uint8Array): SafetensorsHeader {
  if (buf.byteLength < 8) throw new SafetensorsError('file is shorter than 8 bytes');
  const n = readHeaderLength(buf.subarray(0, 8));
  if (8 + n > buf.byteLength) throw new SafetensorsError(`header length ${n} runs past the end of the file`);
  return parseHeaderJson(buf.subarray(8, 8 + n), buf.byteLength, n);
}
