import { Inject, Injectable } from '@nestjs/common';
import { APP_CONFIG, RuntimeConfig } from '../config/config.module';
import { FineTunesRepository } from '../fine-tunes/fine-tunes.repository';
import { TenantUsageRepository } from './tenant-usage.repository';
import { TooManyRequestsException } from './too-many-requests.exception';

/** Waiting helps a concurrency quota soon; storage and dataset size only after the tenant deletes something. */
const RETRY_FINE_TUNE_S = 60;
const RETRY_AFTER_DELETE_S = 3600;

/**
 * Per-tenant quotas (0 = unlimited). A violation is a 429 naming the quota and its setting, with
 * Retry-After; checks run before work starts, so concurrent requests may overshoot by a little.
 */
@Injectable()
export class QuotasService {
  constructor(
    private readonly usage: TenantUsageRepository,
    private readonly fineTunes: FineTunesRepository,
    @Inject(APP_CONFIG) private readonly config: RuntimeConfig,
  ) {}

  async assertFineTuneSlot(tenantId: string): Promise<void> {
    const limit = this.config.tenantLimits.concurrentFineTunes;
    if (limit <= 0) return;
    const active = await this.fineTunes.countActive(tenantId);
    if (active >= limit) {
      throw new TooManyRequestsException(
        `Quota concurrentFineTunes exceeded: ${active} fine-tune(s) queued or running, the limit is ${limit} (QUOTA_CONCURRENT_FINE_TUNES)`,
        RETRY_FINE_TUNE_S,
      );
    }
  }

  async assertDatasetRoom(tenantId: string, datasetId: string, incoming: number): Promise<void> {
    const limit = this.config.tenantLimits.imagesPerDataset;
    if (limit <= 0) return;
    const current = await this.usage.imagesInDataset(tenantId, datasetId);
    if (current + incoming > limit) {
      throw new TooManyRequestsException(
        `Quota imagesPerDataset exceeded: the dataset has ${current} image(s) and this upload sends ${incoming}, the limit is ${limit} (QUOTA_IMAGES_PER_DATASET)`,
        RETRY_AFTER_DELETE_S,
      );
    }
  }

  async assertStorageRoom(tenantId: string, incomingBytes: number): Promise<void> {
    const limit = this.config.tenantLimits.storageBytes;
    if (limit <= 0) return;
    const used = await this.usage.storedBytes(tenantId);
    if (used + incomingBytes > limit) {
      throw new TooManyRequestsException(
        `Quota storageBytes exceeded: ${used} bytes stored and ${incomingBytes} more requested, the limit is ${limit} (QUOTA_STORAGE_MB)`,
        RETRY_AFTER_DELETE_S,
      );
    }
  }
}
