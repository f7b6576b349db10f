import { Random } from '../../engine/schedulers/random';
import { gaussianBlur, resizeBilinear } from './scorer-augment';

/**
 * Degradations a fine-tune can drift into and that an evaluation must not reward: blur, Gaussian noise,
 * speckle (isolated dark pixels on smeared colour), colour quantisation and low-resolution smear. Each
 * takes a CHW RGB image in [-1, 1] (3 × size × size) and returns a new one; randomness comes from the
 * caller's `Random`.
 */
export type CorruptionKind = 'blur' | 'noise' | 'speckle' | 'quantise' | 'smear';

export const CORRUPTION_KINDS: readonly CorruptionKind[] = ['blur', 'noise', 'speckle', 'quantise', 'smear'];

export interface Corruption {
  kind: CorruptionKind;
  /** 0 (mild) … 1 (strong). */
  strength: number;
}

export function corruptImage(src: Float32Array, size: number, c: Corruption, rng: Random): Float32Array {
  const s = Math.min(Math.max(c.strength, 0), 1);
  switch (c.kind) {
    case 'blur':
      return blurred(src, size, 1 + 3 * s);
    case 'noise':
      return noisy(src, rng, 0.15 + 0.45 * s);
    case 'speckle':
      return speckled(src, size, rng, 0.04 + 0.16 * s);
    case 'quantise':
      return quantised(src, Math.max(2, Math.round(4 - 2 * s)));
    case 'smear':
      return smeared(src, size, Math.max(4, Math.round(12 - 8 * s)));
  }
}

/** Gaussian blur with standard deviation `sigma` px (repeated radius-2 passes: σ² adds up). */
export function blurred(src: Float32Array, size: number, sigma: number): Float32Array {
  const out = src.slice();
  const passes = Math.max(1, Math.ceil((sigma * sigma) / 1));
  const each = Math.sqrt((sigma * sigma) / passes);
  for (let i = 0; i < passes; i++) gaussianBlur(out, size, each);
  return out;
}

export function noisy(src: Float32Array, rng: Random, std: number): Float32Array {
  return src.map((v) => clamp(v + std * rng.normal()));
}

/** Colours smeared by a strong blur, then a share of pixels set to near-black dots. */
export function speckled(src: Float32Array, size: number, rng: Random, share: number): Float32Array {
  const out = blurred(src, size, 2);
  const plane = size * size;
  for (let i = 0; i < plane; i++) {
    if (rng.uniform() >= share) continue;
    const v = -1 + 0.3 * rng.uniform();
    for (let c = 0; c < 3; c++) out[c * plane + i] = v;
  }
  return out;
}

/** Each channel rounded to `levels` evenly spaced values. */
export function quantised(src: Float32Array, levels: number): Float32Array {
  const q = levels - 1;
  return src.map((v) => (Math.round(((v + 1) / 2) * q) / q) * 2 - 1);
}

/** Down to `low` px and back up (bilinear). */
export function smeared(src: Float32Array, size: number, low: number): Float32Array {
  return resizeBilinear(resizeBilinear(src, size, low), low, size);
}

function clamp(v: number): number {
  return v < -1 ? -1 : v > 1 ? 1 : v;
}
