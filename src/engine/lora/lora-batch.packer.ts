/**
 * Per-sample LoRA feeds for the inference graph.
 *
 * For every targeted module the graph takes `lora.<module>.a` [batch, R, in] and
 * `lora.<module>.b` [batch, out, R] and computes y = x·Wᵀ + (x·aᵀ)·bᵀ per sample (for a
 * convolution, `in` is channels·k² and x a k×k patch of the input). Packing puts each
 * sample's adapters side by side along the rank axis: a = [A1; A2; …] (rows), b = [c1·B1, c2·B2, …]
 * (columns) with c_k = alpha_k / r_k · scale_k, so (x·aᵀ)·bᵀ = Σ_k c_k · (x·A_kᵀ)·B_kᵀ. Unused
 * rank slots, samples without adapters and modules an adapter does not target stay zero, which adds
 * nothing. R is the largest per-module sum of ranks over the batch (at least 1).
 *
 * Adapters and module lists are treated as immutable values: each adapter's per-module layers and
 * scaled B factors are cached (keyed by the adapter object and the module-list object). After
 * changing an adapter's factors in place, call invalidateLoraPackCache(adapter).
 */
import { kernelSizeOf, LoraError, type LoraAdapter, type LoraLayer, type ModuleShape } from './lora-adapter';

export interface AdapterUse {
  adapter: LoraAdapter;
  /** User strength, multiplied into alpha / rank. */
  scale: number;
  /**
   * Share of the noise range, from the clean end, where the adapter acts when sampling (0, 1]; default 1
   * (every step). Below 1 the base model lays out the image at high noise and the adapter restyles it.
   */
  timestepWindow?: number;
}

/**
 * The adapters of each row that act at a timestep: those whose timestep window reaches it
 * (t < window · trainTimesteps). `packFor` turns a batch's active adapters into feeds, called once per
 * distinct active set so a sampling loop packs at most a few times. `timesteps` is one timestep for every
 * row or one per row.
 */
export function activeAdaptersByTimestep<F>(perRow: AdapterUse[][], trainTimesteps: number, packFor: (active: AdapterUse[][]) => F): (timesteps: number | ArrayLike<number>) => F {
  const packed = new Map<string, F>();
  return (timesteps) => {
    const tOf = (row: number) => (typeof timesteps === 'number' ? timesteps : timesteps[row]);
    const on = perRow.map((uses, row) => uses.map((u) => tOf(row) < (u.timestepWindow ?? 1) * trainTimesteps));
    const key = on.map((flags) => flags.map(Number).join('')).join(',');
    if (!packed.has(key)) packed.set(key, packFor(perRow.map((uses, row) => uses.filter((_, k) => on[row][k]))));
    return packed.get(key)!;
  };
}

export interface LoraFeed {
  data: Float32Array;
  dims: [number, number, number];
}

export interface PackedLoraBatch {
  rank: number;
  /** `lora.<module>.a` and `lora.<module>.b` for every module, in the given module order. */
  feeds: Map<string, LoraFeed>;
}

export function loraInputNames(module: string): { a: string; b: string } {
  return { a: `lora.${module}.a`, b: `lora.${module}.b` };
}

// Input names per module list (lists are usually long-lived, owned by the session).
const namesCache = new WeakMap<readonly string[], string[]>();

function inputNamesFor(modules: readonly string[]): string[] {
  let names = namesCache.get(modules);
  if (!names || names.length !== 2 * modules.length) {
    names = [];
    for (const m of modules) {
      const n = loraInputNames(m);
      names.push(n.a, n.b);
    }
    namesCache.set(modules, names);
  }
  return names;
}

interface AdapterPackCache {
  /** The inputs the entry was built for; a different module list or shape map rebuilds it. */
  modules: readonly string[];
  moduleShapes: Map<string, ModuleShape>;
  layersMap: Map<string, LoraLayer>;
  layersSize: number;
  /** Layer per module index (null: not targeted). */
  layers: (LoraLayer | null)[];
  /** scale → per module index, (alpha/r · scale)·B [out, r]. */
  scaledB: Map<number, (Float32Array | null)[]>;
}

const cache = new WeakMap<LoraAdapter, AdapterPackCache>();
/** Bounds the per-adapter memory when a client sweeps many strengths. */
const MAX_CACHED_SCALES = 4;

/** Drops cached factors of an adapter whose factors were changed in place. */
export function invalidateLoraPackCache(adapter: LoraAdapter): void {
  cache.delete(adapter);
}

function entryFor(adapter: LoraAdapter, modules: readonly string[], moduleShapes: Map<string, ModuleShape>): AdapterPackCache {
  const hit = cache.get(adapter);
  if (
    hit &&
    hit.modules === modules &&
    hit.moduleShapes === moduleShapes &&
    hit.layersMap === adapter.layers &&
    hit.layersSize === adapter.layers.size
  ) {
    return hit;
  }
  const layers: (LoraLayer | null)[] = new Array(modules.length).fill(null);
  let matched = 0;
  for (let i = 0; i < modules.length; i++) {
    const layer = adapter.layers.get(modules[i]);
    if (!layer) continue;
    const shape = moduleShapes.get(modules[i]);
    if (!shape) throw new LoraError(`no shape for module ${modules[i]}`);
    if (layer.inFeatures !== shape[1] || layer.outFeatures !== shape[0] || (layer.kernelSize ?? 1) !== (kernelSizeOf(shape) ?? 1)) {
      throw new LoraError(`${modules[i]}: adapter layer is [${layer.outFeatures}, ${layer.inFeatures}], the model's is [${shape[0]}, ${shape[1]}]`);
    }
    if (layer.a.length !== layer.rank * layer.inFeatures || layer.b.length !== layer.outFeatures * layer.rank) {
      throw new LoraError(`${modules[i]}: factor sizes do not match rank ${layer.rank}`);
    }
    layers[i] = layer;
    matched++;
  }
  if (matched !== adapter.layers.size) {
    // Silently dropping part of an adapter would change the style without telling anyone.
    const missing = [...adapter.layers.keys()].filter((m) => !modules.includes(m));
    throw new LoraError(`the graph has no LoRA inputs for adapter module(s) ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
  }
  const entry: AdapterPackCache = {
    modules,
    moduleShapes,
    layersMap: adapter.layers,
    layersSize: adapter.layers.size,
    layers,
    scaledB: new Map(),
  };
  cache.set(adapter, entry);
  return entry;
}

function scaledFactors(entry: AdapterPackCache, scale: number): (Float32Array | null)[] {
  let scaled = entry.scaledB.get(scale);
  if (scaled) return scaled;
  scaled = entry.layers.map((layer) => {
    if (!layer) return null;
    const c = (layer.alpha / layer.rank) * scale;
    const src = layer.b;
    const dst = new Float32Array(src.length);
    for (let i = 0; i < src.length; i++) dst[i] = src[i] * c;
    return dst;
  });
  if (entry.scaledB.size >= MAX_CACHED_SCALES) entry.scaledB.delete(entry.scaledB.keys().next().value as number);
  entry.scaledB.set(scale, scaled);
  return scaled;
}

export interface PackOptions {
  /**
   * An earlier result whose arrays may be overwritten (where sizes match) instead of allocating.
   * Only pass feeds no running inference still reads.
   */
  reuse?: PackedLoraBatch;
}

function zeroed(reuse: PackedLoraBatch | undefined, name: string, length: number): Float32Array {
  const old = reuse?.feeds.get(name)?.data;
  if (old && old.length === length) return old.fill(0);
  return new Float32Array(length);
}

/**
 * Builds the per-sample feeds for one batch. `perSample[i]` lists sample i's adapters ([] = none).
 * Throws LoraError when an adapter targets a module outside `modules` or with another shape.
 */
export function packLoraBatch(
  modules: readonly string[],
  moduleShapes: Map<string, ModuleShape>,
  perSample: AdapterUse[][],
  opts: PackOptions = {},
): PackedLoraBatch {
  const batch = perSample.length;
  if (batch === 0) throw new LoraError('cannot pack an empty batch');
  const nm = modules.length;

  // Resolve every use once: cached layers and scaled B per module index.
  const uses: { layers: (LoraLayer | null)[]; b: (Float32Array | null)[] }[][] = perSample.map((sample) =>
    sample.map(({ adapter, scale }) => {
      if (!Number.isFinite(scale)) throw new LoraError(`adapter scale must be finite, got ${scale}`);
      const entry = entryFor(adapter, modules, moduleShapes);
      return { layers: entry.layers, b: scaledFactors(entry, scale) };
    }),
  );

  const ins = new Int32Array(nm);
  const outs = new Int32Array(nm);
  for (let mi = 0; mi < nm; mi++) {
    const shape = moduleShapes.get(modules[mi]);
    if (!shape) throw new LoraError(`no shape for module ${modules[mi]}`);
    outs[mi] = shape[0];
    ins[mi] = shape[1];
  }

  let rank = 1;
  for (const sample of uses) {
    for (let mi = 0; mi < nm; mi++) {
      let sum = 0;
      for (const u of sample) sum += u.layers[mi]?.rank ?? 0;
      if (sum > rank) rank = sum;
    }
  }

  const names = inputNamesFor(modules);
  const feeds = new Map<string, LoraFeed>();
  for (let mi = 0; mi < nm; mi++) {
    const inp = ins[mi];
    const out = outs[mi];
    // Zeroed arrays (zeros are the padding). One array per feed, not views of one large buffer:
    // feed-sized blocks are recycled by the allocator, a multi-megabyte one page-faults anew.
    const aData = zeroed(opts.reuse, names[2 * mi], batch * rank * inp);
    const bData = zeroed(opts.reuse, names[2 * mi + 1], batch * out * rank);
    for (let s = 0; s < batch; s++) {
      const sample = uses[s];
      let col = 0;
      for (let k = 0; k < sample.length; k++) {
        const layer = sample[k].layers[mi];
        if (!layer) continue;
        const r = layer.rank;
        // A rows are contiguous in the [R, in] slot.
        aData.set(layer.a, (s * rank + col) * inp);
        const sb = sample[k].b[mi]!;
        const base = s * out * rank;
        if (r === rank) {
          bData.set(sb, base);
        } else {
          for (let o = 0; o < out; o++) {
            const dst = base + o * rank + col;
            const src = o * r;
            for (let j = 0; j < r; j++) bData[dst + j] = sb[src + j];
          }
        }
        col += r;
      }
    }
    feeds.set(names[2 * mi], { data: aData, dims: [batch, rank, inp] });
    feeds.set(names[2 * mi + 1], { data: bData, dims: [batch, out, rank] });
  }
  return { rank, feeds };
}

/** ΔW = scale · alpha/r · B·A, [out, in] row-major: the dense weight change a layer applies. */
export function mergedDelta(layer: LoraLayer, scale = 1): Float32Array {
  const { rank: r, inFeatures: inp, outFeatures: out } = layer;
  const c = (scale * layer.alpha) / r;
  const delta = new Float32Array(out * inp);
  const row = new Float64Array(inp);
  for (let o = 0; o < out; o++) {
    row.fill(0);
    for (let j = 0; j < r; j++) {
      const bj = layer.b[o * r + j];
      if (bj === 0) continue;
      const aOff = j * inp;
      for (let i = 0; i < inp; i++) row[i] += bj * layer.a[aOff + i];
    }
    for (let i = 0; i < inp; i++) delta[o * inp + i] = c * row[i];
  }
  return delta;
}
