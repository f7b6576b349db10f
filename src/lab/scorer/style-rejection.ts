import { EmojiStyle } from '../emoji-data';
import { Random } from '../../engine/schedulers/random';
import { EmojiScorer } from '../../engine/scorer/emoji-scorer';
import { augmentImage, DEFAULT_SCORER_AUGMENT } from './scorer-augment';
import { ScorerDataset } from './scorer-data';
import { corruptImage, CORRUPTION_KINDS, CorruptionKind } from './image-corruptions';

/**
 * A rejection class for the style head: a softmax over the known styles hands the probability of an image
 * that stops looking like Noto or Twemoji to the remaining style, so degraded images score as OpenMoji.
 * A rejection logit joins the style softmax, fitted on frozen multi-scale statistics of the scorer's
 * residual stream, trained on
 * corrupted renderings (blur, noise, speckle, quantisation, smear of every style) and off-style synthetic
 * images (colour fields, static), next to clean and lightly augmented renderings labelled with their style.
 * Only `reject_head` is new; the backbone, the style rows and the concept head stay as they are.
 */
export const REJECT_CLASS = 'none';

export interface RejectionFitOptions {
  seed: number;
  /** Concept ids left out of the fit (validated on afterwards). */
  excludeConcepts: ReadonlySet<string>;
  /** Full-batch gradient steps (Adam). */
  steps?: number;
  lr?: number;
  /** L2 penalty on the weights. */
  l2?: number;
  /** Off-style synthetic images. */
  synthetic?: number;
  onProgress?: (step: number, loss: number) => void;
}

/** Variation that keeps a rendering clean: a pixel of shift, a little zoom and colour, no blur or noise. */
export const CLEAN_VARIATION = { ...DEFAULT_SCORER_AUGMENT, maxShift: 1, maxNoiseStd: 0, blurProbability: 0, rescaleProbability: 0 };

/** Synthetic images that are no emoji style at all: smeared colour fields, flat colour and static. */
export function offStyleImage(size: number, rng: Random): Float32Array {
  const plane = size * size;
  const out = new Float32Array(3 * plane).fill(1);
  const kind = rng.randint(0, 3);
  if (kind === 0) {
    const low = 2 + rng.randint(0, 5);
    const cells = Array.from({ length: 3 * low * low }, () => rng.uniform() * 2 - 1);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const fy = ((y + 0.5) / size) * low - 0.5;
          const fx = ((x + 0.5) / size) * low - 0.5;
          const y0 = Math.max(0, Math.min(low - 1, Math.floor(fy)));
          const x0 = Math.max(0, Math.min(low - 1, Math.floor(fx)));
          const y1 = Math.min(low - 1, y0 + 1);
          const x1 = Math.min(low - 1, x0 + 1);
          const ty = Math.min(Math.max(fy - y0, 0), 1);
          const tx = Math.min(Math.max(fx - x0, 0), 1);
          const at = (yy: number, xx: number) => cells[c * low * low + yy * low + xx];
          out[c * plane + y * size + x] = (at(y0, x0) * (1 - tx) + at(y0, x1) * tx) * (1 - ty) + (at(y1, x0) * (1 - tx) + at(y1, x1) * tx) * ty;
        }
      }
    }
  } else if (kind === 1) {
    const colour = [0, 1, 2].map(() => rng.uniform() * 2 - 1);
    const r = size * (0.25 + 0.25 * rng.uniform());
    const cx = (size - 1) / 2;
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) if ((x - cx) ** 2 + (y - cx) ** 2 < r * r) for (let c = 0; c < 3; c++) out[c * plane + y * size + x] = colour[c];
  } else {
    const std = 0.3 + 0.5 * rng.uniform();
    for (let i = 0; i < out.length; i++) out[i] = Math.max(-1, Math.min(1, 1 - std * Math.abs(rng.normal())));
  }
  return out;
}

/** A random corruption of one rendering, strength uniform in [0, 1]. */
export function randomCorruption(img: Float32Array, size: number, rng: Random): { image: Float32Array; kind: CorruptionKind } {
  const kind = CORRUPTION_KINDS[rng.randint(0, CORRUPTION_KINDS.length)];
  return { image: corruptImage(img, size, { kind, strength: rng.uniform() }, rng), kind };
}

/**
 * Fits the rejection logit r = w·x + b on the scorer's multi-scale statistics x (`rejectFeatures`) with
 * the style logits s fixed, so p(none) = exp(r) / (exp(r) + Σ exp(s)): every clean rendering and one
 * lightly varied copy (not none), one corrupted copy of each and `synthetic` off-style images (none), classes
 * balanced. Clean images keep their style ranking; only how much probability "none" takes is learned.
 */
export async function fitRejectionHead(scorer: EmojiScorer, data: ScorerDataset, o: RejectionFitOptions): Promise<{ head: RejectionHead; samples: number }> {
  const rng = new Random(o.seed);
  const s = data.size;
  const per = 3 * s * s;
  const images: Float32Array[] = [];
  const labels: number[] = [];
  for (let i = 0; i < data.count; i++) {
    if (o.excludeConcepts.has(data.conceptIds[data.conceptLabels[i]])) continue;
    const img = data.images.subarray(i * per, (i + 1) * per);
    const aug = new Float32Array(per);
    augmentImage(img, s, rng, CLEAN_VARIATION, aug);
    images.push(img, aug, randomCorruption(img, s, rng).image);
    labels.push(0, 0, 1);
  }
  for (let i = 0; i < (o.synthetic ?? 600); i++) {
    images.push(offStyleImage(s, rng));
    labels.push(1);
  }
  const scored = await scorer.scoreBatch(images, s);
  const known = scorer.styles.length;
  const offsets = scored.map((r) => -logSumExp(r.styleLogits.subarray(0, known)));
  const head = fitOffsetLogistic(scored.map((r) => r.rejectFeatures), offsets, labels, o);
  return { head, samples: images.length };
}

export interface RejectionHead {
  weight: Float32Array;
  bias: number;
}

/**
 * Class-balanced logistic regression with a fixed per-sample offset, P(y = 1) = σ(w·x + b + offset), by
 * full-batch Adam on standardised inputs (the standardisation is folded back into w and b).
 */
export function fitOffsetLogistic(features: readonly Float32Array[], offsets: readonly number[], labels: readonly number[], o: Pick<RejectionFitOptions, 'steps' | 'lr' | 'l2' | 'onProgress'>): RejectionHead {
  const d = features[0].length;
  const n = features.length;
  const mu = new Float64Array(d);
  const sd = new Float64Array(d);
  for (const f of features) for (let j = 0; j < d; j++) mu[j] += f[j] / n;
  for (const f of features) for (let j = 0; j < d; j++) sd[j] += (f[j] - mu[j]) ** 2 / n;
  for (let j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j]) + 1e-6;
  const xs = features.map((f) => Float64Array.from(f, (v, j) => (v - mu[j]) / sd[j]));
  const positives = labels.filter((l) => l === 1).length;
  // Clean images count twice as much as degraded ones: a false rejection costs the evaluation real style.
  const cw = [(2 * n) / (3 * Math.max(n - positives, 1)), n / (3 * Math.max(positives, 1))];
  const steps = o.steps ?? 300;
  const lr = o.lr ?? 0.02;
  const l2 = o.l2 ?? 1e-4;
  const p = new Float64Array(d + 1); // weights, then bias
  const m = new Float64Array(d + 1);
  const v = new Float64Array(d + 1);
  for (let step = 1; step <= steps; step++) {
    const g = new Float64Array(d + 1);
    let loss = 0;
    xs.forEach((x, i) => {
      let z = p[d] + offsets[i];
      for (let j = 0; j < d; j++) z += p[j] * x[j];
      const q = 1 / (1 + Math.exp(-z));
      const w = cw[labels[i]];
      loss -= w * Math.log(Math.max(labels[i] ? q : 1 - q, 1e-12));
      const e = w * (q - labels[i]);
      for (let j = 0; j < d; j++) g[j] += e * x[j];
      g[d] += e;
    });
    for (let j = 0; j <= d; j++) {
      const gj = g[j] / n + (j < d ? l2 * p[j] : 0);
      m[j] = 0.9 * m[j] + 0.1 * gj;
      v[j] = 0.999 * v[j] + 0.001 * gj * gj;
      p[j] -= (lr * (m[j] / (1 - 0.9 ** step))) / (Math.sqrt(v[j] / (1 - 0.999 ** step)) + 1e-8);
    }
    o.onProgress?.(step, loss / n);
  }
  const weight = new Float32Array(d);
  let bias = p[d];
  for (let j = 0; j < d; j++) {
    weight[j] = p[j] / sd[j];
    bias -= (p[j] * mu[j]) / sd[j];
  }
  return { weight, bias };
}

function logSumExp(z: Float32Array): number {
  let max = -Infinity;
  for (const v of z) if (v > max) max = v;
  let sum = 0;
  for (const v of z) sum += Math.exp(v - max);
  return max + Math.log(sum);
}

export interface RejectionMetrics {
  /** Real renderings of each style: mean probability of their own style, and of none. */
  clean: Partial<Record<EmojiStyle, { images: number; ownStyle: number; none: number; accuracy: number }>>;
  /** Corrupted renderings (strength 0.5) of each kind: mean OpenMoji and none probability, share predicted none. */
  corrupted: Partial<Record<CorruptionKind, { images: number; openmoji: number; none: number; rejected: number }>>;
}

/** Measures the rejection on the renderings of `concepts` (indices into data). */
export async function rejectionMetrics(scorer: EmojiScorer, data: ScorerDataset, indices: readonly number[], seed: number, strength = 0.5): Promise<RejectionMetrics> {
  const s = data.size;
  const per = 3 * s * s;
  const imgs = indices.map((i) => data.images.subarray(i * per, (i + 1) * per));
  const scored = await scorer.scoreBatch(imgs, s);
  const clean: RejectionMetrics['clean'] = {};
  scored.forEach((r, j) => {
    const style = data.styles[data.styleLabels[indices[j]]];
    const t = (clean[style] ??= { images: 0, ownStyle: 0, none: 0, accuracy: 0 });
    t.images++;
    t.ownStyle += r.styleProbabilities[style];
    t.none += r.noneProbability;
    if (r.predictedStyle === style) t.accuracy++;
  });
  for (const t of Object.values(clean)) {
    t.ownStyle = round(t.ownStyle / t.images);
    t.none = round(t.none / t.images);
    t.accuracy = round(t.accuracy / t.images);
  }
  // Degraded base-like images: Noto and Twemoji renderings (what the base model draws) corrupted.
  const base = indices.filter((i) => data.styles[data.styleLabels[i]] !== 'openmoji');
  const corrupted: RejectionMetrics['corrupted'] = {};
  const rng = new Random(seed);
  for (const kind of CORRUPTION_KINDS) {
    const out = await scorer.scoreBatch(
      base.map((i) => corruptImage(data.images.subarray(i * per, (i + 1) * per), s, { kind, strength }, rng)),
      s,
    );
    corrupted[kind] = {
      images: out.length,
      openmoji: round(mean(out.map((r) => r.styleProbabilities.openmoji))),
      none: round(mean(out.map((r) => r.noneProbability))),
      rejected: round(mean(out.map((r) => (r.predictedStyle === 'none' ? 1 : 0)))),
    };
  }
  return { clean, corrupted };
}

function mean(v: readonly number[]): number {
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0;
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
