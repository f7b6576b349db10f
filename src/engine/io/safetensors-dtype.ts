// Tensor element types: safetensors stores little-endian, row-major values; in memory every tensor is
// a Float32Array. Reading converts any numeric type; writing stores F32, F16 or BF16.
import * as os from 'node:os';
import { bf16BitsToF32Array, f16BitsToF32Array, f32ArrayToBf16Bits, f32ArrayToF16Bits } from './float16';
import { DTYPE_SIZE, SafetensorsError } from './safetensors-header';

/** Element types this module reads (all convert to Float32Array). */
export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'U16' | 'U32' | 'U64' | 'BOOL';
/** Element types this module writes. */
export type WritableDType = 'F32' | 'F16' | 'BF16';

export const WRITABLE_DTYPES: readonly string[] = ['F32', 'F16', 'BF16'];
// The declaration order of the reference `Dtype` enum, which orders tensors in a written file (descending).
export const DTYPE_ORDER = ['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64'];
const READABLE = new Set<string>(['F64', 'F32', 'F16', 'BF16', 'I64', 'I32', 'I16', 'I8', 'U8', 'U16', 'U32', 'U64', 'BOOL']);

const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

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

export function encodeTensorData(dtype: WritableDType, data: Float32Array): Uint8Array {
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
