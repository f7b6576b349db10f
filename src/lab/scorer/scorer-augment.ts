import { Random } from '../../engine/schedulers/random';
import { resizeBilinear } from '../../engine/pipeline/image-resize';

export { resizeBilinear };

/**
 * Augmentations that make the scorer robust to generated images, which are off-centre by a pixel or two,
 * slightly mis-scaled, blurrier, noisier and a little off in colour compared with the clean renderings it
 * is trained on. All randomness comes from the caller's `Random`, so a seed replays a run exactly.
 * No flips: mirrored emoji are different concepts (left/right arrows, hands).
 */
export interface ScorerAugmentOptions {
  /** Translation in whole pixels, each axis uniform in [-maxShift, maxShift]; white fills the border. */
  maxShift: number;
  /** Zoom factor range around 1 (0.08 → [0.92, 1.08]). */
  zoom: number;
  /** Rotation range in degrees (±); 0 keeps emoji upright. */
  maxRotation: number;
  /** Share of images that get a zoom and rotation. */
  geometricProbability: number;
  /** Amplitude of brightness, contrast and saturation jitter. */
  colorJitter: number;
  /** Gaussian pixel noise with σ uniform in [0, maxNoiseStd] (in [-1, 1] units), applied to half of the images. */
  maxNoiseStd: number;
  /** Probability of a Gaussian blur with σ uniform in [0.4, 1]. */
  blurProbability: number;
  /** Probability of a downscale (to 16–24 px) and bilinear upscale. */
  rescaleProbability: number;
}

export const DEFAULT_SCORER_AUGMENT: ScorerAugmentOptions = {
  maxShift: 2,
  zoom: 0.08,
  maxRotation: 0,
  geometricProbability: 0.5,
  colorJitter: 0.08,
  maxNoiseStd: 0.12,
  blurProbability: 0.25,
  rescaleProbability: 0.25,
};

/** Writes an augmented copy of one CHW image (3 × size × size, [-1, 1]) into `out`. */
export function augmentImage(src: Float32Array, size: number, rng: Random, opts: ScorerAugmentOptions, out: Float32Array): void {
  const dx = rng.randint(-opts.maxShift, opts.maxShift + 1);
  const dy = rng.randint(-opts.maxShift, opts.maxShift + 1);
  let zoom = 1;
  let angle = 0;
  if (rng.uniform() < opts.geometricProbability) {
    zoom = 1 + (rng.uniform() * 2 - 1) * opts.zoom;
    if (opts.maxRotation > 0) angle = ((rng.uniform() * 2 - 1) * opts.maxRotation * Math.PI) / 180;
  }
  affineResample(src, size, zoom, angle, dx, dy, out);

  if (rng.uniform() < opts.rescaleProbability) {
    const small = 16 + 2 * rng.randint(0, 5); // 16, 18, …, 24
    const low = resizeBilinear(out, size, small);
    out.set(resizeBilinear(low, small, size));
  }
  if (rng.uniform() < opts.blurProbability) gaussianBlur(out, size, 0.4 + 0.6 * rng.uniform());

  const j = opts.colorJitter;
  const brightness = (rng.uniform() * 2 - 1) * j;
  const contrast = 1 + (rng.uniform() * 2 - 1) * j;
  const saturation = 1 + (rng.uniform() * 2 - 1) * 2 * j;
  const noiseStd = rng.uniform() < 0.5 ? rng.uniform() * opts.maxNoiseStd : 0;
  const plane = size * size;
  for (let i = 0; i < plane; i++) {
    const r = out[i];
    const g = out[plane + i];
    const b = out[2 * plane + i];
    const grey = 0.299 * r + 0.587 * g + 0.114 * b;
    for (let c = 0; c < 3; c++) {
      const v = c === 0 ? r : c === 1 ? g : b;
      let y = (grey + saturation * (v - grey)) * contrast + 2 * brightness;
      if (noiseStd > 0) y += noiseStd * rng.normal();
      out[c * plane + i] = y < -1 ? -1 : y > 1 ? 1 : y;
    }
  }
}

/**
 * Bilinear sampling of a zoom and rotation about the centre plus an integer shift; outside the image is
 * white. Zoom 1 and angle 0 copy pixels exactly.
 */
function affineResample(src: Float32Array, size: number, zoom: number, angle: number, dx: number, dy: number, out: Float32Array): void {
  const plane = size * size;
  const centre = (size - 1) / 2;
  const cos = Math.cos(angle) / zoom;
  const sin = Math.sin(angle) / zoom;
  for (let y = 0; y < size; y++) {
    const v = y - dy - centre;
    for (let x = 0; x < size; x++) {
      const u = x - dx - centre;
      const sx = angle === 0 ? u / zoom + centre : cos * u + sin * v + centre;
      const sy = angle === 0 ? v / zoom + centre : -sin * u + cos * v + centre;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      for (let c = 0; c < 3; c++) {
        const base = c * plane;
        const at = (yy: number, xx: number) => (yy < 0 || yy >= size || xx < 0 || xx >= size ? 1 : src[base + yy * size + xx]);
        const top = fx === 0 ? at(y0, x0) : at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx;
        const bottom = fy === 0 ? 0 : fx === 0 ? at(y0 + 1, x0) : at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx;
        out[base + y * size + x] = fy === 0 ? top : top * (1 - fy) + bottom * fy;
      }
    }
  }
}

/** In-place separable Gaussian blur (radius 2, edges replicated). */
export function gaussianBlur(img: Float32Array, size: number, sigma: number): void {
  const k = [-2, -1, 0, 1, 2].map((d) => Math.exp(-(d * d) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  const w = k.map((v) => v / sum);
  const tmp = new Float32Array(size * size);
  const clamp = (i: number) => (i < 0 ? 0 : i >= size ? size - 1 : i);
  for (let c = 0; c < 3; c++) {
    const base = c * size * size;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        let acc = 0;
        for (let t = 0; t < 5; t++) acc += w[t] * img[base + y * size + clamp(x + t - 2)];
        tmp[y * size + x] = acc;
      }
    }
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        let acc = 0;
        for (let t = 0; t < 5; t++) acc += w[t] * tmp[clamp(y + t - 2) * size + x];
        img[base + y * size + x] = acc;
      }
    }
  }
}
