/** Image resampling shared by the scorer and its training augmentations. */

/**
 * Bilinear resize of a 3-channel CHW image (half-pixel centres, edge clamped, as torch's
 * `interpolate(mode='bilinear', align_corners=False)`); a 2× reduction is then an exact 2×2 mean.
 */
export function resizeBilinear(src: Float32Array, from: number, to: number): Float32Array {
  const out = new Float32Array(3 * to * to);
  const scale = from / to;
  const coords = (i: number): [number, number, number] => {
    const s = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), from - 1);
    const i0 = Math.floor(s);
    return [i0, Math.min(i0 + 1, from - 1), s - i0];
  };
  for (let c = 0; c < 3; c++) {
    const sb = c * from * from;
    const ob = c * to * to;
    for (let y = 0; y < to; y++) {
      const [y0, y1, fy] = coords(y);
      for (let x = 0; x < to; x++) {
        const [x0, x1, fx] = coords(x);
        const top = src[sb + y0 * from + x0] * (1 - fx) + src[sb + y0 * from + x1] * fx;
        const bottom = src[sb + y1 * from + x0] * (1 - fx) + src[sb + y1 * from + x1] * fx;
        out[ob + y * to + x] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return out;
}

