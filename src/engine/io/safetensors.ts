// Reading and writing safetensors files (format and header checks: ./safetensors-header.ts).
// Writing follows the reference writer byte for byte: tensors ordered by descending dtype alignment
// then by name, "__metadata__" first, header padded with spaces to a multiple of 8 bytes so every
// tensor starts aligned.
import { promises as fsp } from 'node:fs';
import { writeFileAtomic, writeFileAtomicWith } from './atomic-write';
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

/** A tensor about to be written: its shape and storage type (the data may come later). */
interface PlannedTensor {
  name: string;
  shape: number[];
  dtype: WritableDType;
}

/** Header bytes (already space-padded) and the data order of a file about to be written. */
function planHeader<T extends PlannedTensor>(entries: T[], metadata: Record<string, string> | undefined): { header: Buffer; order: T[] } {
  for (const e of entries) {
    if (e.name === '__metadata__') throw new SafetensorsError('"__metadata__" cannot be a tensor name');
    if (!WRITABLE_DTYPES.includes(e.dtype)) throw new SafetensorsError(`cannot write dtype ${e.dtype}`);
    if (!e.shape.every(isNonNegativeInt)) throw new SafetensorsError(`tensor "${e.name}" has an invalid shape`);
  }
  const order = [...entries].sort((a, b) => DTYPE_ORDER.indexOf(b.dtype) - DTYPE_ORDER.indexOf(a.dtype) || compareUtf8(a.name, b.name));

  // Build the header by hand so key order is exactly: __metadata__ (keys sorted), then tensors in
  // data order. JSON.stringify would reorder integer-like keys ("0", "1") ahead of the others.
  const parts: string[] = [];
  if (metadata) {
    const meta = Object.keys(metadata)
      .sort(compareUtf8)
      .map((k) => {
        const v = metadata[k];
        if (typeof v !== 'string') throw new SafetensorsError(`metadata value for "${k}" must be a string`);
        return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
      });
    parts.push(`"__metadata__":{${meta.join(',')}}`);
  }
  let offset = 0;
  for (const { name, shape, dtype } of order) {
    const bytes = numel(shape) * DTYPE_SIZE[dtype];
    parts.push(`${JSON.stringify(name)}:{"dtype":"${dtype}","shape":[${shape.join(',')}],"data_offsets":[${offset},${offset + bytes}]}`);
    offset += bytes;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  const padded = Buffer.alloc(Math.ceil(json.length / 8) * 8, 0x20);
  json.copy(padded);
  return { header: padded, order };
}

function headerPrefix(header: Buffer): Buffer {
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(header.length));
  return prefix;
}

function checkLength(name: string, shape: number[], data: Float32Array): void {
  if (numel(shape) !== data.length) throw new SafetensorsError(`tensor "${name}" has ${data.length} values but shape [${shape.join(', ')}]`);
}

/** Serialises tensors to a safetensors file image. */
export function serializeSafetensors(tensors: TensorCollection, opts: SerializeOptions = {}): Buffer {
  const entries = toEntries(tensors).map(([name, t]) => ({ name, shape: t.shape, dtype: opts.dtypes?.[name] ?? opts.dtype ?? 'F32', data: t.data }));
  const { header, order } = planHeader(entries, opts.metadata);
  for (const e of order) checkLength(e.name, e.shape, e.data);
  return Buffer.concat([headerPrefix(header), header, ...order.map((e) => encodeTensorData(e.dtype, e.data))]);
}

/**
 * Writes a safetensors file whose tensors are made one at a time by `produce` (called in data order),
 * so a checkpoint larger than memory can be written: only one tensor exists at a time. Atomic like
 * writeSafetensorsFile.
 */
export async function writeSafetensorsStream(
  target: string,
  shapes: Iterable<[string, number[]]>,
  produce: (name: string, shape: number[]) => Float32Array,
  opts: { dtype?: WritableDType; metadata?: Record<string, string> } = {},
): Promise<void> {
  const { header, order } = planHeader([...shapes].map(([name, shape]) => ({ name, shape, dtype: opts.dtype ?? 'F32' })), opts.metadata);
  await writeFileAtomicWith(target, async (fh) => {
    // writeFile on a handle writes everything from the current position, looping over short writes.
    await fh.writeFile(headerPrefix(header));
    await fh.writeFile(header);
    for (const e of order) {
      const data = produce(e.name, e.shape);
      checkLength(e.name, e.shape, data);
      await fh.writeFile(encodeTensorData(e.dtype, data));
    }
  });
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
