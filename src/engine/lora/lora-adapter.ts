/**
 * In-memory LoRA adapters for the UNet's linear layers.
 *
 * A layer adds ΔW = (alpha / rank) · B·A to a frozen weight W [out, in], with A [rank, in] and
 * B [out, rank] (peft's `lora_A` / `lora_B`). Module paths follow diffusers' UNet2DConditionModel
 * names without the `unet.` prefix, e.g. `down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q`.
 */
import { Random } from '../schedulers/random';

/** Weight shape of a linear layer: [out features, in features]. */
export type ModuleShape = [number, number];

export interface LoraLayer {
  /** A, [rank, in], row-major. */
  a: Float32Array;
  /** B, [out, rank], row-major. */
  b: Float32Array;
  rank: number;
  inFeatures: number;
  outFeatures: number;
  alpha: number;
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
   * [r, in] weight is U(-1/√in, 1/√in); B = 0, so the adapter starts as the identity edit.
   * 'gaussian' is peft's `init_lora_weights="gaussian"`: A ~ N(0, (1/r)²); B = 0.
   */
  init?: LoraInit;
  /** Modules to adapt; defaults to every module in `moduleShapes`. */
  targetModules?: string[];
  metadata?: Record<string, string>;
}

export class LoraError extends Error {
  constructor(message: string) {
    super(`LoRA: ${message}`);
    this.name = 'LoraError';
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
    layers.set(name, { a, b: new Float32Array(out * opts.rank), rank: opts.rank, inFeatures: inp, outFeatures: out, alpha });
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

function firstNonFinite(data: Float32Array): number {
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
  if (problems.length > 0) return problems;
  if (layer.a.length !== rank * inFeatures) problems.push(`${module}: A has ${layer.a.length} values, expected [${rank}, ${inFeatures}]`);
  if (layer.b.length !== outFeatures * rank) problems.push(`${module}: B has ${layer.b.length} values, expected [${outFeatures}, ${rank}]`);
  const ia = firstNonFinite(layer.a);
  if (ia >= 0) problems.push(`${module}: A has a non-finite value (${layer.a[ia]}) at index ${ia}`);
  const ib = firstNonFinite(layer.b);
  if (ib >= 0) problems.push(`${module}: B has a non-finite value (${layer.b[ib]}) at index ${ib}`);
  return problems;
}

const MAX_LISTED = 10;

/** Throws one LoraError listing (up to ten of) the problems found. */
export function throwIfProblems(problems: string[], what: string): void {
  if (problems.length === 0) return;
  const listed = problems.slice(0, MAX_LISTED).map((p) => `  - ${p}`);
  if (problems.length > MAX_LISTED) listed.push(`  - … and ${problems.length - MAX_LISTED} more`);
  throw new LoraError(`${what}:\n${listed.join('\n')}`);
}

/** Checks every layer's own consistency; throws LoraError otherwise. */
export function validateLoraAdapter(adapter: LoraAdapter): void {
  const problems: string[] = [];
  if (adapter.layers.size === 0) problems.push('the adapter has no layers');
  for (const [m, layer] of adapter.layers) problems.push(...layerProblems(m, layer));
  throwIfProblems(problems, 'invalid adapter');
}

/**
 * Checks the adapter fits a base model: every targeted module exists there as a linear layer with
 * the same [out, in], plus each layer's own consistency. Throws LoraError listing the mismatches.
 */
export function validateAgainst(adapter: LoraAdapter, moduleShapes: Map<string, ModuleShape>): void {
  const problems: string[] = [];
  if (adapter.layers.size === 0) problems.push('the adapter has no layers');
  for (const [m, layer] of adapter.layers) {
    const shape = moduleShapes.get(m);
    if (!shape) {
      problems.push(`${m}: the base model has no linear layer of that name`);
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
    }
  }
  throwIfProblems(problems, 'adapter does not fit the base model');
}
