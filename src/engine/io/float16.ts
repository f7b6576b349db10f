// IEEE 754 binary16 (fp16) and bfloat16 conversions, scalar and bulk.
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

/** Converts float32 bits to fp16 bits. Works on bits so no double rounding through float64 happens. */
function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;

  if (exp === 0xff) {
    // Inf stays inf; NaN keeps its top payload bits and is forced quiet so it cannot turn into inf.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }

  const e = exp - 127 + 15; // rebias
  if (e >= 0x1f) return sign | 0x7c00; // too large: inf

  if (e <= 0) {
    // Result is subnormal (or zero): value / 2^-24, rounded. float32 subnormals are far below 2^-25.
    if (exp === 0) return sign;
    const m = mant | 0x800000; // implicit leading one
    const shift = 14 - e; // ≥ 14
    if (shift > 24) return sign; // < 2^-25: rounds to zero
    const q = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    // A carry out of the mantissa lands on the smallest normal (0x0400), which is the right answer.
    return sign | (rem > half || (rem === half && (q & 1) === 1) ? q + 1 : q);
  }

  const q = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry propagates into the exponent; from the largest finite value it correctly yields inf (0x7c00).
  return sign | (rem > 0x1000 || (rem === 0x1000 && (q & 1) === 1) ? q + 1 : q);
}

/** fp16 bit pattern (0..0xffff) of a number, rounded to nearest even via float32. */
export function f32ToF16Bits(value: number): number {
  // JS numbers are float64: rounding to float32 first and then to fp16 can double-round. Values that are
  // exactly representable in float32 (everything coming from a Float32Array) are unaffected.
  f32Scratch[0] = value;
  return f32BitsToF16Bits(u32Scratch[0]);
}

/** Float32 bits of an fp16 bit pattern (exact: every fp16 value is a float32 value). */
function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp === 0) {
    if (mant === 0) return sign >>> 0;
    // Subnormal: normalise so the leading one becomes implicit.
    let e = -1;
    do {
      mant <<= 1;
      e++;
    } while ((mant & 0x400) === 0);
    return (sign | ((127 - 15 - e) << 23) | ((mant & 0x3ff) << 13)) >>> 0;
  }
  return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
}

/** Number value of an fp16 bit pattern. */
export function f16BitsToF32(bits: number): number {
  u32Scratch[0] = f16BitsToF32Bits(bits & 0xffff);
  return f32Scratch[0];
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

// Every fp16 value as float32 bits: 256 KiB, built on first bulk use; decoding becomes one lookup.
let f16Table: Uint32Array | null = null;
function f16ToF32Table(): Uint32Array {
  if (!f16Table) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  return f16Table;
}

/** Bulk fp32 → fp16 bits. */
export function f32ArrayToF16Bits(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  if (out.length < src.length) throw new RangeError('f32ArrayToF16Bits: output array is too short');
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16Bits(bits[i]);
  return out;
}

/** Bulk fp16 bits → fp32. */
export function f16BitsToF32Array(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  if (out.length < src.length) throw new RangeError('f16BitsToF32Array: output array is too short');
  const table = f16ToF32Table();
  const outBits = new Uint32Array(out.buffer, out.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) outBits[i] = table[src[i]];
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
