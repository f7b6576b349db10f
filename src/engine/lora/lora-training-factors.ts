/**
 * LoRA adapters ↔ the training graph's named inputs.
 *
 * The training graph takes shared factors `lora.<module>.a` [1, r, in] and `lora.<module>.b`
 * [1, out, r] and computes y = x·Wᵀ + (x·aᵀ)·bᵀ, with no scale of its own. The adapter's scale
 * s = alpha / r is folded into b at feed time:
 *
 *   a  = A            (fed as a view of the adapter's array: same row-major layout)
 *   b' = s · B        (a scaled copy)
 *
 * Gradients come back for the fed tensors (dL/da, dL/db'). Since b' is linear in B, the chain rule
 * gives the gradients of the adapter's parameters:
 *
 *   dL/dA = dL/da
 *   dL/dB = s · dL/db'
 *
 * An optimizer that updates the adapter's own A and B with these gradients (loraParameterViews +
 * loraGradientsToAdapter) trains exactly what peft trains: parameters A, B with the forward pass
 * scaled by alpha/r, so learning rates, weight decay and the alpha/r trade-off carry over. Refeed
 * (loraTrainingFeeds) after every update: b' is a copy.
 */
import { adapterFromLayers, LoraError, type LoraAdapter, type LoraLayer, type ModuleShape } from './lora-adapter';
import { loraInputNames } from './lora-batch.packer';

function layerOf(adapter: LoraAdapter, module: string, rank?: number): LoraLayer {
  const layer = adapter.layers.get(module);
  if (!layer) throw new LoraError(`adapter has no layer for training module ${module}`);
  if (rank !== undefined && layer.rank !== rank) throw new LoraError(`${module}: layer rank ${layer.rank}, but the training graph has rank ${rank}`);
  return layer;
}

/** Input shapes of a training graph with LoRA rank `rank` over `modules`. */
export function trainingFactorShapes(modules: readonly string[], moduleShapes: Map<string, ModuleShape>, rank: number): Map<string, [number, number, number]> {
  const shapes = new Map<string, [number, number, number]>();
  for (const m of modules) {
    const shape = moduleShapes.get(m);
    if (!shape) throw new LoraError(`no shape for module ${m}`);
    const names = loraInputNames(m);
    shapes.set(names.a, [1, rank, shape[1]]);
    shapes.set(names.b, [1, shape[0], rank]);
  }
  return shapes;
}

export interface TrainingFeedOptions {
  /** The graph's modules (default: the adapter's targets). Every one needs a layer. */
  modules?: readonly string[];
  /** The graph's rank; layers of another rank are rejected. */
  rank?: number;
  /** Arrays from an earlier call to overwrite instead of allocating (b' entries are rewritten). */
  reuse?: Map<string, Float32Array>;
}

/** The graph feeds for the adapter: a = A (view), b' = (alpha/r)·B (copy). */
export function loraTrainingFeeds(adapter: LoraAdapter, opts: TrainingFeedOptions = {}): Map<string, Float32Array> {
  const feeds = new Map<string, Float32Array>();
  for (const m of opts.modules ?? adapter.targetModules) {
    const layer = layerOf(adapter, m, opts.rank);
    const names = loraInputNames(m);
    const s = layer.alpha / layer.rank;
    let b = opts.reuse?.get(names.b);
    if (!b || b.length !== layer.b.length || b === layer.b) b = new Float32Array(layer.b.length);
    for (let i = 0; i < b.length; i++) b[i] = s * layer.b[i];
    feeds.set(names.a, layer.a);
    feeds.set(names.b, b);
  }
  return feeds;
}

/**
 * The adapter's own A and B under the graph's input names, as views: an optimizer stepping these
 * updates the adapter in place. (Call invalidateLoraPackCache(adapter) before packing it for
 * inference afterwards.)
 */
export function loraParameterViews(adapter: LoraAdapter, opts: Pick<TrainingFeedOptions, 'modules' | 'rank'> = {}): Map<string, Float32Array> {
  const views = new Map<string, Float32Array>();
  for (const m of opts.modules ?? adapter.targetModules) {
    const layer = layerOf(adapter, m, opts.rank);
    const names = loraInputNames(m);
    views.set(names.a, layer.a);
    views.set(names.b, layer.b);
  }
  return views;
}

/**
 * Gradients of the adapter's parameters from the graph's gradients (same names):
 * dL/dA = dL/da (passed through), dL/dB = (alpha/r)·dL/db'. `inPlace` scales the given b-gradient
 * arrays instead of copying. Names that are not LoRA inputs of the adapter are rejected.
 */
export function loraGradientsToAdapter(
  adapter: LoraAdapter,
  grads: Map<string, Float32Array>,
  opts: { inPlace?: boolean } = {},
): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, g] of grads) {
    const m = /^lora\.(.+)\.(a|b)$/.exec(name);
    if (!m) throw new LoraError(`gradient ${name} is not a LoRA input`);
    const layer = layerOf(adapter, m[1]);
    if (m[2] === 'a') {
      if (g.length !== layer.a.length) throw new LoraError(`${name}: ${g.length} values, expected ${layer.a.length}`);
      out.set(name, g);
      continue;
    }
    if (g.length !== layer.b.length) throw new LoraError(`${name}: ${g.length} values, expected ${layer.b.length}`);
    const s = layer.alpha / layer.rank;
    const dst = opts.inPlace ? g : new Float32Array(g.length);
    for (let i = 0; i < g.length; i++) dst[i] = s * g[i];
    out.set(name, dst);
  }
  return out;
}

export interface FromTrainingFeedsOptions {
  rank: number;
  alpha: number;
  /** Modules to take (default: every `lora.<module>.a` in the feeds). */
  modules?: readonly string[];
  metadata?: Record<string, string>;
}

/** The inverse of loraTrainingFeeds: an adapter (copies) with A = a and B = b' / (alpha/r). */
export function adapterFromTrainingFeeds(
  feeds: Map<string, Float32Array>,
  moduleShapes: Map<string, ModuleShape>,
  opts: FromTrainingFeedsOptions,
): LoraAdapter {
  const { rank, alpha } = opts;
  if (!Number.isSafeInteger(rank) || rank < 1) throw new LoraError(`rank must be a positive integer, got ${rank}`);
  if (!Number.isFinite(alpha) || alpha <= 0) throw new LoraError(`alpha must be a positive finite number, got ${alpha}`);
  const modules = opts.modules ?? [...feeds.keys()].map((k) => /^lora\.(.+)\.a$/.exec(k)?.[1]).filter((m): m is string => m !== undefined);
  const inv = rank / alpha;
  const layers = new Map<string, LoraLayer>();
  for (const m of modules) {
    const shape = moduleShapes.get(m);
    if (!shape) throw new LoraError(`no shape for module ${m}`);
    const [out, inp] = shape;
    const names = loraInputNames(m);
    const a = feeds.get(names.a);
    const b = feeds.get(names.b);
    if (!a || !b) throw new LoraError(`missing ${!a ? names.a : names.b}`);
    if (a.length !== rank * inp || b.length !== out * rank) throw new LoraError(`${m}: factor sizes do not match [1, ${rank}, ${inp}] / [1, ${out}, ${rank}]`);
    const B = new Float32Array(b.length);
    for (let i = 0; i < b.length; i++) B[i] = b[i] * inv;
    layers.set(m, { a: Float32Array.from(a), b: B, rank, inFeatures: inp, outFeatures: out, alpha });
  }
  return adapterFromLayers(layers, { ...(opts.metadata ?? {}) });
}
