// The safetensors format (https://github.com/huggingface/safetensors):
//   [u64 little-endian N][N bytes of UTF-8 JSON header][tensor bytes]
// The header maps tensor names to { dtype, shape, data_offsets: [begin, end] } (offsets relative to the
// start of the byte buffer, contiguous, covering it exactly) plus an optional "__metadata__" string map.
// Tensors are little-endian, row-major. Writing follows the reference writer byte for byte: tensors
// ordered by descending dtype alignment then by name, "__metadata__" first, header padded with spaces
// to a multiple of 8 bytes so every tensor starts aligned.
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import {
  bf16BitsToF32Array,
  f16BitsToF32Array,
  f32ArrayToF16Bits,
  f32ArrayToBf16Bits,
} from './float16';
import { writeFileAtomic } from './atomic-write';

/** Element types this module reads (all convert to Float32Array). */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'U16' | 'U32' | 'U64' | 'BOOL';
/** Element types this module writes. */
export type WritableDType = 'F32' | 'F16' | 'BF16';

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsFile {
  tensors: Map<string, NamedTensor>;
  /** The "__metadata__" map ({} when absent). */
  metadata: Record<string, string>;
  /** Element type each tensor was stored as (before conversion to float32). */
  dtypes: Map<string, DType>;
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

export interface SerializeOptions {
  /** Storage type for every tensor (default F32). */
  dtype?: WritableDType;
  /** Per-tensor storage type, overriding `dtype`. */
  dtypes?: Record<string, WritableDType>;
  metadata?: Record<string, string>;
}

export interface ReadOptions {
  /** Only tensors for which this returns true are read and converted. */
  filter?: (name: string) => boolean;
}

export type TensorCollection = Map<string, NamedTensor> | Record<string, NamedTensor>;

/** The reference implementation refuses headers above 100 MB; so do we, before allocating. */
export const MAX_HEADER_SIZE = 100_000_000;

// Bytes per element, and the declaration order of the reference `Dtype` enum, which orders tensors
// in a written file (descending). Types outside our read set still get a rank for validation messages.
const DTYPE_SIZE: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};
const DTYPE_ORDER = ['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64'];
const READABLE = new Set<string>(['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'U16', 'U32', 'U64', 'BOOL']);

const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

export class SafetensorsError extends Error {
  constructor(message: string) {
    super(`safetensors: ${message}`);
    this.name = 'SafetensorsError';
  }
}

function numel(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function isNonNegativeInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Parses and validates the JSON header, the way the reference loader does. */
function parseHeaderJson(headerBytes: Uint8Array, bufferLength: number | null, headerLength: number): SafetensorsHeader {
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

function readHeaderLength(first8: Uint8Array): number {
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

/** Copies bytes into a fresh, aligned buffer and swaps to host order when the host is big-endian. */
function alignedCopy(bytes: Uint8Array, elementSize: number): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  if (!LITTLE_ENDIAN_HOST && elementSize > 1) {
    for (let i = 0; i < copy.length; i += elementSize) copy.subarray(i, i + elementSize).reverse();
  }
  return copy.buffer;
}

/** Converts one tensor's raw little-endian bytes to float32. */
export function decodeTensorData(dtype: string, bytes: Uint8Array, name = '?'): Float32Array {
  if (!READABLE.has(dtype)) throw new SafetensorsError(`tensor "${name}": dtype ${dtype} is not supported`);
  const size = DTYPE_SIZE[dtype];
  const n = bytes.byteLength / size;
  const buffer = alignedCopy(bytes, size);
  switch (dtype) {
    case 'F32':
      return new Float32Array(buffer);
    case 'F16':
      return f16BitsToF32Array(new Uint16Array(buffer));
    case 'BF16':
      return bf16BitsToF32Array(new Uint16Array(buffer));
    case 'F64':
      return Float32Array.from(new Float64Array(buffer));
    case 'I64': {
      const src = new BigInt64Array(buffer);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(src[i]);
      return out;
    }
    case 'U64': {
      const src = new BigUint64Array(buffer);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Number(src[i]);
      return out;
    }
    case 'I32':
      return Float32Array.from(new Int32Array(buffer));
    case 'U32':
      return Float32Array.from(new Uint32Array(buffer));
    case 'I16':
      return Float32Array.from(new Int16Array(buffer));
    case 'U16':
      return Float32Array.from(new Uint16Array(buffer));
    case 'I8':
      return Float32Array.from(new Int8Array(buffer));
    default: // U8, BOOL
      return Float32Array.from(new Uint8Array(buffer));
  }
}

/** Parses an in-memory safetensors file, converting every tensor to float32. */
export function parseSafetensors(buf: Uint8Array, opts: ReadOptions = {}): SafetensorsFile {
  const header = parseSafetensorsHeader(buf);
  const tensors = new Map<string, NamedTensor>();
  const dtypes = new Map<string, DType>();
  for (const [name, info] of header.tensors) {
    if (opts.filter && !opts.filter(name)) continue;
    const begin = header.dataStart + info.dataOffsets[0];
    const end = header.dataStart + info.dataOffsets[1];
    tensors.set(name, { shape: [...info.shape], data: decodeTensorData(info.dtype, buf.subarray(begin, end), name) });
    dtypes.set(name, info.dtype as DType);
  }
  return { tensors, metadata: header.metadata, dtypes };
}

function toEntries(tensors: TensorCollection): Array<[string, NamedTensor]> {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
}

/** Byte-wise UTF-8 comparison, which is how the reference writer (Rust `str` ordering) sorts names. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function encodeTensorData(dtype: WritableDType, data: Float32Array): Uint8Array {
  let typed: ArrayBufferView;
  if (dtype === 'F32') typed = data;
  else if (dtype === 'F16') typed = f32ArrayToF16Bits(data);
  else typed = f32ArrayToBf16Bits(data);
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  if (LITTLE_ENDIAN_HOST) return bytes;
  const size = dtype === 'F32' ? 4 : 2;
  const copy = Uint8Array.from(bytes);
  for (let i = 0; i < copy.length; i += size) copy.subarray(i, i + size).reverse();
  return copy;
}

/** Header bytes (already space-padded) and the ordered tensor list of a file about to be written. */
function prepare(tensors: TensorCollection, opts: SerializeOptions): { header: Buffer; order: Array<[string, NamedTensor, WritableDType]> } {
  const entries = toEntries(tensors).map(([name, t]): [string, NamedTensor, WritableDType] => {
    if (name === '__metadata__') throw new SafetensorsError('"__metadata__" cannot be a tensor name');
    const dtype = opts.dtypes?.[name] ?? opts.dtype ?? 'F32';
    if (!['F32', 'F16', 'BF16'].includes(dtype)) throw new SafetensorsError(`cannot write dtype ${dtype}`);
    if (!t.shape.every(isNonNegativeInt)) throw new SafetensorsError(`tensor "${name}" has an invalid shape`);
    if (numel(t.shape) !== t.data.length) {
      throw new SafetensorsError(`tensor "${name}" has ${t.data.length} values but shape [${t.shape.join(', ')}]`);
    }
    return [name, t, dtype];
  });
  entries.sort((a, b) => DTYPE_ORDER.indexOf(b[2]) - DTYPE_ORDER.indexOf(a[2]) || compareUtf8(a[0], b[0]));

  // Build the header by hand so key order is exactly: __metadata__ (keys sorted), then tensors in
  // data order. JSON.stringify would reorder integer-like keys ("0", "1") ahead of the others.
  const parts: string[] = [];
  if (opts.metadata) {
    const meta = Object.keys(opts.metadata)
      .sort(compareUtf8)
      .map((k) => {
        const v = opts.metadata![k];
        if (typeof v !== 'string') throw new SafetensorsError(`metadata value for "${k}" must be a string`);
        return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
      });
    parts.push(`"__metadata__":{${meta.join(',')}}`);
  }
  let offset = 0;
  for (const [name, t, dtype] of entries) {
    const bytes = t.data.length * DTYPE_SIZE[dtype];
    parts.push(`${JSON.stringify(name)}:{"dtype":"${dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + bytes}]}`);
    offset += bytes;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
  json.copy(padded);
  return { header: padded, order: entries };
}

/** Serialises tensors to a safetensors file image. */
export function serializeSafetensors(tensors: TensorCollection, opts: SerializeOptions = {}): Buffer {
  const { header, order } = prepare(tensors, opts);
  const chunks: Uint8Array[] = [];
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  chunks.push(prefix, header);
  for (const [, t, dtype] of order) chunks.push(encodeTensorData(dtype, t.data));
  return Buffer.concat(chunks);
}

/** Reads the header of a safetensors file on disk without reading tensor data. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const fh = await fsp.open(path, 'r');
  try {
    return await readHeaderFrom(fh, path);
  } finally {
    await fh.close();
  }
}

async function readExactly(fh: fsp.FileHandle, length: number, position: number, path: string): Promise<Uint8Array> {
  const out = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(out, done, length - done, position + done);
    if (bytesRead === 0) throw new SafetensorsError(`${path}: unexpected end of file`);
    done += bytesRead;
  }
  return out;
}

async function readHeaderFrom(fh: fsp.FileHandle, path: string): Promise<SafetensorsHeader> {
  const size = (await fh.stat()).size;
  if (size < 8) throw new SafetensorsError(`${path}: file is shorter than 8 bytes`);
  const n = readHeaderLength(await readExactly(fh, 8, 0, path));
  if (8 + n > size) throw new SafetensorsError(`${path}: header length ${n} runs past the end of the file`);
  try {
    return parseHeaderJson(await readExactly(fh, n, 8, path), size, n);
  } catch (e) {
    if (e instanceof SafetensorsError) throw new SafetensorsError(`${path}: ${e.message.replace(/^safetensors: /, '')}`);
    throw e;
  }
}

/**
 * Reads a safetensors file tensor by tensor (large checkpoints never sit in memory twice, and a filter
 * skips tensors entirely).
 */
export async function readSafetensorsFile(path: string, opts: ReadOptions = {}): Promise<SafetensorsFile> {
  const fh = await fsp.open(path, 'r');
  try {
    const header = await readHeaderFrom(fh, path);
    const tensors = new Map<string, NamedTensor>();
    const dtypes = new Map<string, DType>();
    for (const [name, info] of header.tensors) {
      if (opts.filter && !opts.filter(name)) continue;
      const [begin, end] = info.dataOffsets;
      const bytes = await readExactly(fh, end - begin, header.dataStart + begin, path);
      tensors.set(name, { shape: [...info.shape], data: decodeTensorData(info.dtype, bytes, name) });
      dtypes.set(name, info.dtype as DType);
    }
    return { tensors, metadata: header.metadata, dtypes };
  } finally {
    await fh.close();
  }
}

/** Writes a safetensors file atomically (temporary file, fsync, rename). */
export async function writeSafetensorsFile(path: string, tensors: TensorCollection, opts: SerializeOptions = {}): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, opts));
}
