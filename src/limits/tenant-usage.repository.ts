import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AdapterEntity } from '../adapters/adapter.entity';
import { DatasetImageEntity } from '../datasets/dataset-image.entity';
import { GenerationImageEntity } from '../generations/generation-image.entity';

/** What a tenant holds, for quotas: reads across the tenant's tables, always scoped by the tenant. */
@Injectable()
export class TenantUsageRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Bytes of originals, adapters and generated images (training copies are small and derived). */
  async storedBytes(tenantId: string): Promise<number> {
    const sums = await Promise.all(
      [DatasetImageEntity, AdapterEntity, GenerationImageEntity].map((entity) =>
        this.dataSource
          .getRepository(entity)
          .createQueryBuilder('row')
          .select('COALESCE(SUM(row.bytes), 0)', 'bytes')
          .where('row.tenant_id = :tenantId', { tenantId })
          .getRawOne<{ bytes: string | number }>(),
      ),
    );
    return sums.reduce((total, row) => total + Number(row?.bytes ?? 0), 0);
  }

  imagesInDataset(tenantId: string, datasetId: string): Promise<number> {
    return this.dataSource.getRepository(DatasetImageEntity).count({ where: { tenantId, datasetId } });
  }
}
