import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import { DatasetImageEntity } from './dataset-image.entity';
import { DatasetEntity } from './dataset.entity';

/** Every method takes the tenant id: a dataset of another tenant simply does not exist. */
@Injectable()
export class DatasetsRepository {
  constructor(
    @InjectRepository(DatasetEntity) private readonly datasets: Repository<DatasetEntity>,
    @InjectRepository(DatasetImageEntity) private readonly images: Repository<DatasetImageEntity>,
  ) {}

  createForTenant(tenantId: string, dataset: Pick<DatasetEntity, 'id' | 'name'>): Promise<DatasetEntity> {
    const now = new Date();
    return this.datasets.save(this.datasets.create({ ...dataset, tenantId, rejectedCount: 0, createdAt: now, updatedAt: now }));
  }

  findForTenant(tenantId: string, id: string): Promise<DatasetEntity | null> {
    return this.datasets.findOne({ where: { tenantId, id } });
  }

  listForTenant(tenantId: string): Promise<DatasetEntity[]> {
    return this.datasets.find({ where: { tenantId }, order: { createdAt: 'DESC', id: 'ASC' } });
  }

  /** Image counts per dataset of a tenant, in one query. */
  async countImagesByDataset(tenantId: string): Promise<Map<string, number>> {
    const rows = await this.images
      .createQueryBuilder('image')
      .select('image.datasetId', 'datasetId')
      .addSelect('COUNT(*)', 'count')
      .where('image.tenantId = :tenantId', { tenantId })
      .groupBy('image.datasetId')
      .getRawMany<{ datasetId: string; count: string | number }>();
    return new Map(rows.map((row) => [row.datasetId, Number(row.count)]));
  }

  countImages(tenantId: string, datasetId: string): Promise<number> {
    return this.images.count({ where: { tenantId, datasetId } });
  }

  listImages(tenantId: string, datasetId: string): Promise<DatasetImageEntity[]> {
    return this.images.find({ where: { tenantId, datasetId }, order: { position: 'ASC', createdAt: 'ASC' } });
  }

  /** Which of these content hashes the dataset already holds. */
  async findExistingHashes(tenantId: string, datasetId: string, hashes: string[]): Promise<Set<string>> {
    if (hashes.length === 0) return new Set();
    const found = new Set<string>();
    // Chunked to stay under SQLite's bound-parameter limit.
    for (let i = 0; i < hashes.length; i += 500) {
      const rows = await this.images.find({
        select: { contentHash: true },
        where: { tenantId, datasetId, contentHash: In(hashes.slice(i, i + 500)) },
      });
      for (const row of rows) found.add(row.contentHash);
    }
    return found;
  }

  async nextPosition(tenantId: string, datasetId: string): Promise<number> {
    const row = await this.images
      .createQueryBuilder('image')
      .select('MAX(image.position)', 'max')
      .where('image.tenantId = :tenantId AND image.datasetId = :datasetId', { tenantId, datasetId })
      .getRawOne<{ max: number | string | null }>();
    return row?.max === null || row?.max === undefined ? 0 : Number(row.max) + 1;
  }

  addImage(image: Omit<DatasetImageEntity, 'createdAt' | 'dataset'>): Promise<DatasetImageEntity> {
    return this.images.save(this.images.create({ ...image, createdAt: new Date() }));
  }

  async recordUpload(tenantId: string, datasetId: string, rejected: number): Promise<void> {
    await this.datasets
      .createQueryBuilder()
      .update(DatasetEntity)
      .set({ rejectedCount: () => `rejected_count + ${Math.max(0, Math.floor(rejected))}`, updatedAt: new Date() })
      .where('id = :datasetId AND tenant_id = :tenantId', { datasetId, tenantId })
      .execute();
  }

  /** Deletes the dataset and (by cascade) its image rows; true when something was deleted. */
  async deleteForTenant(tenantId: string, id: string): Promise<boolean> {
    const result = await this.datasets.delete({ tenantId, id });
    return (result.affected ?? 0) > 0;
  }
}
