import { EmojiStyle } from '../emoji-data';
import { initParams, ParamMap } from '../../engine/models/param-init';
import { Random } from '../../engine/schedulers/random';
import { AdamW, Ema } from '../../engine/training/adamw.optimizer';
import { EmojiScorer, EmojiScorerFileConfig, SCORER_NORMALIZATION } from '../../engine/scorer/emoji-scorer';
import { augmentImage, DEFAULT_SCORER_AUGMENT, ScorerAugmentOptions } from './scorer-augment';
import { ScorerDataset, ScorerSplit } from './scorer-data';
import { ScorerTrainingGraph } from '../../engine/scorer/scorer-graph';
import { DEFAULT_SCORER_ARCHITECTURE, ScorerConfig, scorerFeatureChannels, scorerParamShapes } from '../../engine/scorer/scorer.model';

export interface ScorerPhaseOptions {
  steps: number;
  lr: number;
  warmupSteps: number;
  /** Final learning rate as a fraction of lr (cosine decay). */
  minLrRatio: number;
}

export interface ScorerTrainOptions {
  data: ScorerDataset;
  split: ScorerSplit;
  architecture?: Partial<Omit<ScorerConfig, 'num_concepts' | 'num_styles'>>;
  seed: number;
  batchSize: number;
  /** Training on the split's train images; the held-out metrics are measured after it. */
  splitPhase: ScorerPhaseOptions;
  /** Continued training on every image (held-out ones included) for the shipped weights; 0 steps skips it. */
  finetunePhase: ScorerPhaseOptions;
  weightDecay: number;
  gradClip: number;
  emaDecay: number;
  /** Label smoothing of the concept targets (styles use hard targets). */
  labelSmoothing: number;
  /** Dropout rate on the pooled features before the heads (0 disables). */
  featureDropout?: number;
  augment?: ScorerAugmentOptions;
  intraOpThreads?: number;
  /** Evaluate the held-out images every this many split-phase steps (0: only at the end). */
  evalEvery?: number;
  onProgress?: (p: ScorerProgress) => void;
  onEval?: (step: number, metrics: ScorerMetrics) => void;
}

export interface ScorerProgress {
  phase: 'split' | 'finetune';
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  trainStyleAccuracy: number;
  trainConceptAccuracy: number;
  samplesPerSecond: number;
}

export interface ScorerMetrics {
  images: number;
  styleAccuracy: number;
  conceptTop1: number;
  conceptTop5: number;
  perStyle: Partial<Record<EmojiStyle, { images: number; styleAccuracy: number; conceptTop1: number; conceptTop5: number }>>;
}

export interface ScorerTrainResult {
  config: ScorerConfig;
  /** EMA weights after the last phase. */
  params: ParamMap;
  /** EMA weights of the split model (before training on held-out images). */
  splitParams: ParamMap;
  heldOut: ScorerMetrics;
  samplesSeen: number;
  trainSeconds: number;
  samplesPerSecond: number;
}

/**
 * Trains the scorer with ONNX Runtime gradient graphs, AdamW and an EMA of the weights: first on the
 * split's train images (then measures the held-out renderings), then optionally on everything.
 */
export async function trainEmojiScorer(o: ScorerTrainOptions): Promise<ScorerTrainResult> {
  const { data } = o;
  const config: ScorerConfig = {
    ...DEFAULT_SCORER_ARCHITECTURE,
    ...o.architecture,
    num_styles: data.styles.length,
    num_concepts: data.conceptIds.length,
  };
  const params = initParams(scorerParamShapes(config), o.seed);
  const dropout = o.featureDropout ?? 0;
  const graph = await ScorerTrainingGraph.create(config, params, { intraOpThreads: o.intraOpThreads, featureDropout: dropout > 0 });
  const flat = new Map([...params].map(([k, v]) => [k, v.data]));
  const optimizer = new AdamW({
    lr: o.splitPhase.lr,
    weightDecay: o.weightDecay,
    // Norm gains and biases are 1-D: decaying them only fights the normalisation.
    noDecay: (name) => params.get(name)!.shape.length === 1,
  });
  const ema = new Ema(flat, o.emaDecay);
  const rng = new Random(o.seed);
  const augment = o.augment ?? DEFAULT_SCORER_AUGMENT;
  const s = data.size;
  const per = 3 * s * s;
  const b = o.batchSize;
  const k = config.num_concepts;
  const ns = config.num_styles;
  const images = new Float32Array(b * per);
  const styleTargets = new Float32Array(b * ns);
  const conceptTargets = new Float32Array(b * k);
  const weights = new Float32Array(b).fill(1 / b);
  const labels = new Int32Array(b * 2);
  const featureMask = dropout > 0 ? new Float32Array(b * scorerFeatureChannels(config)) : undefined;
  let samplesSeen = 0;
  let trainSeconds = 0;
  let globalStep = 0;

  const snapshot = (): ParamMap => new Map([...params].map(([name, v]) => [name, { shape: v.shape, data: ema.shadow.get(name)!.slice() }]));
  const evaluate = async (p: ParamMap, indices: number[]): Promise<ScorerMetrics> => {
    const scorer = await EmojiScorer.fromParams(scorerFileConfig(config, data), p, { intraOpThreads: o.intraOpThreads, executionProvider: 'cpu' });
    try {
      return await evaluateScorer(scorer, data, indices);
    } finally {
      await scorer.release();
    }
  };

  const runPhase = async (phase: 'split' | 'finetune', pool: number[], opts: ScorerPhaseOptions) => {
    let order: number[] = [];
    let cursor = 0;
    let smoothStyle = NaN;
    let smoothConcept = NaN;
    let smoothLoss = NaN;
    const phaseStart = Date.now();
    const phaseSamplesStart = samplesSeen;
    for (let step = 0; step < opts.steps; step++) {
      const started = Date.now();
      styleTargets.fill(0);
      conceptTargets.fill(o.labelSmoothing / k);
      for (let i = 0; i < b; i++) {
        if (cursor >= order.length) {
          order = shuffled(pool, rng);
          cursor = 0;
        }
        const idx = order[cursor++];
        augmentImage(data.images.subarray(idx * per, (idx + 1) * per), s, rng, augment, images.subarray(i * per, (i + 1) * per));
        labels[2 * i] = data.styleLabels[idx];
        labels[2 * i + 1] = data.conceptLabels[idx];
        styleTargets[i * ns + data.styleLabels[idx]] = 1;
        conceptTargets[i * k + data.conceptLabels[idx]] += 1 - o.labelSmoothing;
      }
      if (featureMask) for (let i = 0; i < featureMask.length; i++) featureMask[i] = rng.uniform() < dropout ? 0 : 1 / (1 - dropout);
      const lr = learningRateAt(step, opts);
      const res = await graph.step({ batch: b, images, styleTargets, conceptTargets, weights, featureMask }, flat);
      if (!Number.isFinite(res.loss)) throw new Error(`${phase} step ${step}: loss is ${res.loss}`);
      optimizer.step(flat, res.grads, { lr, clipNorm: o.gradClip });
      ema.update(flat, globalStep++);
      samplesSeen += b;
      trainSeconds += (Date.now() - started) / 1000;

      let styleHits = 0;
      let conceptHits = 0;
      for (let i = 0; i < b; i++) {
        if (argmax(res.styleLogits, i * ns, ns) === labels[2 * i]) styleHits++;
        if (argmax(res.conceptLogits, i * k, k) === labels[2 * i + 1]) conceptHits++;
      }
      const mix = (prev: number, v: number) => (Number.isNaN(prev) ? v : prev + 0.05 * (v - prev));
      smoothStyle = mix(smoothStyle, styleHits / b);
      smoothConcept = mix(smoothConcept, conceptHits / b);
      smoothLoss = mix(smoothLoss, res.loss);
      o.onProgress?.({
        phase,
        step: step + 1,
        totalSteps: opts.steps,
        loss: smoothLoss,
        lr,
        trainStyleAccuracy: smoothStyle,
        trainConceptAccuracy: smoothConcept,
        samplesPerSecond: (samplesSeen - phaseSamplesStart) / Math.max(1e-3, (Date.now() - phaseStart) / 1000),
      });
      if (phase === 'split' && o.evalEvery && (step + 1) % o.evalEvery === 0 && step + 1 < opts.steps) {
        o.onEval?.(step + 1, await evaluate(snapshot(), o.split.heldOut));
      }
    }
  };

  try {
    await runPhase('split', o.split.train, o.splitPhase);
    const splitParams = snapshot();
    const heldOut = await evaluate(splitParams, o.split.heldOut);
    o.onEval?.(o.splitPhase.steps, heldOut);
    if (o.finetunePhase.steps > 0) {
      await runPhase('finetune', Array.from({ length: data.count }, (_, i) => i), o.finetunePhase);
    }
    return {
      config,
      params: snapshot(),
      splitParams,
      heldOut,
      samplesSeen,
      trainSeconds,
      samplesPerSecond: samplesSeen / Math.max(trainSeconds, 1e-9),
    };
  } finally {
    await graph.release();
  }
}

/** Style accuracy and concept top-1/top-5 of a scorer on dataset images, overall and per true style. */
export async function evaluateScorer(scorer: EmojiScorer, data: ScorerDataset, indices: readonly number[]): Promise<ScorerMetrics> {
  const per = 3 * data.size * data.size;
  const scored = await scorer.scoreBatch(
    indices.map((i) => data.images.subarray(i * per, (i + 1) * per)),
    data.size,
  );
  const tally = new Map<string, { images: number; style: number; top1: number; top5: number }>();
  const add = (key: string, styleOk: boolean, rank: number) => {
    const t = tally.get(key) ?? { images: 0, style: 0, top1: 0, top5: 0 };
    t.images++;
    if (styleOk) t.style++;
    if (rank <= 1) t.top1++;
    if (rank <= 5) t.top5++;
    tally.set(key, t);
  };
  scored.forEach((r, j) => {
    const i = indices[j];
    const style = data.styles[data.styleLabels[i]];
    const rank = r.rankOf(data.conceptIds[data.conceptLabels[i]]);
    const styleOk = r.predictedStyle === style;
    add('*', styleOk, rank);
    add(style, styleOk, rank);
  });
  const summary = (t: { images: number; style: number; top1: number; top5: number } | undefined) => ({
    images: t?.images ?? 0,
    styleAccuracy: t ? t.style / t.images : NaN,
    conceptTop1: t ? t.top1 / t.images : NaN,
    conceptTop5: t ? t.top5 / t.images : NaN,
  });
  const perStyle: ScorerMetrics['perStyle'] = {};
  for (const style of data.styles) if (tally.has(style)) perStyle[style] = summary(tally.get(style));
  return { ...summary(tally.get('*')), perStyle };
}

/** The `config.json` content describing a scorer trained on `data`. */
export function scorerFileConfig(config: ScorerConfig, data: Pick<ScorerDataset, 'styles' | 'conceptIds' | 'concepts'>): EmojiScorerFileConfig {
  return {
    ...config,
    styles: [...data.styles],
    concept_ids: data.conceptIds,
    concept_labels: data.concepts.map((c) => c.label),
    normalization: SCORER_NORMALIZATION,
  };
}

/** Linear warm-up, then cosine decay to minLrRatio·lr. */
export function learningRateAt(step: number, o: ScorerPhaseOptions): number {
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  const progress = Math.min(1, (step - o.warmupSteps) / Math.max(1, o.steps - o.warmupSteps));
  return o.lr * (o.minLrRatio + (1 - o.minLrRatio) * 0.5 * (1 + Math.cos(Math.PI * progress)));
}

function shuffled(pool: readonly number[], rng: Random): number[] {
  const out = pool.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.randint(0, i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

function argmax(v: Float32Array, offset: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (v[offset + i] > v[offset + best]) best = i;
  return best;
}
