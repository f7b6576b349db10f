import { EmojiScorer } from '../../engine/scorer/emoji-scorer';
import { resizeBilinear } from '../scorer/scorer-augment';

/**
 * Brand fidelity: how close a generated image is to the brand's REAL rendering of the prompted concept.
 * For the reference brand (OpenMoji, which draws every concept) the ground truth exists, so this measures
 * style and content at once. Two terms, both computed at the scorer's 32 px:
 *
 * - feature similarity: cosine between the scorer's pooled features of the image and of the reference,
 *   after subtracting `featureMean` (the mean feature of a reference set), so that what every emoji shares
 *   does not count;
 * - structure: SSIM of the luminance (Gaussian window σ 1.5 px), which falls under blur (contrast),
 *   noise and speckle (structure) and colour shifts (luminance).
 *
 * similarity = w · cos + (1 − w) · SSIM (w = 0.7), and with a scorer that has a rejection class,
 * fidelity = (1 − p(none))^γ · max(similarity, 0) (γ = 0.5): a degraded image cannot score by resembling the
 * reference a little more once its edges are gone. In [0, 1]; 1 for the reference itself when the scorer
 * accepts it.
 */
export interface FidelityScore {
  fidelity: number;
  similarity: number;
  featureSimilarity: number;
  structure: number;
  /** 1 − p(none) of the image (1 for scorers without a rejection class). */
  acceptance: number;
}

export interface BrandFidelityOptions {
  /** Weight of the feature term (default 0.7). */
  featureWeight?: number;
  /** Exponent γ of the acceptance gate (1 − p(none))^γ (default 0.5). */
  gateExponent?: number;
}

export class BrandFidelity {
  private constructor(
    private readonly scorer: EmojiScorer,
    readonly featureMean: Float32Array,
    readonly featureWeight: number,
    readonly gateExponent: number,
  ) {}

  /** `centring`: images (e.g. real renderings of many concepts) whose mean feature is subtracted. */
  static async create(scorer: EmojiScorer, centring: readonly Float32Array[], size: number, opts: BrandFidelityOptions = {}): Promise<BrandFidelity> {
    const feats = await featuresOf(scorer, centring, size);
    const mean = new Float32Array(feats[0]?.length ?? 0);
    for (const f of feats) for (let i = 0; i < f.length; i++) mean[i] += f[i] / feats.length;
    return new BrandFidelity(scorer, mean, opts.featureWeight ?? 0.7, opts.gateExponent ?? 0.5);
  }

  /** Fidelity of images[i] to references[i] (both CHW [-1, 1], size × size). */
  async score(images: readonly Float32Array[], references: readonly Float32Array[], size: number): Promise<FidelityScore[]> {
    if (images.length !== references.length) throw new Error('fidelity: one reference per image');
    const si = await this.scorer.scoreBatch(images, size);
    const fr = await featuresOf(this.scorer, references, size);
    const s = this.scorer.imageSize;
    return images.map((img, i) => {
      const featureSimilarity = centredCosine(si[i].features, fr[i], this.featureMean);
      const structure = ssim(to(img, size, s), to(references[i], size, s), s);
      const similarity = this.featureWeight * featureSimilarity + (1 - this.featureWeight) * structure;
      const acceptance = 1 - si[i].noneProbability;
      return { fidelity: acceptance ** this.gateExponent * Math.max(similarity, 0), similarity, featureSimilarity, structure, acceptance };
    });
  }
}

async function featuresOf(scorer: EmojiScorer, images: readonly Float32Array[], size: number): Promise<Float32Array[]> {
  return (await scorer.scoreBatch(images, size)).map((r) => r.features);
}

function to(img: Float32Array, from: number, size: number): Float32Array {
  return from === size ? img : resizeBilinear(img, from, size);
}

export function centredCosine(a: Float32Array, b: Float32Array, mean: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] - (mean[i] ?? 0);
    const y = b[i] - (mean[i] ?? 0);
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / Math.sqrt(Math.max(aa * bb, 1e-20));
}

/** Luma (BT.601) of a CHW [-1, 1] image, in [0, 1]. */
export function luminance(img: Float32Array, size: number): Float32Array {
  const plane = size * size;
  const out = new Float32Array(plane);
  for (let i = 0; i < plane; i++) out[i] = (0.299 * img[i] + 0.587 * img[plane + i] + 0.114 * img[2 * plane + i] + 1) / 2;
  return out;
}

/** Mean SSIM of the luminance of two CHW [-1, 1] images (Gaussian window σ 1.5, radius 3, edges clamped). */
export function ssim(a: Float32Array, b: Float32Array, size: number): number {
  const x = luminance(a, size);
  const y = luminance(b, size);
  const c1 = 0.01 ** 2;
  const c2 = 0.03 ** 2;
  const mx = gaussianFilter(x, size);
  const my = gaussianFilter(y, size);
  const xx = gaussianFilter(x.map((v) => v * v), size);
  const yy = gaussianFilter(y.map((v) => v * v), size);
  const xy = gaussianFilter(x.map((v, i) => v * y[i]), size);
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    const vx = xx[i] - mx[i] * mx[i];
    const vy = yy[i] - my[i] * my[i];
    const cxy = xy[i] - mx[i] * my[i];
    sum += ((2 * mx[i] * my[i] + c1) * (2 * cxy + c2)) / ((mx[i] ** 2 + my[i] ** 2 + c1) * (vx + vy + c2));
  }
  return sum / x.length;
}

const WINDOW = (() => {
  const k = [-3, -2, -1, 0, 1, 2, 3].map((d) => Math.exp(-(d * d) / (2 * 1.5 * 1.5)));
  const s = k.reduce((p, q) => p + q, 0);
  return k.map((v) => v / s);
})();

function gaussianFilter(img: Float32Array, size: number): Float32Array {
  const tmp = new Float32Array(img.length);
  const out = new Float32Array(img.length);
  const r = (WINDOW.length - 1) / 2;
  const clamp = (i: number) => (i < 0 ? 0 : i >= size ? size - 1 : i);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let acc = 0;
      for (let t = -r; t <= r; t++) acc += WINDOW[t + r] * img[y * size + clamp(x + t)];
      tmp[y * size + x] = acc;
    }
  }
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let acc = 0;
      for (let t = -r; t <= r; t++) acc += WINDOW[t + r] * tmp[clamp(y + t) * size + x];
      out[y * size + x] = acc;
    }
  }
  return out;
}
