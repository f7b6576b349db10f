/**
 * In-memory LoRA adapters for the UNet's linear and convolution layers.
 *
 * A layer adds ΔW = (alpha / rank) · B·A to a frozen weight W [out, in], with A [rank, in] and
 * B [out, rank] (peft's `lora_A` / `lora_B`). Module paths follow diffusers' UNet2DConditionModel
 * names without the `unet.` prefix, e.g. `down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q`.
 *
 * A convolution W [out, c, k, k] is handled as peft's LoRA on `Conv2d`: A is a k×k convolution to
 * `rank` channels ([rank, c, k, k]) and B a 1×1 convolution back ([out, rank, 1, 1]). In memory the
 * layer keeps A flattened to [rank, c·k·k] (the same row-major values) with `kernelSize` k, so
 * ΔW = B·A reshaped to [out, c, k, k] and everything that treats layers as matrices works unchanged.
 */
import { Random } from '../schedulers/random';

/**
 * Weight shape of an adaptable layer as a matrix: [out, in] for a linear layer, and
 * [out, c·k·k, k] for a k×k convolution (the third entry marks a convolution, 1 for 1×1 ones).
 */
export type ModuleShape = [number, number] | [number, number, number];

/** The convolution kernel size of a module shape, or undefined for a linear layer. */
export function kernelSizeOf(shape: ModuleShape): number | undefined {
  return shape.length === 3 ? shape[2] : undefined;
}

/** The matrix shape of a UNet weight: linear [out, in] as is, a convolution [out, c, k, k] as [out, c·k·k, k]. */
export function moduleShapeOfWeight(weightShape: readonly number[]): ModuleShape {
  if (weightShape.length === 2) return [weightShape[0], weightShape[1]];
  if (weightShape.length === 4 && weightShape[2] === weightShape[3]) return [weightShape[0], weightShape[1] * weightShape[2] * weightShape[3], weightShape[2]];
  throw new LoraError(`a weight of shape [${weightShape.join(', ')}] is neither a linear layer nor a square convolution`);
}

export interface LoraLayer {
  /** A, [rank, in], row-major. */
  a: Float32Array;
  /** B, [out, rank], row-major. */
  b: Float32Array;
  rank: number;
  inFeatures: number;
  outFeatures: number;
  alpha: number;
  /** k for a k×k convolution layer (inFeatures = channels·k²); absent for a linear layer. */
  kernelSize?: number;
}

export interface LoraAdapter {
  /** Keyed by module path without the `unet.` prefix. */
  layers: Map<string, LoraLayer>;
  /** The most common layer rank (layers may differ, e.g. imported kohya files). */
  rank: number;
  /** The most common layer alpha. */
  alpha: number;
  targetModules: string[];
  /** Free-form string metadata carried into the file's `__metadata__`. */
  metadata: Record<string, string>;
}

export type LoraInit = 'peft-default' | 'gaussian';

export interface CreateLoraOptions {
  rank: number;
  /** Defaults to `rank` (scale 1). */
  alpha?: number;
  seed: number | bigint;
  /**
   * 'peft-default' is peft's `init_lora_weights=True`: A ~ kaiming_uniform(a=√5), which for an
   * [r, in] weight (or an [r, c, k, k] kernel, fan-in c·k²) is U(-1/√in, 1/√in); B = 0, so the
   * adapter starts as the identity edit.
   * 'gaussian' is peft's `init_lora_weights="gaussian"`: A ~ N(0, (1/r)²); B = 0.
   */
  init?: LoraInit;
  /** Modules to adapt; defaults to every module in `moduleShapes`. */
  targetModules?: string[];
  metadata?: Record<string, string>;
}

export class LoraError extends Error {
  /** Each problem found, as a sentence of its own (the message lists them). */
  readonly problems: string[];

  constructor(message: string, problems: string[] = [message]) {
    super(`LoRA: ${message}`);
    this.name = 'LoraError';
    this.problems = problems;
  }
}

/** The factor peft multiplies B·A by (no rsLoRA: any rsLoRA file is converted on read). */
export function effectiveScale(layer: LoraLayer): number {
  return layer.alpha / layer.rank;
}

function assertPositiveInt(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 1) throw new LoraError(`${name} must be a positive integer, got ${v}`);
}

function assertPositiveFinite(name: string, v: number): void {
  if (!Number.isFinite(v) || v <= 0) throw new LoraError(`${name} must be a positive finite number, got ${v}`);
}

/** Creates a freshly initialised adapter. Modules are initialised in sorted order so a seed fixes every value. */
export function createLoraAdapter(moduleShapes: Map<string, ModuleShape>, opts: CreateLoraOptions): LoraAdapter {
  assertPositiveInt('rank', opts.rank);
  const alpha = opts.alpha ?? opts.rank;
  assertPositiveFinite('alpha', alpha);
  const init = opts.init ?? 'peft-default';
  const targets = [...(opts.targetModules ?? moduleShapes.keys())].sort();
  const rng = new Random(opts.seed);
  const layers = new Map<string, LoraLayer>();
  for (const name of targets) {
    const shape = moduleShapes.get(name);
    if (!shape) throw new LoraError(`target module "${name}" is not in the base model`);
    const [out, inp] = shape;
    const kernelSize = kernelSizeOf(shape);
    const a = new Float32Array(opts.rank * inp);
    if (init === 'peft-default') {
      const bound = 1 / Math.sqrt(inp);
      for (let i = 0; i < a.length; i++) a[i] = (2 * rng.uniform() - 1) * bound;
    } else if (init === 'gaussian') {
      const std = 1 / opts.rank;
      for (let i = 0; i < a.length; i++) a[i] = rng.normal() * std;
    } else {
      throw new LoraError(`unknown init ${JSON.stringify(init)}`);
    }
    const layer: LoraLayer = { a, b: new Float32Array(out * opts.rank), rank: opts.rank, inFeatures: inp, outFeatures: out, alpha };
    if (kernelSize !== undefined) layer.kernelSize = kernelSize;
    layers.set(name, layer);
  }
  return { layers, rank: opts.rank, alpha, targetModules: targets, metadata: { ...(opts.metadata ?? {}) } };
}

/** Most frequent value, ties going to the first seen (as Python's Counter.most_common). */
export function mostCommon(values: Iterable<number>): number | undefined {
  const counts = new Map<number, number>();
  let best: number | undefined;
  let bestCount = 0;
  for (const v of values) {
    const c = (counts.get(v) ?? 0) + 1;
    counts.set(v, c);
    if (c > bestCount) {
      best = v;
      bestCount = c;
    }
  }
  return best;
}

/** Builds an adapter from layers, deriving the summary rank/alpha and the sorted target list. */
export function adapterFromLayers(layers: Map<string, LoraLayer>, metadata: Record<string, string> = {}): LoraAdapter {
  if (layers.size === 0) throw new LoraError('an adapter needs at least one layer');
  const targetModules = [...layers.keys()].sort();
  const ordered = targetModules.map((m) => layers.get(m)!);
  return {
    layers,
    rank: mostCommon(ordered.map((l) => l.rank))!,
    alpha: mostCommon(ordered.map((l) => l.alpha))!,
    targetModules,
    metadata,
  };
}

/** Index of the first NaN or ±inf, or -1. */
export function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) {
    // x - x is NaN exactly for NaN and ±inf.
    if (data[i] - data[i] !== 0) return i;
  }
  return -1;
}

/** Problems with one layer's own consistency (sizes, rank, alpha, finite values). */
export function layerProblems(module: string, layer: LoraLayer): string[] {
  const problems: string[] = [];
  const { rank, inFeatures, outFeatures, alpha } = layer;
  if (!Number.isSafeInteger(rank) || rank < 1) problems.push(`${module}: rank ${rank} is not a positive integer`);
  if (!Number.isSafeInteger(inFeatures) || inFeatures < 1 || !Number.isSafeInteger(outFeatures) || outFeatures < 1) {
    problems.push(`${module}: invalid features [out ${outFeatures}, in ${inFeatures}]`);
  }
  if (!Number.isFinite(alpha) || alpha <= 0) problems.push(`${module}: alpha ${alpha} is not a positive finite number`);
  const k = layer.kernelSize;
  if (k !== undefined && (!Number.isSafeInteger(k) || k < 1 || inFeatures % (k * k) !== 0)) {
    problems.push(`${module}: kernel size ${k} does not divide ${inFeatures} input features into channels × ${k}×${k}`);
  }
  if (problems.length > 0) return problems;
  if (layer.a.length !== rank * inFeatures) problems.push(`${module}: A has ${layer.a.length} values, expected [${rank}, ${inFeatures}]`);
  if (layer.b.length !== outFeatures * rank) problems.push(`${module}: B has ${layer.b.length} values, expected [${outFeatures}, ${rank}]`);
  const ia = firstNonFinite(layer.a);
  if (ia >= 0) problems.push(`${module}: A has a non-finite value (${layer.a[ia]}) at index ${ia}`);
  const ib = firstNonFinite(layer.b);
  if (ib >= 0) problems.push(`${module}: B has a non-finite value (${layer.b[ib]}) at index ${ib}`);
  return problems;
}

function layerKind(kernelSize: number | undefined): string {
  return kernelSize === undefined ? 'a linear layer' : `a ${kernelSize}×${kernelSize} convolution`;
}

const MAX_LISTED = 10;

/** Throws one LoraError listing (up to ten of) the problems found. */
export function throwIfProblems(problems: string[], what: string): void {
  if (problems.length === 0) return;
  const listed = problems.slice(0, MAX_LISTED).map((p) => `  - ${p}`);
  if (problems.length > MAX_LISTED) listed.push(`  - … and ${problems.length - MAX_LISTED} more`);
  throw new LoraError(`${what}:\n${listed.join('\n')}`, problems);
}

/** Checks every layer's own consistency; throws LoraError otherwise. */
export function validateLoraAdapter(adapter: LoraAdapter): void {
  const problems: string[] = [];
  if (adapter.layers.size === 0) problems.push('the adapter has no layers');
  for (const [m, layer] of adapter.layers) problems.push(...layerProblems(m, layer));
  throwIfProblems(problems, 'invalid adapter');
}

/**
 * Checks the adapter fits a base model: every targeted module exists there as a linear or
 * convolution layer with the same [out, in] and kernel, plus each layer's own consistency. (A 1×1
 * convolution and a linear layer of the same shape are interchangeable: the same matrix.) Throws
 * LoraError listing the mismatches.
 */
export function validateAgainst(adapter: LoraAdapter, moduleShapes: Map<string, ModuleShape>): void {
  const problems: string[] = [];
  if (adapter.layers.size === 0) problems.push('the adapter has no layers');
  for (const [m, layer] of adapter.layers) {
    const shape = moduleShapes.get(m);
    if (!shape) {
      problems.push(`${m}: the base model has no linear or convolution layer of that name`);
      continue;
    }
    const own = layerProblems(m, layer);
    if (own.length > 0) {
      problems.push(...own);
      continue;
    }
    const [out, inp] = shape;
    if (layer.outFeatures !== out || layer.inFeatures !== inp) {
      problems.push(`${m}: adapter is for a [${layer.outFeatures}, ${layer.inFeatures}] weight, the base model's is [${out}, ${inp}]`);
      continue;
    }
    if ((kernelSizeOf(shape) ?? 1) !== (layer.kernelSize ?? 1)) {
      problems.push(`${m}: adapter is for ${layerKind(layer.kernelSize)}, the base model's layer is ${layerKind(kernelSizeOf(shape))}`);
    }
  }
  throwIfProblems(problems, 'adapter does not fit the base model');
}
