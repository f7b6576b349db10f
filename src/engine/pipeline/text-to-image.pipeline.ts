import { DiffusionModel, sampleShape, tokenizeCaptions } from '../models/diffusion-model';
import { pixelShuffle } from '../models/pixel-shuffle';
import { createScheduler, isStochasticScheduler, Random, type SchedulerName } from '../schedulers';
import { adaptableModules, loraModuleShapes, loraTargetModules } from '../models/lora-targets';
import type { ModuleShape } from '../lora/lora-adapter';
import { AdapterUse, packLoraBatch } from '../lora/lora-batch.packer';
import { Denoiser, TextEncoder, LoraFeeds } from './denoiser';
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
}

export interface GenerationResult {
  /** CHW RGB in [-1, 1], imageSize × imageSize, one per requested image. */
  images: Float32Array[];
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
   * Builds a denoiser with LoRA inputs for fewer modules. Every LoRA input costs time even when its
   * factors are zero (the full set about halves base-model throughput), so a batch runs on the
   * smallest of: no LoRA inputs, the attention projections, every module, that covers its adapters.
   */
  createDenoiser?: (loraModules: string[]) => Promise<Denoiser>;
}

interface DenoiserTier {
  modules: string[];
  covers: Set<string>;
  denoiser: Promise<Denoiser> | null;
}

/**
 * Text-to-image sampling over any denoiser/text-encoder pair. Requests in one call run as one batch
 * per (scheduler, steps) group: every image of every request is a row, each row with its own adapter
 * factors, guidance scale and seeded noise, so results do not depend on what else was batched.
 */
export class TextToImagePipeline {
  readonly moduleShapes: Map<string, ModuleShape>;

  private readonly tiers: DenoiserTier[];

  constructor(readonly parts: PipelineParts) {
    this.moduleShapes = loraModuleShapes(parts.model.unetParams, parts.loraModules);
    const full: DenoiserTier = { modules: parts.loraModules, covers: new Set(parts.loraModules), denoiser: Promise.resolve(parts.denoiser) };
    const attention = loraTargetModules(parts.model.unetConfig, 'attention').filter((m) => full.covers.has(m));
    const lighter = parts.createDenoiser ? [[], attention].filter((mods) => mods.length < parts.loraModules.length) : [];
    this.tiers = [...lighter.map((modules) => ({ modules, covers: new Set(modules), denoiser: null })), full];
  }

  /** The smallest denoiser whose LoRA inputs cover every adapter of the batch. */
  private tierFor(perRow: AdapterUse[][]): DenoiserTier {
    const used = new Set<string>();
    for (const row of perRow) for (const use of row) for (const m of use.adapter.layers.keys()) used.add(m);
    const tier = this.tiers.find((t) => [...used].every((m) => t.covers.has(m))) ?? this.tiers[this.tiers.length - 1];
    tier.denoiser ??= this.parts.createDenoiser!(tier.modules);
    return tier;
  }

  get imageSize(): number {
    return this.parts.model.sampleSpace.imageSize;
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
      const key = `${r.scheduler}:${r.steps}`;
      groups.set(key, [...(groups.get(key) ?? []), i]);
    });
    for (const indices of groups.values()) {
      const out = await this.generateGroup(indices.map((i) => requests[i]));
      indices.forEach((i, k) => (results[i] = out[k]));
    }
    return results;
  }

  /** Prompt embeddings for a list of texts: [N, L, D] and masks [N, L]. */
  async encodePrompts(texts: string[]): Promise<{ hidden: Float32Array; mask: Float32Array }> {
    const { model } = this.parts;
    const { inputIds, attentionMask: mask } = tokenizeCaptions(model, texts);
    const hidden = await this.parts.textEncoder.encode(inputIds, mask, texts.length);
    return { hidden, mask };
  }

  private async generateGroup(requests: GenerationRequest[]): Promise<GenerationResult[]> {
    const { model } = this.parts;
    const [c, h, w] = sampleShape(model);
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
    const tier = this.tierFor(perRow);
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

    const patch = model.sampleSpace.patchSize;
    const pixels = pixelShuffle(x, n, c, h, w, patch);
    const imgLen = pixels.length / n;
    const results: GenerationResult[] = requests.map((req) => ({ images: [], seed: req.seed, unknownWords: this.unknownWords(req) }));
    rows.forEach((r, i) => {
      const img = pixels.slice(i * imgLen, (i + 1) * imgLen);
      for (let j = 0; j < img.length; j++) img[j] = Math.max(-1, Math.min(1, img[j]));
      results[r.reqIndex].images.push(img);
    });
    return results;
  }

  /** What the request says that the model cannot read (each word once). */
  unknownWords(request: Pick<GenerationRequest, 'prompt' | 'negativePrompt'>): string[] {
    const { tokenizer } = this.parts.model;
    return [...new Set([...tokenizer.unknownWords(request.prompt), ...tokenizer.unknownWords(request.negativePrompt ?? '')])];
  }

  /**
   * LoRA feeds per timestep: rows whose adapters have a timestep window drop them at noise levels
   * above it. Feeds are packed once per distinct set of active adapters.
   */
  private adaptersPerStep(modules: string[], perRow: AdapterUse[][], duplicateForGuidance: boolean, trainTimesteps: number): (t: number) => LoraFeeds | null {
    const windowed = perRow.some((uses) => uses.some((u) => (u.timestepWindow ?? 1) < 1));
    if (!windowed) {
      const lora = this.packAdapters(modules, perRow, duplicateForGuidance);
      return () => lora;
    }
    const packed = new Map<string, LoraFeeds | null>();
    return (t) => {
      const active = perRow.map((uses) => uses.filter((u) => t < (u.timestepWindow ?? 1) * trainTimesteps));
      const key = active.map((uses) => uses.length).join(',');
      if (!packed.has(key)) packed.set(key, this.packAdapters(modules, active, duplicateForGuidance));
      return packed.get(key)!;
    };
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
    for (const t of this.tiers.slice(0, -1)) if (t.denoiser) await (await t.denoiser).release();
    await this.parts.denoiser.release();
    await this.parts.textEncoder.release();
  }
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
