/**
 * Classifier-free guidance over a batch laid out as n conditional rows followed by their n
 * unconditional rows: row i becomes uncond + scale·(cond − uncond); a scale of 1 keeps cond as is.
 */
export function applyClassifierFreeGuidance(out: Float32Array, n: number, scales: ArrayLike<number>): Float32Array {
  if (out.length % (2 * n) !== 0) throw new RangeError(`a guided batch of ${n} needs 2·${n} rows, got ${out.length} values`);
  if (scales.length !== n) throw new RangeError(`expected ${n} guidance scales, got ${scales.length}`);
  const rowLen = out.length / (2 * n);
  const guided = out.slice(0, n * rowLen);
  for (let i = 0; i < n; i++) {
    const g = scales[i];
    if (g === 1) continue;
    const base = i * rowLen;
    const uBase = (n + i) * rowLen;
    for (let j = 0; j < rowLen; j++) guided[base + j] = out[uBase + j] + g * (out[base + j] - out[uBase + j]);
  }
  return guided;
}
