import * as ort from 'onnxruntime-node';
import { OnnxGraphOps, Sym } from '../graph/onnx-graph-ops';
import { encodeModel } from '../onnx/onnx-model';
import { createSession, ExecutionProviderChoice } from '../onnx/ort-session';
import { ParamMap } from '../models/param-init';
import { ScorerConfig, scorerFeatureChannels, scorerForward } from './scorer.model';

/**
 * Inference graph: `images` [N, 3, S, S] → `style_logits`, `concept_logits` (with a reject head the style
 * logits end with the rejection logit), `features` (the pooled features both heads read, [N, C]) and
 * `reject_features` (what the reject head reads). With `paramsAsInputs` the
 * weights are graph inputs (evaluating a model that is still training without rebuilding the session);
 * otherwise they are baked in as initializers.
 */
export function buildScorerInferenceModel(cfg: ScorerConfig, params: ParamMap, opts: { paramsAsInputs?: boolean } = {}): Uint8Array {
  const g = new OnnxGraphOps({ params, trainableParams: opts.paramsAsInputs ? () => true : undefined });
  const s = cfg.image_size;
  const images = g.input('images', [-1, cfg.in_channels, s, s]);
  const out = scorerForward(g, cfg, images, { rejectFeatures: true });
  g.output(out.styleLogits, 'style_logits');
  g.output(out.conceptLogits, 'concept_logits');
  g.output(out.features, 'features');
  g.output(out.rejectFeatures!, 'reject_features');
  return encodeModel(g.toModel({ model: 'emoji-scorer' }));
}

export interface ScorerTrainingStepInputs {
  batch: number;
  /** [B, 3, S, S] */
  images: Float32Array;
  /** [B, num_styles] target distributions (one-hot, optionally smoothed). */
  styleTargets: Float32Array;
  /** [B, num_concepts] target distributions. */
  conceptTargets: Float32Array;
  /** [B] per-sample loss weights (1/B for a mean). */
  weights: Float32Array;
  /** [B, C] dropout mask on the pooled features (graphs built with featureDropout). */
  featureMask?: Float32Array;
}

export interface ScorerTrainingStepResult {
  loss: number;
  styleLogits: Float32Array;
  conceptLogits: Float32Array;
  grads: Map<string, Float32Array>;
}

/**
 * One ONNX Runtime session computing, for a batch, the loss Σ_i w_i · (CE_style,i + CE_concept,i) with
 * soft-label cross-entropy CE = −Σ_k y_k log softmax(z)_k, the logits, and the gradient of the loss with
 * respect to every parameter.
 */
export class ScorerTrainingGraph {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly cfg: ScorerConfig,
    private readonly shapes: Map<string, number[]>,
    readonly trainableNames: string[],
    private readonly featureDropout: boolean,
  ) {}

  static async create(
    cfg: ScorerConfig,
    params: ParamMap,
    opts: { intraOpThreads?: number; executionProvider?: ExecutionProviderChoice; featureDropout?: boolean } = {},
  ): Promise<ScorerTrainingGraph> {
    const g = new OnnxGraphOps({ params, trainableParams: () => true, differentiable: true });
    const s = cfg.image_size;
    const images = g.input('images', [-1, cfg.in_channels, s, s]);
    const styleTargets = g.input('style_targets', [-1, cfg.num_styles]);
    const conceptTargets = g.input('concept_targets', [-1, cfg.num_concepts]);
    const weights = g.input('weights', [-1]);
    const featureMask = opts.featureDropout ? g.input('feature_mask', [-1, scorerFeatureChannels(cfg)]) : undefined;
    const out = scorerForward(g, cfg, images, { featureMask });
    const crossEntropy = (logits: Sym, targets: Sym): Sym =>
      g.reshape(g.scale(g.reduceSum(g.mul(g.logSoftmax(logits), targets), [1]), -1), [-1]);
    const perSample = g.add(crossEntropy(out.styleLogits, styleTargets), crossEntropy(out.conceptLogits, conceptTargets));
    const loss = g.reshape(g.reduceSum(g.reshape(g.mul(perSample, weights), [1, -1]), [1]), []);
    g.output(loss, 'loss');
    g.output(out.styleLogits, 'style_logits');
    g.output(out.conceptLogits, 'concept_logits');
    const wrt = g.trainableInputs;
    const grads = g.gradients(loss, wrt);
    wrt.forEach((p, i) => {
      const gr = grads[i];
      if (!gr) throw new Error(`no gradient reaches ${p.name}`);
      g.output(gr, `grad:${p.name}`);
    });
    const { session } = await createSession(encodeModel(g.toModel()), {
      intraOpThreads: opts.intraOpThreads,
      executionProvider: opts.executionProvider ?? 'cpu',
    });
    const shapes = new Map([...params].map(([k, v]) => [k, v.shape]));
    return new ScorerTrainingGraph(session, cfg, shapes, wrt.map((p) => p.name), !!opts.featureDropout);
  }

  async step(inputs: ScorerTrainingStepInputs, params: Map<string, Float32Array>): Promise<ScorerTrainingStepResult> {
    const { cfg } = this;
    const b = inputs.batch;
    const s = cfg.image_size;
    const feeds: Record<string, ort.Tensor> = {
      images: new ort.Tensor('float32', inputs.images, [b, cfg.in_channels, s, s]),
      style_targets: new ort.Tensor('float32', inputs.styleTargets, [b, cfg.num_styles]),
      concept_targets: new ort.Tensor('float32', inputs.conceptTargets, [b, cfg.num_concepts]),
      weights: new ort.Tensor('float32', inputs.weights, [b]),
    };
    if (this.featureDropout) {
      if (!inputs.featureMask) throw new Error('this training graph needs a feature mask');
      feeds.feature_mask = new ort.Tensor('float32', inputs.featureMask, [b, scorerFeatureChannels(cfg)]);
    }
    for (const name of this.trainableNames) {
      const v = params.get(name);
      if (!v) throw new Error(`missing parameter ${name}`);
      feeds[name] = new ort.Tensor('float32', v, this.shapes.get(name)!);
    }
    const out = await this.session.run(feeds);
    const grads = new Map<string, Float32Array>();
    for (const name of this.trainableNames) grads.set(name, out[`grad:${name}`].data as Float32Array);
    return {
      loss: (out.loss.data as Float32Array)[0],
      styleLogits: out.style_logits.data as Float32Array,
      conceptLogits: out.concept_logits.data as Float32Array,
      grads,
    };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
