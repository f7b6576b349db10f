import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { generateApiKey } from '../auth/api-key';
import { generateWebhookSecret } from '../webhooks/webhook-signature';
import { CreatedTenantDto, TenantDto, TenantListDto } from './tenants.dto';
import { TenantEntity } from './tenant.entity';
import { TenantsRepository } from './tenants.repository';

function toDto(tenant: TenantEntity): TenantDto {
  return { id: tenant.id, name: tenant.name, createdAt: tenant.createdAt.toISOString() };
}

@Injectable()
export class TenantsService {
  constructor(private readonly tenants: TenantsRepository) {}

  async createTenant(name: string): Promise<CreatedTenantDto> {
    const key = generateApiKey();
    const webhookSecret = generateWebhookSecret();
    const tenant = await this.tenants.createWithKey({ id: randomUUID(), name, webhookSecret }, { id: randomUUID(), prefix: key.prefix, hash: key.hash });
    return { id: tenant.id, name: tenant.name, apiKey: key.key, webhookSecret };
  }

  async listTenants(): Promise<TenantListDto> {
    return { data: (await this.tenants.listAll()).map(toDto) };
  }
}
