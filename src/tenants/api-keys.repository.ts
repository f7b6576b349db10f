import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { IsNull, Repository } from 'typeorm';
import { ApiKeyEntity } from './api-key.entity';

@Injectable()
export class ApiKeysRepository {
  constructor(@InjectRepository(ApiKeyEntity) private readonly keys: Repository<ApiKeyEntity>) {}

  /** The unrevoked key with this lookup prefix, with its tenant. */
  findActiveByPrefix(prefix: string): Promise<ApiKeyEntity | null> {
    return this.keys.findOne({ where: { prefix, revokedAt: IsNull() }, relations: { tenant: true } });
  }
}
