import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { AdapterEntity } from './adapter.entity';

/** Every method takes the tenant id: another tenant's adapter simply does not exist. */
@Injectable()
export class AdaptersRepository {
  constructor(@InjectRepository(AdapterEntity) private readonly adapters: Repository<AdapterEntity>) {}

  add(adapter: Omit<AdapterEntity, 'createdAt' | 'tenant'>): Promise<AdapterEntity> {
    return this.adapters.save(this.adapters.create({ ...adapter, createdAt: new Date() }));
  }

  /**
   * Registers the adapter a fine-tune produced, once: a job re-run after a crash finds its earlier
   * row (unique fine_tune_id) and refreshes it with the file it just rewrote instead of adding another.
   */
  async registerForFineTune(adapter: Omit<AdapterEntity, 'createdAt' | 'tenant'> & { fineTuneId: string }): Promise<AdapterEntity> {
    const { tenantId, fineTuneId } = adapter;
    const existing = await this.adapters.findOne({ where: { tenantId, fineTuneId } });
    if (existing) {
      // The row keeps its id (clients may already hold it); the file fields follow the rewritten file.
      const file = { name: adapter.name, baseModel: adapter.baseModel, format: adapter.format, rank: adapter.rank, alpha: adapter.alpha, tensorCount: adapter.tensorCount, bytes: adapter.bytes, sha256: adapter.sha256, storageKey: adapter.storageKey, metadata: adapter.metadata, stylePhrase: adapter.stylePhrase, recommendedScale: adapter.recommendedScale };
      await this.adapters.update({ id: existing.id }, file);
      return { ...existing, ...file };
    }
    try {
      return await this.add(adapter);
    } catch (error) {
      // Another run of the same job registered it between the lookup and the insert.
      const raced = await this.adapters.findOne({ where: { tenantId, fineTuneId } });
      if (raced) return raced;
      throw error;
    }
  }

  findForFineTune(tenantId: string, fineTuneId: string): Promise<AdapterEntity | null> {
    return this.adapters.findOne({ where: { tenantId, fineTuneId } });
  }

  findForTenant(tenantId: string, id: string): Promise<AdapterEntity | null> {
    return this.adapters.findOne({ where: { tenantId, id } });
  }

  listForTenant(tenantId: string): Promise<AdapterEntity[]> {
    return this.adapters.find({ where: { tenantId }, order: { createdAt: 'DESC', id: 'ASC' } });
  }

  async deleteForTenant(tenantId: string, id: string): Promise<boolean> {
    const result = await this.adapters.delete({ tenantId, id });
    return (result.affected ?? 0) > 0;
  }
}
