import { BadRequestException, ConflictException, Injectable, NotFoundException, ServiceUnavailableException, StreamableFile } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AdaptersRepository } from '../adapters/adapters.repository';
import { DatasetsRepository } from '../datasets/datasets.repository';
import { MIN_IMAGES_FOR_FINE_TUNE } from '../datasets/training-image';
import { DEFAULT_FINE_TUNE_HYPERPARAMETERS, FineTuneHyperparameters, validateHyperparameters } from '../engine';
import { DEFAULT_LIST_LIMIT } from '../http/list-query.dto';
import { DEFAULT_BASE_MODEL, ModelsService } from '../models/models.service';
import { QuotasService } from '../limits/quotas.service';
import { FineTuneQueue } from '../queue/fine-tune-queue.port';
import { StoragePort } from '../storage/storage.port';
import { NotYoursException } from '../tenants/not-yours.exception';
import { WebhookOutboxService } from '../webhooks/webhook-outbox.service';
import { FineTuneEntity } from './fine-tune.entity';
import { CreateFineTuneDto, FineTuneDto, FineTuneListDto, FineTuneWebhookDeliveryListDto } from './fine-tunes.dto';
import { FineTunesRepository } from './fine-tunes.repository';
import { toFineTuneDto, toFineTuneWebhook } from './fine-tune.mapper';
import { defaultStylePhrase } from './style-phrase';

export { toFineTuneDto };

export const TERMINAL_STATUSES = new Set(['succeeded', 'failed', 'canceled']);

@Injectable()
export class FineTunesService {
  constructor(
    private readonly fineTunes: FineTunesRepository,
    private readonly datasets: DatasetsRepository,
    private readonly adapters: AdaptersRepository,
    private readonly models: ModelsService,
    private readonly queue: FineTuneQueue,
    private readonly quotas: QuotasService,
    private readonly webhooks: WebhookOutboxService,
    private readonly storage: StoragePort,
  ) {}

  /** Validates everything a worker would trip over later, then queues the job. */
  async createFineTune(tenantId: string, body: CreateFineTuneDto): Promise<FineTuneDto> {
    const dataset = await this.datasets.findForTenant(tenantId, body.datasetId);
    if (!dataset) throw new NotYoursException('datasetId', body.datasetId, 'dataset');
    const usable = await this.datasets.countImages(tenantId, dataset.id);
    if (usable < MIN_IMAGES_FOR_FINE_TUNE) {
      throw new BadRequestException(`datasetId: the dataset has ${usable} usable image(s); a fine-tune needs at least ${MIN_IMAGES_FOR_FINE_TUNE}`);
    }
    const baseModel = await this.requireBaseModel(body.baseModel);
    const hyperparameters = this.resolveHyperparameters(body);
    if (body.initAdapterId) {
      const adapter = await this.adapters.findForTenant(tenantId, body.initAdapterId);
      if (!adapter) throw new NotYoursException('initAdapterId', body.initAdapterId, 'adapter');
      if (adapter.baseModel && adapter.baseModel !== baseModel) {
        throw new BadRequestException(`initAdapterId: adapter ${adapter.id} was made for base model ${adapter.baseModel}, not ${baseModel}`);
      }
      // Training continues the adapter as it is: its rank and alpha are the job's.
      if (adapter.rank) hyperparameters.rank = adapter.rank;
      if (adapter.alpha) hyperparameters.alpha = adapter.alpha;
    }
    await this.quotas.assertFineTuneSlot(tenantId);
    const job = await this.fineTunes.createQueued({
      id: randomUUID(),
      tenantId,
      datasetId: dataset.id,
      baseModel,
      method: body.method,
      hyperparameters: { ...hyperparameters },
      totalSteps: hyperparameters.steps,
      webhookUrl: body.webhookUrl ?? null,
      initAdapterId: body.initAdapterId ?? null,
      stylePhrase: body.stylePhrase ?? defaultStylePhrase(dataset.name),
    });
    await this.queue.enqueue(job.id);
    return toFineTuneDto(job);
  }

  async listFineTunes(tenantId: string, limit = DEFAULT_LIST_LIMIT): Promise<FineTuneListDto> {
    return { data: (await this.fineTunes.listForTenant(tenantId, limit)).map(toFineTuneDto) };
  }

  async getFineTune(tenantId: string, id: string): Promise<FineTuneDto> {
    return toFineTuneDto(await this.requireFineTune(tenantId, id));
  }

  /** The preview grid PNG of a succeeded job; 404 until one is available. */
  async openPreview(tenantId: string, id: string): Promise<StreamableFile> {
    const job = await this.requireFineTune(tenantId, id);
    const key = job.preview?.status === 'available' ? job.preview.storageKey : null;
    if (!key) throw new NotFoundException(`Fine-tune ${id} has no preview${job.status === 'succeeded' ? '' : ' yet: it is ' + job.status}`);
    const { stream, bytes } = await this.storage.stream(key);
    return new StreamableFile(stream, { type: 'image/png', length: bytes, disposition: `inline; filename="fine-tune-${id}-preview.png"` });
  }

  /** Queued jobs end at once; running ones are flagged and their worker stops at the next step. */
  async cancelFineTune(tenantId: string, id: string): Promise<FineTuneDto> {
    const job = await this.requireFineTune(tenantId, id);
    if (job.status === 'queued' && (await this.fineTunes.cancelQueued(tenantId, id))) {
      await this.queue.remove(id);
      await this.webhooks.emit(toFineTuneWebhook(await this.requireFineTune(tenantId, id), 'fine_tune.canceled'));
    } else if (!(await this.fineTunes.requestCancel(tenantId, id))) {
      // Neither queued nor running any more (a worker may have just finished it).
      const current = await this.requireFineTune(tenantId, id);
      if (current.status === 'queued' && (await this.fineTunes.cancelQueued(tenantId, id))) {
        await this.queue.remove(id);
        await this.webhooks.emit(toFineTuneWebhook(await this.requireFineTune(tenantId, id), 'fine_tune.canceled'));
      } else if (TERMINAL_STATUSES.has(current.status)) {
        throw new ConflictException(`Fine-tune ${id} is already ${current.status}`);
      }
    }
    return toFineTuneDto(await this.requireFineTune(tenantId, id));
  }

  /** The outbox's log of the job's webhook events. */
  async listWebhookDeliveries(tenantId: string, id: string): Promise<FineTuneWebhookDeliveryListDto> {
    await this.requireFineTune(tenantId, id);
    return { data: await this.webhooks.listDeliveries(tenantId, id) };
  }

  async requireFineTune(tenantId: string, id: string): Promise<FineTuneEntity> {
    const job = await this.fineTunes.findForTenant(tenantId, id);
    if (!job) throw new NotFoundException(`Fine-tune ${id} not found`);
    return job;
  }

  private async requireBaseModel(requested: string | undefined): Promise<string> {
    const name = requested ?? DEFAULT_BASE_MODEL;
    if (await this.models.findModelDir(name)) return name;
    if (requested) throw new BadRequestException(`baseModel "${requested}" is not installed (see GET /v1/models)`);
    throw new ServiceUnavailableException(`The bundled base model ${DEFAULT_BASE_MODEL} is not installed on this server yet; name an installed baseModel`);
  }

  /** Defaults filled in, then the trainer's own rules; a violation names the hyperparameter. */
  private resolveHyperparameters(body: CreateFineTuneDto): FineTuneHyperparameters {
    const given = Object.fromEntries(Object.entries(body.hyperparameters ?? {}).filter(([, v]) => v !== undefined));
    const hyperparameters: FineTuneHyperparameters = { ...DEFAULT_FINE_TUNE_HYPERPARAMETERS, ...given };
    try {
      validateHyperparameters(hyperparameters);
    } catch (error) {
      if (error instanceof RangeError) throw new BadRequestException(`hyperparameters.${error.message}`);
      throw error;
    }
    return hyperparameters;
  }
}
