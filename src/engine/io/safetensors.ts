// Reading and writing safetensors files (format and header checks: ./safetensors-header.ts).
// Writing follows the reference writer byte for byte: tensors ordered by descending dtype alignment
// then by name, "__metadata__" first, header padded with spaces to a multiple of 8 bytes so every
// tensor starts aligned.
import { promises as fsp } from 'node:fs';
import { writeFileAtomic } from './atomic-write';
import { decodeTensorData, DTYPE_ORDER, encodeTensorData, WRITABLE_DTYPES, type DType, type WritableDType } from './safetensors-dtype';
import {
  DTYPE_SIZE,
  isNonNegativeInt,
  numel,
  parseHeaderJson,
  parseSafetensorsHeader,
  readHeaderLength,
  SafetensorsError,
  type SafetensorsHeader,
} from './safetensors-header';

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

/** Header bytes (already space-padded) and the ordered tensor list of a file about to be written. */
function prepare(tensors: TensorCollection, opts: SerializeOptions): { header: Buffer; order: Array<[string, NamedTensor, WritableDType]> } {
  const entries = toEntries(tensors).map(([name, t]): [string, NamedTensor, WritableDType] => {
    if (name === '__metadata__') throw new SafetensorsError('"__metadata__" cannot be a tensor name');
    const dtype = opts.dtypes?.[name] ?? opts.dtype ?? 'F32';
    if (!WRITABLE_DTYPES.includes(dtype)) throw new SafetensorsError(`cannot write dtype ${dtype}`);
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
    if (e instanceof SafetensorsError) throw new SafetensorsError(`${path}: ${e.reason}`);
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
