import { Random } from '../../engine/schedulers';
import { EmojiStyle } from '../emoji-data';
import { ScoredImage } from '../../engine/scorer/emoji-scorer';
import { FidelityScore } from './brand-fidelity';
import { EvalCase, round } from './style-evaluation';

/** A win rate with a 95% interval. */
export interface WinRate {
  rate: number;
  low: number;
  high: number;
  /** How the interval was computed. */
  interval: string;
  cases: number;
}

/**
 * Share of cases where a beats b (ties half), with a 95% percentile bootstrap interval that resamples
 * PROMPTS (all seeds of a prompt together: seeds of one prompt are not independent).
 */
export function pairedWinRate(a: readonly number[], b: readonly number[], cases: readonly EvalCase[], reps = 2000, seed = 0): WinRate {
  const win: number[] = a.map((v, i) => (v > b[i] ? 1 : v === b[i] ? 0.5 : 0));
  const groups = new Map<string, number[]>();
  cases.forEach((c, i) => groups.set(c.prompt, [...(groups.get(c.prompt) ?? []), i]));
  const g = [...groups.values()].map((idx) => ({ sum: idx.reduce((s, i) => s + win[i], 0), n: idx.length }));
  const rate = win.reduce((s, v) => s + v, 0) / Math.max(win.length, 1);
  const rng = new Random(seed);
  const stats: number[] = [];
  for (let r = 0; r < reps && g.length > 0; r++) {
    let s = 0;
    let n = 0;
    for (let k = 0; k < g.length; k++) {
      const pick = g[rng.randint(0, g.length)];
      s += pick.sum;
      n += pick.n;
    }
    stats.push(s / n);
  }
  stats.sort((x, y) => x - y);
  const q = (p: number) => (stats.length ? stats[Math.min(stats.length - 1, Math.floor(p * stats.length))] : rate);
  return { rate: round(rate), low: round(q(0.025)), high: round(q(0.975)), interval: 'bootstrap over prompts, 95%', cases: win.length };
}

export interface BrandSummary {
  /** Mean brand fidelity to the real rendering. */
  fidelity: number;
  conceptTop5: number;
  /** Mean target-style probability (the rejection class takes its share). */
  styleScore: number;
  /** Share of images the style head rejects ("none of these styles"). */
  rejectedShare: number;
}

export function summarizeBrand(cases: readonly EvalCase[], scores: readonly ScoredImage[], fidelity: readonly FidelityScore[], target: EmojiStyle): BrandSummary {
  const n = Math.max(cases.length, 1);
  let f = 0;
  let top5 = 0;
  let style = 0;
  let rejected = 0;
  cases.forEach((c, i) => {
    f += fidelity[i].fidelity;
    if (scores[i].inTopK(c.concept.id, 5)) top5++;
    style += scores[i].styleProbabilities[target];
    if (scores[i].predictedStyle === 'none') rejected++;
  });
  return { fidelity: round(f / n), conceptTop5: round(top5 / n), styleScore: round(style / n), rejectedShare: round(rejected / n) };
}

export interface FrontierPoint {
  steps: number;
  scale: number;
  fidelity: number;
  conceptTop5: number;
}

/** The point with the highest fidelity among those keeping concept top-5 ≥ floor (null if none does). */
export function bestOperatingPoint(points: readonly FrontierPoint[], conceptFloor: number): FrontierPoint | null {
  let best: FrontierPoint | null = null;
  for (const p of points) if (p.conceptTop5 >= conceptFloor - 1e-9 && (!best || p.fidelity > best.fidelity)) best = p;
  return best;
}

/** Comma-separated numbers of a CLI flag. */
export function parseNumberList(text: string, flag: string): number[] {
  const out = text.split(',').map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((v) => !Number.isFinite(v) || v <= 0)) throw new Error(`--${flag} must be positive numbers separated by commas`);
  return out;
}
