// IEEE 754 binary16 (fp16) and bfloat16 conversions, scalar and bulk.
import { Float16Array } from '@petamoriken/float16';

// fp32 → fp16 rounds to nearest, ties to even (as PyTorch's `.half()` and NumPy's `astype(float16)` do),
// keeps subnormals, overflows to ±inf and keeps NaN a (quiet) NaN.

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Bit pattern of a float32 value. */
export function f32ToBits(value: number): number {
  f32Scratch[0] = value;
  return u32Scratch[0];
}

/** Float32 value of a bit pattern. */
export function bitsToF32(bits: number): number {
  u32Scratch[0] = bits >>> 0;
  return f32Scratch[0];
}

// fp16 itself comes from @petamoriken/float16 (a Float16Array for runtimes without one). Checked against
// the previous bit-level implementation: all 65,536 patterns decode alike, and 2 million random float32
// values plus every midpoint between neighbouring fp16 values round alike (ties to even).
const f16Scratch = new Float16Array(1);
const f16ScratchBits = new Uint16Array(f16Scratch.buffer);

/** fp16 bit pattern (0..0xffff) of a number, rounded to nearest even via float32. */
export function f32ToF16Bits(value: number): number {
  // JS numbers are float64: rounding to float32 first and then to fp16 can double-round. Values that are
  // exactly representable in float32 (everything coming from a Float32Array) are unaffected.
  f16Scratch[0] = Math.fround(value);
  return f16ScratchBits[0];
}

/** Number value of an fp16 bit pattern. */
export function f16BitsToF32(bits: number): number {
  f16ScratchBits[0] = bits & 0xffff;
  return f16Scratch[0];
}

/** Number value of a bfloat16 bit pattern (the top half of a float32). */
export function bf16BitsToF32(bits: number): number {
  u32Scratch[0] = (bits & 0xffff) << 16;
  return f32Scratch[0];
}

/** bfloat16 bits of a number, rounded to nearest even (NaN stays NaN). */
export function f32ToBf16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff;
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

/** Bulk fp32 → fp16 bits. */
export function f32ArrayToF16Bits(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  if (out.length < src.length) throw new RangeError('f32ArrayToF16Bits: output array is too short');
  new Float16Array(out.buffer, out.byteOffset, src.length).set(src);
  return out;
}

// Every fp16 value as float32 (256 KiB, made on first bulk use): element reads through the library's
// Float16Array are ~40× slower than one table lookup, which matters for fp16 checkpoints of 10⁸ weights.
let f16Table: Float32Array | null = null;
function f16ToF32Table(): Float32Array {
  if (!f16Table) {
    const bits = new Uint16Array(65536);
    for (let h = 0; h < 65536; h++) bits[h] = h;
    f16Table = Float32Array.from(new Float16Array(bits.buffer));
  }
  return f16Table;
}

/** Bulk fp16 bits → fp32. */
export function f16BitsToF32Array(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  if (out.length < src.length) throw new RangeError('f16BitsToF32Array: output array is too short');
  const table = f16ToF32Table();
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  return out;
}

/** Bulk bf16 bits → fp32. */
export function bf16BitsToF32Array(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  if (out.length < src.length) throw new RangeError('bf16BitsToF32Array: output array is too short');
  const outBits = new Uint32Array(out.buffer, out.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) outBits[i] = src[i] << 16;
  return out;
}

/** Rounds every value to the nearest fp16 value (what a save-as-F16/load round trip yields). */
export function roundToF16(src: Float32Array): Float32Array {
  return f16BitsToF32Array(f32ArrayToF16Bits(src));
}

/** Bulk fp32 → bfloat16 bits, rounded to nearest even. */
export function f32ArrayToBf16Bits(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  if (out.length < src.length) throw new RangeError('f32ArrayToBf16Bits: output array is too short');
  for (let i = 0; i < src.length; i++) out[i] = f32ToBf16Bits(src[i]);
  return out;
}
