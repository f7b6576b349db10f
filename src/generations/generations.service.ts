import { checkActivationBudget, checkImageSize, GENERATION_DEFAULTS, type ImageSize, ImageSizeError, imageSizeRules } from '../engine';
import { BadRequestException, Inject, Injectable, NotFoundException, ServiceUnavailableException, StreamableFile, UnprocessableEntityException } from '@nestjs/common';
import { randomInt, randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { AdapterEntity } from '../adapters/adapter.entity';
import { AdaptersRepository } from '../adapters/adapters.repository';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { DEFAULT_LIST_LIMIT } from '../http/list-query.dto';
import { AdapterMismatchError, ModelUnavailableError } from '../inference/inference.errors';
import type { GeneratedImages, InferenceRequest, ModelRef } from '../inference/inference.protocol';
import { InferenceService } from '../inference/inference.service';
import { DEFAULT_BASE_MODEL, ModelsService } from '../models/models.service';
import { QuotasService } from '../limits/quotas.service';
import { StoragePort } from '../storage/storage.port';
import { generationImageKey, generationPrefix } from '../storage/storage-keys';
import { CreateGenerationDto, GenerationAdapterDto, GenerationDto, GenerationListDto, MAX_SEED } from './generations.dto';
import { GenerationsRepository, GenerationWithImages } from './generations.repository';

function toDto(generation: GenerationWithImages, data?: Buffer[]): GenerationDto {
  return {
    id: generation.id,
    seed: generation.seed,
    model: generation.baseModel,
    prompt: generation.prompt,
    negativePrompt: generation.negativePrompt,
    adapters: generation.adapters,
    steps: generation.steps,
    guidanceScale: generation.guidanceScale,
    numImages: generation.numImages,
    scheduler: generation.scheduler,
    width: generation.width,
    height: generation.height,
    durationMs: generation.durationMs,
    unknownWords: generation.unknownWords ?? [],
    images: generation.images.map((image) => ({
      index: image.imageIndex,
      mimeType: image.mimeType,
      ...(data ? { data: data[image.imageIndex].toString('base64') } : {}),
      url: `/v1/generations/${generation.id}/images/${image.imageIndex}`,
      width: image.width,
      height: image.height,
      bytes: image.bytes,
    })),
    createdAt: generation.createdAt.toISOString(),
  };
}

@Injectable()
export class GenerationsService {
  constructor(
    private readonly generations: GenerationsRepository,
    private readonly adapters: AdaptersRepository,
    private readonly models: ModelsService,
    private readonly inference: InferenceService,
    private readonly storage: StoragePort,
    private readonly quotas: QuotasService,
    @Inject(APP_CONFIG) private readonly config: RuntimeConfig,
  ) {}

  async createGeneration(tenantId: string, body: CreateGenerationDto): Promise<GenerationDto> {
    const started = Date.now();
    const model = await this.requireModel(body.baseModel);
    const size = await this.resolveSize(model, body);
    await this.quotas.assertStorageRoom(tenantId, 0);
    const uses = body.adapters ?? [];
    const rows = await this.requireAdapters(tenantId, uses, model);
    const seed = body.seed ?? randomInt(0, MAX_SEED + 1);
    const request: InferenceRequest = {
      prompt: body.prompt,
      negativePrompt: body.negativePrompt,
      // Without a scale, each adapter runs at the strength it was made for (a DRO fine-tune's: 0.5).
      adapters: uses.map((use, i) => ({ id: use.id, scale: use.scale ?? rows[i].recommendedScale ?? GENERATION_DEFAULTS.scale })),
      seed,
      steps: body.steps ?? GENERATION_DEFAULTS.steps,
      guidanceScale: body.guidanceScale ?? GENERATION_DEFAULTS.guidanceScale,
      scheduler: body.scheduler ?? GENERATION_DEFAULTS.scheduler,
      numImages: body.numImages ?? GENERATION_DEFAULTS.numImages,
      ...size,
    };
    const result = await this.generateImages(model, request, rows);

    const id = randomUUID();
    const prefix = generationPrefix(tenantId, id);
    const pngs = result.images.map((image) => Buffer.from(image.buffer, image.byteOffset, image.byteLength));
    try {
      const images = [];
      for (const [index, png] of pngs.entries()) {
        const storageKey = generationImageKey(tenantId, id, index);
        await this.storage.put(storageKey, png);
        images.push({ id: randomUUID(), imageIndex: index, storageKey, mimeType: 'image/png', width: result.width, height: result.height, bytes: png.length });
      }
      const saved = await this.generations.createWithImages(
        {
          id,
          tenantId,
          prompt: request.prompt,
          negativePrompt: request.negativePrompt ?? null,
          baseModel: model.name,
          adapters: request.adapters,
          seed,
          steps: request.steps,
          guidanceScale: request.guidanceScale,
          numImages: request.numImages,
          scheduler: request.scheduler,
          width: result.width,
          height: result.height,
          durationMs: Date.now() - started,
          unknownWords: result.unknownWords,
        },
        images,
      );
      return toDto(saved, pngs);
    } catch (error) {
      // Nothing half-stored: the images go with the failed row.
      await this.storage.deletePrefix(prefix);
      throw error;
    }
  }

  async listGenerations(tenantId: string, limit = DEFAULT_LIST_LIMIT): Promise<GenerationListDto> {
    return { data: (await this.generations.listForTenant(tenantId, limit)).map((g) => toDto(g)) };
  }

  async getGeneration(tenantId: string, id: string): Promise<GenerationDto> {
    return toDto(await this.requireGeneration(tenantId, id));
  }

  async openGenerationImage(tenantId: string, id: string, index: number, upscale = 1): Promise<StreamableFile> {
    await this.requireGeneration(tenantId, id);
    const image = index >= 0 ? await this.generations.findImage(tenantId, id, index) : null;
    if (!image) throw new NotFoundException(`Image ${index} of generation ${id} not found`);
    let png = await this.storage.get(image.storageKey);
    if (upscale > 1) png = await sharp(png).resize(image.width * upscale, image.height * upscale, { kernel: 'nearest' }).png().toBuffer();
    return new StreamableFile(png, {
      type: 'image/png',
      length: png.length,
      disposition: `inline; filename="generation-${id}-${index}.png"`,
    });
  }

  async requireGeneration(tenantId: string, id: string): Promise<GenerationWithImages> {
    const generation = await this.generations.findForTenant(tenantId, id);
    if (!generation) throw new NotFoundException(`Generation ${id} not found`);
    return generation;
  }

  private async requireModel(requested: string | undefined): Promise<ModelRef> {
    const name = requested ?? DEFAULT_BASE_MODEL;
    const dir = await this.models.findModelDir(name);
    if (dir) return { name, dir };
    if (requested) throw new BadRequestException(`baseModel "${requested}" is not installed (see GET /v1/models)`);
    throw new ServiceUnavailableException(`The bundled base model ${DEFAULT_BASE_MODEL} is not installed on this server yet; name an installed baseModel`);
  }

  /**
   * The request's image size (the model's native one by default), checked before anything runs: both
   * sides multiples of the model's size multiple up to its maximum, and the estimated activations of
   * all its images within GENERATION_MEMORY_BUDGET_MB. A model whose configs cannot be read is left
   * to the engine (which then answers that it cannot load it).
   */
  private async resolveSize(model: ModelRef, body: CreateGenerationDto): Promise<Partial<ImageSize>> {
    const geometry = await this.models.findGeometry(model.name);
    if (!geometry) return { width: body.width, height: body.height };
    const { native } = imageSizeRules(geometry);
    const size = { width: body.width ?? native.width, height: body.height ?? native.height };
    const images = body.numImages ?? GENERATION_DEFAULTS.numImages;
    const guided = (body.guidanceScale ?? GENERATION_DEFAULTS.guidanceScale) !== 1;
    try {
      checkImageSize(geometry, size);
      checkActivationBudget(geometry, size, { images, guided, budgetBytes: this.config.generation.memoryBudgetBytes, budgetName: 'GENERATION_MEMORY_BUDGET_MB' });
    } catch (error) {
      if (error instanceof ImageSizeError) throw new BadRequestException(error.message);
      throw error;
    }
    return size;
  }

  /** The tenant's adapters in request order; each must be made for the generation's base model. */
  private async requireAdapters(tenantId: string, uses: GenerationAdapterDto[], model: ModelRef): Promise<AdapterEntity[]> {
    const rows: AdapterEntity[] = [];
    for (const [i, use] of uses.entries()) {
      const row = await this.adapters.findForTenant(tenantId, use.id);
      if (!row) throw new NotFoundException(`adapters.${i}.id: adapter ${use.id} not found`);
      // An adapter without a recorded base model is checked against the model's layers when it loads.
      if (row.baseModel !== null && row.baseModel !== model.name) {
        throw new UnprocessableEntityException(
          `adapters.${i}.id: adapter ${row.id} was trained for base model ${row.baseModel}, not ${model.name}; ` +
            `set baseModel to "${row.baseModel}" or use an adapter made for ${model.name}`,
        );
      }
      rows.push(row);
    }
    return rows;
  }

  private async generateImages(model: ModelRef, request: InferenceRequest, rows: AdapterEntity[]): Promise<GeneratedImages> {
    const readAdapter = (id: string) => this.storage.get(rows.find((row) => row.id === id)!.storageKey);
    try {
      return await this.inference.generate(model, request, readAdapter);
    } catch (error) {
      if (error instanceof AdapterMismatchError) {
        const i = request.adapters.findIndex((use) => use.id === error.adapterId);
        throw new UnprocessableEntityException(`adapters.${i}.id: adapter ${error.adapterId} does not fit base model ${model.name}: ${error.message}`);
      }
      if (error instanceof ModelUnavailableError) throw new ServiceUnavailableException(error.message);
      throw error;
    }
  }
}
