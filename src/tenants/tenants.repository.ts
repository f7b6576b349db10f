import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { ApiKeyEntity } from './api-key.entity';
import { TenantEntity } from './tenant.entity';

@Injectable()
export class TenantsRepository {
  constructor(@InjectRepository(TenantEntity) private readonly tenants: Repository<TenantEntity>) {}

  /**
   * Creates the tenant and its first key in one transaction: a tenant never exists without a key.
   * Plain inserts, for the reason given at GenerationsRepository.createWithImages.
   */
  async createWithKey(tenant: Pick<TenantEntity, 'id' | 'name' | 'webhookSecret'>, key: Pick<ApiKeyEntity, 'id' | 'prefix' | 'hash'>): Promise<TenantEntity> {
    return this.tenants.manager.transaction(async (manager) => {
      const saved = manager.create(TenantEntity, { ...tenant, createdAt: new Date() });
      await manager.insert(TenantEntity, saved);
      await manager.insert(ApiKeyEntity, manager.create(ApiKeyEntity, { ...key, tenantId: saved.id, revokedAt: null }));
      return saved;
    });
  }

  listAll(): Promise<TenantEntity[]> {
    return this.tenants.find({ order: { createdAt: 'ASC', id: 'ASC' } });
  }
}
