import { DiffusionModel, ImageSize, sampleShape, tokenizeCaptions } from '../models/diffusion-model';
import { pixelShuffle } from '../models/pixel-shuffle';
import { latentsToVae, nativeImageSize } from '../models/sample-space';
import { checkImageSize, estimateActivationBytes } from '../models/generation-size';
import { createScheduler, isStochasticScheduler, Random, type SchedulerName } from '../schedulers';
import { adaptableModules, loraModuleShapes, loraTargetModules } from '../models/lora-targets';
import type { ModuleShape } from '../lora/lora-adapter';
import { activeAdaptersByTimestep, AdapterUse, packLoraBatch } from '../lora/lora-batch.packer';
import { Denoiser, TextEncoder, LoraFeeds, VaeDecoder } from './denoiser';
import { applyClassifierFreeGuidance } from './classifier-free-guidance';

/** A sampler by its short name (`SCHEDULER_NAMES`). */
export type SamplerName = SchedulerName;

export interface GenerationRequest {
  prompt: string;
  negativePrompt?: string;
  /** Adapters applied to this request, summed with their scales. */
  adapters?: AdapterUse[];
  seed: number;
  steps: number;
  guidanceScale: number;
  scheduler: SamplerName;
  numImages: number;
  /** Image size in pixels (the model's native size when omitted): multiples of `imageSizeRules(model).multiple`. */
  width?: number;
  height?: number;
}

export interface GenerationResult {
  /** CHW RGB in [-1, 1], width × height, one per requested image. */
  images: Float32Array[];
  width: number;
  height: number;
  seed: number;
  /** Words of the prompt, then of the negative prompt, that the text encoder reads as the unknown token. */
  unknownWords: string[];
}

export interface PipelineParts {
  model: DiffusionModel;
  textEncoder: TextEncoder;
  denoiser: Denoiser;
  /** Modules whose LoRA factors the denoiser takes as inputs (empty: adapters unsupported). */
  loraModules: string[];
  /**
   * Builds a denoiser with LoRA inputs for fewer modules, at an image size. Every LoRA input costs
   * time even when its factors are zero (the full set about halves base-model throughput), so a batch
   * runs on the smallest of: no LoRA inputs, the attention projections, every module, that covers its
   * adapters. Without it the pipeline samples at the native size only.
   */
  createDenoiser?: (loraModules: string[], size: ImageSize) => Promise<Denoiser>;
  /** Latent models: the VAE decoder for images of a size. */
  createVaeDecoder?: (size: ImageSize) => Promise<VaeDecoder>;
  /** Most estimated activation memory of one denoiser call: larger groups are split (results do not change). */
  memoryBudgetBytes?: number;
}

interface DenoiserTier {
  modules: string[];
  covers: Set<string>;
  denoiser: Promise<Denoiser> | null;
}

/** The sessions of one image size (their graphs have static spatial dimensions). */
interface SizeEntry {
  size: ImageSize;
  tiers: DenoiserTier[];
  vae: Promise<VaeDecoder> | null;
  active: number;
}

/** Sizes besides the native one whose sessions stay loaded (least recently used go first). */
const MAX_CACHED_SIZES = 3;

/**
 * Text-to-image sampling over any denoiser/text-encoder pair. Requests in one call run as one batch
 * per (scheduler, steps, size) group: every image of every request is a row, each row with its own
 * adapter factors, guidance scale and seeded noise, so results do not depend on what else was batched.
 * Latent models decode the sampled latents with their VAE.
 */
export class TextToImagePipeline {
  readonly moduleShapes: Map<string, ModuleShape>;

  private readonly native: SizeEntry;
  private readonly sizes = new Map<string, SizeEntry>();

  constructor(readonly parts: PipelineParts) {
    this.moduleShapes = loraModuleShapes(parts.model.unetParams, parts.loraModules);
    if (parts.model.sampleSpace.type === 'latent' && !parts.createVaeDecoder) throw new Error(`${parts.model.name} is a latent model: the pipeline needs its VAE decoder`);
    this.native = { size: nativeImageSize(parts.model), tiers: this.createTiers(Promise.resolve(parts.denoiser)), vae: null, active: 0 };
    this.sizes.set(sizeKey(this.native.size), this.native);
  }

  /** No LoRA inputs, the attention projections, every module (the lighter ones only when they can be built). */
  private createTiers(full: Promise<Denoiser> | null): DenoiserTier[] {
    const { loraModules, model, createDenoiser } = this.parts;
    const covers = new Set(loraModules);
    const attention = loraTargetModules(model.unetConfig, 'attention').filter((m) => covers.has(m));
    const lighter = createDenoiser ? [[], attention].filter((mods) => mods.length < loraModules.length) : [];
    return [...lighter.map((modules) => ({ modules, covers: new Set(modules), denoiser: null })), { modules: loraModules, covers, denoiser: full }];
  }

  /** The sessions for a size, made on first use; the least recently used other sizes are released. */
  private async sizeEntry(size: ImageSize): Promise<SizeEntry> {
    const key = sizeKey(size);
    const known = this.sizes.get(key);
    if (known) {
      // Re-inserted: the map's order is the order of last use.
      this.sizes.delete(key);
      this.sizes.set(key, known);
      return known;
    }
    if (!this.parts.createDenoiser) throw new Error(`this pipeline samples ${this.native.size.width}×${this.native.size.height} images only`);
    const idle = [...this.sizes.values()].filter((e) => e !== this.native && e.active === 0);
    const entry: SizeEntry = { size, tiers: this.createTiers(null), vae: null, active: 0 };
    this.sizes.set(key, entry);
    for (const old of idle.slice(0, Math.max(0, idle.length + 1 - MAX_CACHED_SIZES))) {
      this.sizes.delete(sizeKey(old.size));
      await releaseEntry(old);
    }
    return entry;
  }

  /** The smallest denoiser whose LoRA inputs cover every adapter of the batch. */
  private tierFor(entry: SizeEntry, perRow: AdapterUse[][]): DenoiserTier {
    const used = new Set<string>();
    for (const row of perRow) for (const use of row) for (const m of use.adapter.layers.keys()) used.add(m);
    const tier = entry.tiers.find((t) => [...used].every((m) => t.covers.has(m))) ?? entry.tiers[entry.tiers.length - 1];
    tier.denoiser ??= this.parts.createDenoiser!(tier.modules, entry.size);
    return tier;
  }

  /** The native image side (square). */
  get imageSize(): number {
    return this.parts.model.sampleSpace.imageSize;
  }

  /** The size a request samples at: its width and height, else the model's native size. */
  sizeOf(request: Pick<GenerationRequest, 'width' | 'height'>): ImageSize {
    return { width: request.width ?? this.native.size.width, height: request.height ?? this.native.size.height };
  }

  /** Every layer an adapter may target (attention, feed-forward and convolutions). */
  static defaultLoraModules(model: DiffusionModel): string[] {
    return adaptableModules(model.unetConfig);
  }

  async generate(requests: GenerationRequest[]): Promise<GenerationResult[]> {
    const results: GenerationResult[] = new Array(requests.length);
    const groups = new Map<string, number[]>();
    requests.forEach((r, i) => {
      validateRequest(r);
      checkImageSize(this.parts.model, this.sizeOf(r));
      // Images of different sizes never share a denoiser call.
      const key = `${r.scheduler}:${r.steps}:${sizeKey(this.sizeOf(r))}`;
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    for (const group of groups.values()) {
      for (const indices of this.withinBudget(group.map((i) => requests[i])).map((chunk) => chunk.map((k) => group[k]))) {
        const out = await this.generateGroup(indices.map((i) => requests[i]));
        indices.forEach((i, k) => (results[i] = out[k]));
      }
    }
    return results;
  }

  /** Consecutive runs of a group's requests whose estimated activations fit the memory budget (one request at least). */
  private withinBudget(requests: GenerationRequest[]): number[][] {
    const budget = this.parts.memoryBudgetBytes;
    if (budget === undefined) return [requests.map((_, i) => i)];
    const size = this.sizeOf(requests[0]);
    const bytes = (images: number, guided: boolean) => estimateActivationBytes(this.parts.model, size, { images, guided }).peakBytes;
    const chunks: number[][] = [];
    let images = 0;
    let guided = false;
    requests.forEach((r, i) => {
      const nextGuided = guided || r.guidanceScale !== 1;
      const current = chunks[chunks.length - 1];
      if (current && bytes(images + r.numImages, nextGuided) <= budget) {
        current.push(i);
        images += r.numImages;
        guided = nextGuided;
      } else {
        chunks.push([i]);
        images = r.numImages;
        guided = r.guidanceScale !== 1;
      }
    });
    return chunks;
  }

  /** Prompt embeddings for a list of texts: [N, L, D] and masks [N, L]. */
  async encodePrompts(texts: string[]): Promise<{ hidden: Float32Array; mask: Float32Array }> {
    const { model } = this.parts;
    const { inputIds, attentionMask: mask } = tokenizeCaptions(model, texts);
    const hidden = await this.parts.textEncoder.encode(inputIds, mask, texts.length);
    return { hidden, mask };
  }

  private async generateGroup(requests: GenerationRequest[]): Promise<GenerationResult[]> {
    const entry = await this.sizeEntry(this.sizeOf(requests[0]));
    entry.active += 1;
    try {
      return await this.sampleGroup(requests, entry);
    } finally {
      entry.active -= 1;
    }
  }

  private async sampleGroup(requests: GenerationRequest[], entry: SizeEntry): Promise<GenerationResult[]> {
    const { model } = this.parts;
    const [c, h, w] = sampleShape(model, entry.size);
    const sampleLen = c * h * w;
    const rows: { req: GenerationRequest; reqIndex: number }[] = [];
    requests.forEach((req, reqIndex) => {
      for (let k = 0; k < req.numImages; k++) rows.push({ req, reqIndex });
    });
    const n = rows.length;
    const guidanceScales = rows.map((r) => r.req.guidanceScale);
    const anyGuided = guidanceScales.some((g) => g !== 1);
    const batch = anyGuided ? 2 * n : n;

    // Conditional rows first, then unconditional (negative prompt or empty) rows.
    const texts = rows.map((r) => r.req.prompt);
    if (anyGuided) texts.push(...rows.map((r) => r.req.negativePrompt ?? ''));
    const { hidden, mask } = await this.encodePrompts(texts);

    // Initial noise per request from its seed: images of a request are consecutive draws.
    const sample = new Float32Array(n * sampleLen);
    let row = 0;
    requests.forEach((req) => {
      const noise = new Random(req.seed).randn(req.numImages * sampleLen);
      sample.set(noise, row * sampleLen);
      row += req.numImages;
    });

    const perRow = rows.map((r) => r.req.adapters ?? []);
    const tier = this.tierFor(entry, perRow);
    const denoiser = await tier.denoiser!;
    const loraAt = this.adaptersPerStep(tier.modules, perRow, anyGuided, model.schedulerConfig.num_train_timesteps);
    const scheduler = createScheduler(requests[0].scheduler, model.schedulerConfig);
    scheduler.setTimesteps(requests[0].steps);
    // Stochastic samplers draw each request's step noise from its own seed, so batching never changes a result.
    const stepNoise = isStochasticScheduler(requests[0].scheduler) ? requests.map((req) => new Random(req.seed ^ 0x5eed)) : null;
    // σ-space samplers (Euler) start from noise of their largest σ and feed the model x/√(σ²+1).
    const sigma0 = scheduler.initNoiseSigma;
    let x: Float32Array = sigma0 === 1 ? sample : sample.map((v) => v * sigma0);
    for (const t of scheduler.timesteps) {
      const scaled = scheduler.scaleModelInput(x, t);
      const input = anyGuided ? concat(scaled, scaled) : scaled;
      const out = await denoiser.predict({
        batch,
        sample: input,
        timesteps: new Float32Array(batch).fill(t),
        encoderHiddenStates: hidden,
        encoderMask: mask,
        lora: loraAt(t),
      });
      const modelOutput = anyGuided ? applyClassifierFreeGuidance(out, n, guidanceScales) : out.subarray(0, n * sampleLen);
      let noise: Float32Array | undefined;
      if (stepNoise) {
        noise = new Float32Array(n * sampleLen);
        let offset = 0;
        requests.forEach((req, r) => {
          noise!.set(stepNoise[r].randn(req.numImages * sampleLen), offset);
          offset += req.numImages * sampleLen;
        });
      }
      x = scheduler.step(modelOutput, t, x, noise ? { noise } : undefined);
    }

    const pixels = await this.toImages(x, n, entry);
    const imgLen = pixels.length / n;
    const { width, height } = entry.size;
    const results: GenerationResult[] = requests.map((req) => ({ images: [], width, height, seed: req.seed, unknownWords: this.unknownWords(req) }));
    rows.forEach((r, i) => {
      const img = pixels.slice(i * imgLen, (i + 1) * imgLen);
      for (let j = 0; j < img.length; j++) img[j] = Math.max(-1, Math.min(1, img[j]));
      results[r.reqIndex].images.push(img);
    });
    return results;
  }

  /**
   * Sampled rows [n, C, h, w] → RGB images [n, 3, H, W] (unclamped): pixel models unfold their
   * patches, latent models decode `latents / scaling_factor + shift_factor` with the VAE.
   */
  private async toImages(x: Float32Array, n: number, entry: SizeEntry): Promise<Float32Array> {
    const space = this.parts.model.sampleSpace;
    const [c, h, w] = sampleShape(this.parts.model, entry.size);
    if (space.type === 'pixel') return pixelShuffle(x, n, c, h, w, space.patchSize);
    entry.vae ??= this.parts.createVaeDecoder!(entry.size);
    return (await entry.vae).decode(latentsToVae(space, x), n);
  }

  /** Decodes sampler latents of a latent model at a size, as the pipeline does after sampling. */
  async decodeLatents(latents: Float32Array, n: number, size: ImageSize = this.native.size): Promise<Float32Array> {
    return this.toImages(latents, n, await this.sizeEntry(size));
  }

  /** What the request says that the model cannot read (each word once). */
  unknownWords(request: Pick<GenerationRequest, 'prompt' | 'negativePrompt'>): string[] {
    const { tokenizer } = this.parts.model;
    return [...new Set([...tokenizer.unknownWords(request.prompt), ...tokenizer.unknownWords(request.negativePrompt ?? '')])];
  }

  /** LoRA feeds per timestep: rows whose adapters have a timestep window drop them at noise levels above it. */
  private adaptersPerStep(modules: string[], perRow: AdapterUse[][], duplicateForGuidance: boolean, trainTimesteps: number): (t: number) => LoraFeeds | null {
    const windowed = perRow.some((uses) => uses.some((u) => (u.timestepWindow ?? 1) < 1));
    if (!windowed) {
      const lora = this.packAdapters(modules, perRow, duplicateForGuidance);
      return () => lora;
    }
    return activeAdaptersByTimestep(perRow, trainTimesteps, (active) => this.packAdapters(modules, active, duplicateForGuidance));
  }

  private packAdapters(modules: string[], perRow: AdapterUse[][], duplicateForGuidance: boolean): LoraFeeds | null {
    if (modules.length === 0) {
      if (perRow.some((a) => a.length > 0)) throw new Error('this pipeline was built without LoRA inputs');
      return null;
    }
    const rowsForBatch = duplicateForGuidance ? [...perRow, ...perRow] : perRow;
    return packLoraBatch(modules, this.moduleShapes, rowsForBatch).feeds;
  }

  async release(): Promise<void> {
    for (const entry of this.sizes.values()) await releaseEntry(entry);
    this.sizes.clear();
    await this.parts.textEncoder.release();
  }
}

const sizeKey = (size: ImageSize) => `${size.width}x${size.height}`;

async function releaseEntry(entry: SizeEntry): Promise<void> {
  for (const t of entry.tiers) if (t.denoiser) await (await t.denoiser).release();
  if (entry.vae) await (await entry.vae).release();
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export function validateRequest(r: GenerationRequest): void {
  if (!Number.isInteger(r.steps) || r.steps < 1 || r.steps > 1000) throw new Error('steps must be an integer in [1, 1000]');
  if (!Number.isInteger(r.numImages) || r.numImages < 1) throw new Error('numImages must be a positive integer');
  if (!Number.isFinite(r.guidanceScale) || r.guidanceScale < 0) throw new Error('guidanceScale must be a finite number ≥ 0');
  if (!Number.isInteger(r.seed) || r.seed < 0) throw new Error('seed must be a non-negative integer');
}
