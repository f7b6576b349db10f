import { Ops, conv2dModule, groupNormModule, linearModule, silu } from '../graph/ops';
import { ParamShapes } from '../models/unet-params';

/**
 * The evaluation scorer: a small pre-activation ResNet over 32×32 RGB images with two linear heads on
 * globally pooled features — art style (Noto / Twemoji / OpenMoji) and emoji concept. Written once
 * against `Ops<T>`, so tfjs, ONNX inference and ONNX training graphs all run the same definition.
 *
 * Layout (parameter names in parentheses):
 *   conv_in (3→stem, 3×3)
 *   per stage i: GroupNorm → SiLU → downsample (3×3, stride 2), then `blocks_per_stage` pre-activation
 *     residual blocks (stages.i.norm, stages.i.downsample, stages.i.blocks.j.{norm1,conv1,norm2,conv2})
 *   norm_out → SiLU → global average pool → style_head, concept_head
 */
export interface ScorerConfig {
  architecture: 'EmojiScorerResNet';
  image_size: number;
  in_channels: number;
  stem_channels: number;
  stage_channels: number[];
  blocks_per_stage: number;
  norm_num_groups: number;
  norm_eps: number;
  num_styles: number;
  num_concepts: number;
  /**
   * A rejection logit ("none of these styles") appended to the style logits, read by `reject_head` from
   * multi-scale statistics (see scorerRejectFeatureChannels); set in config.json by `reject_class`.
   */
  reject_head?: boolean;
}

export const DEFAULT_SCORER_ARCHITECTURE: Omit<ScorerConfig, 'num_concepts'> = {
  architecture: 'EmojiScorerResNet',
  image_size: 32,
  in_channels: 3,
  stem_channels: 32,
  stage_channels: [48, 96, 192],
  blocks_per_stage: 1,
  norm_num_groups: 8,
  norm_eps: 1e-5,
  num_styles: 3,
};

export function parseScorerConfig(json: Record<string, unknown>): ScorerConfig {
  const num = (k: string): number => {
    const v = json[k];
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`scorer config: ${k} must be a number`);
    return v;
  };
  const stages = json.stage_channels;
  if (!Array.isArray(stages) || stages.length === 0 || stages.some((c) => typeof c !== 'number')) {
    throw new Error('scorer config: stage_channels must be a non-empty number array');
  }
  if (json.architecture !== 'EmojiScorerResNet') throw new Error(`scorer config: unknown architecture ${String(json.architecture)}`);
  const cfg: ScorerConfig = {
    architecture: 'EmojiScorerResNet',
    image_size: num('image_size'),
    in_channels: num('in_channels'),
    stem_channels: num('stem_channels'),
    stage_channels: stages as number[],
    blocks_per_stage: num('blocks_per_stage'),
    norm_num_groups: num('norm_num_groups'),
    norm_eps: num('norm_eps'),
    num_styles: num('num_styles'),
    num_concepts: num('num_concepts'),
    ...(json.reject_class !== undefined ? { reject_head: true } : {}),
  };
  for (const c of [cfg.stem_channels, ...cfg.stage_channels]) {
    if (c % cfg.norm_num_groups !== 0) throw new Error(`scorer config: ${c} channels not divisible by ${cfg.norm_num_groups} groups`);
  }
  return cfg;
}

/** Every parameter by name, with its shape, in a stable order. */
export function scorerParamShapes(cfg: ScorerConfig): ParamShapes {
  const p: ParamShapes = new Map();
  const conv = (name: string, cin: number, cout: number) => {
    p.set(`${name}.weight`, [cout, cin, 3, 3]);
    p.set(`${name}.bias`, [cout]);
  };
  const norm = (name: string, c: number) => {
    p.set(`${name}.weight`, [c]);
    p.set(`${name}.bias`, [c]);
  };
  conv('conv_in', cfg.in_channels, cfg.stem_channels);
  let cin = cfg.stem_channels;
  cfg.stage_channels.forEach((c, i) => {
    norm(`stages.${i}.norm`, cin);
    conv(`stages.${i}.downsample`, cin, c);
    for (let j = 0; j < cfg.blocks_per_stage; j++) {
      const b = `stages.${i}.blocks.${j}`;
      norm(`${b}.norm1`, c);
      conv(`${b}.conv1`, c, c);
      norm(`${b}.norm2`, c);
      conv(`${b}.conv2`, c, c);
    }
    cin = c;
  });
  norm('norm_out', cin);
  p.set('style_head.weight', [cfg.num_styles, cin]);
  p.set('style_head.bias', [cfg.num_styles]);
  p.set('concept_head.weight', [cfg.num_concepts, cin]);
  p.set('concept_head.bias', [cfg.num_concepts]);
  if (cfg.reject_head) {
    p.set('reject_head.weight', [1, scorerRejectFeatureChannels(cfg)]);
    p.set('reject_head.bias', [1]);
  }
  return p;
}

/** Width of the pooled features the heads read. */
export function scorerFeatureChannels(cfg: ScorerConfig): number {
  return cfg.stage_channels[cfg.stage_channels.length - 1];
}

/**
 * Width of the rejection head's input: per stage the spatial mean and standard deviation of every channel
 * of the residual stream (degradations such as blur and noise show at the finer scales, which the pooled
 * features were trained to ignore), then the pooled features.
 */
export function scorerRejectFeatureChannels(cfg: ScorerConfig): number {
  return 2 * cfg.stage_channels.reduce((a, b) => a + b, 0) + scorerFeatureChannels(cfg);
}

export function scorerParamCount(cfg: ScorerConfig): number {
  let n = 0;
  for (const s of scorerParamShapes(cfg).values()) n += s.reduce((a, b) => a * b, 1);
  return n;
}

export interface ScorerOutputs<T> {
  /** [N, num_styles] */
  styleLogits: T;
  /** [N, num_concepts] */
  conceptLogits: T;
  /** [N, C] pooled features (before the heads). */
  features: T;
  /** [N, scorerRejectFeatureChannels] (only with `rejectFeatures` or a reject head). */
  rejectFeatures?: T;
}

/**
 * images: [N, 3, S, S] in [-1, 1]. `featureMask` ([N, C], training only) multiplies the pooled features
 * before the heads: inverted dropout with the mask drawn by the caller.
 */
export function scorerForward<T>(ops: Ops<T>, cfg: ScorerConfig, images: T, opts: { featureMask?: T; rejectFeatures?: boolean } = {}): ScorerOutputs<T> {
  const { norm_num_groups: groups, norm_eps: eps } = cfg;
  const withReject = !!(opts.rejectFeatures || cfg.reject_head);
  const stats: T[] = [];
  let h = conv2dModule(ops, images, 'conv_in');
  cfg.stage_channels.forEach((_, i) => {
    h = conv2dModule(ops, silu(ops, groupNormModule(ops, h, `stages.${i}.norm`, groups, eps)), `stages.${i}.downsample`, 2, 1);
    for (let j = 0; j < cfg.blocks_per_stage; j++) {
      const b = `stages.${i}.blocks.${j}`;
      let r = conv2dModule(ops, silu(ops, groupNormModule(ops, h, `${b}.norm1`, groups, eps)), `${b}.conv1`);
      r = conv2dModule(ops, silu(ops, groupNormModule(ops, r, `${b}.norm2`, groups, eps)), `${b}.conv2`);
      h = ops.add(h, r);
    }
    if (withReject) {
      const ch = cfg.stage_channels[i];
      const mean = ops.reduceMean(h, [2, 3]);
      const second = ops.reduceMean(ops.mul(h, h), [2, 3]);
      const std = ops.sqrt(ops.addScalar(ops.relu(ops.sub(second, ops.mul(mean, mean))), 1e-6));
      stats.push(ops.reshape(mean, [-1, ch]), ops.reshape(std, [-1, ch]));
    }
  });
  h = silu(ops, groupNormModule(ops, h, 'norm_out', groups, eps));
  const c = ops.shape(h)[1];
  const features = ops.reshape(ops.reduceMean(h, [2, 3]), [-1, c]);
  const headInput = opts.featureMask ? ops.mul(features, opts.featureMask) : features;
  const rejectFeatures = withReject ? ops.concat([...stats, features], 1) : undefined;
  let styleLogits = linearModule(ops, headInput, 'style_head');
  if (cfg.reject_head && rejectFeatures) styleLogits = ops.concat([styleLogits, linearModule(ops, rejectFeatures, 'reject_head')], 1);
  return {
    styleLogits,
    conceptLogits: linearModule(ops, headInput, 'concept_head'),
    features,
    rejectFeatures,
  };
}
