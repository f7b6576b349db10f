/**
 * Space-to-depth for pixel-space models: [N, C, H, W] ↔ [N, C·f², H/f, W/f] with torch's
 * pixel_unshuffle / pixel_shuffle channel order (c·f² + i·f + j).
 */
export function pixelUnshuffle(x: Float32Array, n: number, c: number, h: number, w: number, f: number): Float32Array {
  if (f === 1) return x;
  const ho = h / f;
  const wo = w / f;
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < w; xx++) {
          const oc = ch * f * f + (y % f) * f + (xx % f);
          out[((b * c * f * f + oc) * ho + Math.floor(y / f)) * wo + Math.floor(xx / f)] = x[((b * c + ch) * h + y) * w + xx];
        }
  return out;
}

export function pixelShuffle(x: Float32Array, n: number, cf: number, ho: number, wo: number, f: number): Float32Array {
  if (f === 1) return x;
  const c = cf / (f * f);
  const h = ho * f;
  const w = wo * f;
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < w; xx++) {
          const ic = ch * f * f + (y % f) * f + (xx % f);
          out[((b * c + ch) * h + y) * w + xx] = x[((b * cf + ic) * ho + Math.floor(y / f)) * wo + Math.floor(xx / f)];
        }
  return out;
}
