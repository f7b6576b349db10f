import { test } from 'node:test';
import assert from 'node:assert/strict';
import { f16BitsToF32, f16BitsToF32Array, f32ArrayToF16Bits, f32ToF16Bits, roundToF16 } from '../../src/engine/io/float16';

/** IEEE 754 binary16 value of a bit pattern, from the published formula. */
function formulaValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

test('fp16: every bit pattern decodes to the formula value, scalar and bulk', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const bulk = f16BitsToF32Array(all);
  for (let h = 0; h < 65536; h++) {
    const want = formulaValue(h);
    for (const got of [f16BitsToF32(h), bulk[h]]) {
      if (Number.isNaN(want)) assert.ok(Number.isNaN(got), `0x${h.toString(16)}`);
      else assert.ok(Object.is(got, want), `0x${h.toString(16)}: ${got} vs ${want}`);
    }
  }
});

test('fp16: encoding rounds to nearest, ties to even, overflows to infinity', () => {
  // Every finite value round-trips; the midpoint between two neighbours goes to the even mantissa.
  const mids: number[] = [];
  const expected: number[] = [];
  for (let h = 0; h < 0x7c00; h++) {
    assert.equal(f32ToF16Bits(formulaValue(h)), h);
    assert.equal(f32ToF16Bits(-formulaValue(h)), h === 0 ? 0x8000 : h | 0x8000);
    if (h + 1 < 0x7c00) {
      mids.push((formulaValue(h) + formulaValue(h + 1)) / 2); // exact in float32
      expected.push(h % 2 === 0 ? h : h + 1);
    }
  }
  const bits = f32ArrayToF16Bits(Float32Array.from(mids));
  for (let i = 0; i < mids.length; i++) assert.equal(bits[i], expected[i], `midpoint ${mids[i]}`);
  assert.equal(f32ToF16Bits(65520), 0x7c00); // halfway past the largest finite value (65504)
  assert.equal(f32ToF16Bits(65519.99), 0x7bff);
  assert.equal(f32ToF16Bits(2 ** -25), 0); // tie between 0 and the smallest subnormal: even (0)
  assert.equal(f32ToF16Bits(2 ** -25 * 1.5), 1);
  assert.deepEqual(Array.from(roundToF16(Float32Array.from([1 / 3, 1e-8, 1e6]))), [formulaValue(0x3555), 0, Infinity]);
});
