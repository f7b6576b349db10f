import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AdaptersRepository } from '../adapters/adapters.repository';
import { DatasetsRepository } from '../datasets/datasets.repository';
import { UploadResultDto } from '../datasets/datasets.dto';
import { DatasetsService, ImageCandidate } from '../datasets/datasets.service';
import { GenerationsRepository } from '../generations/generations.repository';
import { StoragePort } from '../storage/storage.port';
import { NotYoursException } from '../tenants/not-yours.exception';
import { FeedbackSignalEntity } from './feedback-signal.entity';
import { AddFromFeedbackDto, CreateFeedbackDto, FeedbackDto, FeedbackListDto, POSITIVE_SIGNALS } from './feedback.dto';
import { FeedbackRepository } from './feedback.repository';

function toDto(signal: FeedbackSignalEntity): FeedbackDto {
  return {
    id: signal.id,
    generationId: signal.generationId,
    imageIndex: signal.imageIndex,
    signal: signal.signal,
    createdAt: signal.createdAt.toISOString(),
    consumedAt: signal.consumedAt?.toISOString() ?? null,
  };
}

/** An image's feedback history reduced to: is it kept, and by which signals. */
interface KeptImage {
  generationId: string;
  imageIndex: number;
  keptAt: Date;
  signalIds: string[];
}

/**
 * The images a tenant kept: a positive signal (selected, downloaded, liked) not followed by a discard.
 * `since` looks only at positive signals from then on; a discard counts whenever it happened after.
 */
export function keptImages(signals: FeedbackSignalEntity[], since?: Date): KeptImage[] {
  const byImage = new Map<string, { positives: FeedbackSignalEntity[]; lastDiscard?: Date }>();
  for (const signal of signals) {
    const key = `${signal.generationId}/${signal.imageIndex}`;
    const entry = byImage.get(key) ?? { positives: [] };
    if (signal.signal === 'discarded') {
      if (!entry.lastDiscard || signal.createdAt > entry.lastDiscard) entry.lastDiscard = signal.createdAt;
    } else if (POSITIVE_SIGNALS.includes(signal.signal) && (!since || signal.createdAt >= since)) {
      entry.positives.push(signal);
    }
    byImage.set(key, entry);
  }
  const kept: KeptImage[] = [];
  for (const { positives, lastDiscard } of byImage.values()) {
    const live = positives.filter((p) => !lastDiscard || p.createdAt > lastDiscard);
    if (live.length === 0) continue;
    kept.push({
      generationId: live[0].generationId,
      imageIndex: live[0].imageIndex,
      keptAt: live[live.length - 1].createdAt,
      signalIds: live.map((p) => p.id),
    });
  }
  return kept.sort((a, b) => a.keptAt.getTime() - b.keptAt.getTime());
}

@Injectable()
export class FeedbackService {
  constructor(
    private readonly feedback: FeedbackRepository,
    private readonly generations: GenerationsRepository,
    private readonly datasets: DatasetsRepository,
    private readonly datasetsService: DatasetsService,
    private readonly adapters: AdaptersRepository,
    private readonly storage: StoragePort,
  ) {}

  async createFeedback(tenantId: string, generationId: string, body: CreateFeedbackDto): Promise<FeedbackDto> {
    const generation = await this.generations.findForTenant(tenantId, generationId);
    if (!generation) throw new NotFoundException(`Generation ${generationId} not found`);
    if (body.imageIndex >= generation.numImages) {
      throw new BadRequestException(`imageIndex must be less than ${generation.numImages}: the generation has ${generation.numImages} image(s)`);
    }
    const signal = await this.feedback.add({ id: randomUUID(), tenantId, generationId, imageIndex: body.imageIndex, signal: body.signal });
    return toDto(signal);
  }

  async listFeedback(tenantId: string, generationId: string): Promise<FeedbackListDto> {
    const generation = await this.generations.findForTenant(tenantId, generationId);
    if (!generation) throw new NotFoundException(`Generation ${generationId} not found`);
    return { data: (await this.feedback.listForGeneration(tenantId, generationId)).map(toDto) };
  }

  /** Kept images become the dataset's next demonstrations, captioned with their prompts. */
  async addImagesFromFeedback(tenantId: string, datasetId: string, body: AddFromFeedbackDto): Promise<UploadResultDto> {
    if (!(await this.datasets.findForTenant(tenantId, datasetId))) throw new NotFoundException(`Dataset ${datasetId} not found`);
    if (body.adapterId && !(await this.adapters.findForTenant(tenantId, body.adapterId))) throw new NotYoursException('adapterId', body.adapterId, 'adapter');
    const kept = keptImages(await this.feedback.listForTenant(tenantId), body.since ? new Date(body.since) : undefined);
    const generations = new Map(
      (await this.generations.findManyForTenant(tenantId, [...new Set(kept.map((k) => k.generationId))])).map((g) => [g.id, g]),
    );
    const selected = kept.filter((k) => {
      const generation = generations.get(k.generationId);
      return generation && (!body.adapterId || generation.adapters.some((a) => a.id === body.adapterId));
    });
    const candidates: ImageCandidate[] = [];
    const signalsByFile = new Map<string, string[]>();
    for (const k of selected) {
      const generation = generations.get(k.generationId)!;
      const image = generation.images.find((i) => i.imageIndex === k.imageIndex);
      if (!image) continue;
      const filename = `generation-${generation.id}-${k.imageIndex}.png`;
      signalsByFile.set(filename, k.signalIds);
      candidates.push({ filename, caption: generation.prompt, mimeType: image.mimeType, read: () => this.storage.get(image.storageKey) });
    }
    const result = await this.datasetsService.addFeedbackImages(tenantId, datasetId, candidates);
    await this.feedback.markConsumed(tenantId, result.added.flatMap((image) => signalsByFile.get(image.filename) ?? []));
    return result;
  }
}
