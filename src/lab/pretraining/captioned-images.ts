import type { Random } from '../../engine/schedulers';

/** One training image with a caption sampler (captions vary per visit: tag dropout, style phrase). */
export interface CaptionedImages {
  count: number;
  imageSize: number;
  /** N × 3 × S × S in [-1, 1]. */
  images: Float32Array;
  caption(index: number, rng: Random): string;
}
