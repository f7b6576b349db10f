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
