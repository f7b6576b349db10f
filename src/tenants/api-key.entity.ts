import { Column, Entity, Index } from 'typeorm';
import { HASH_COLUMN, NULLABLE_TIME_COLUMN } from '../database/column-types';
import { TenantOwnedEntity } from './tenant-owned.entity';

/** A tenant's API key: only a SHA-256 hash is kept, found by its public prefix. */
@Entity('api_keys')
export class ApiKeyEntity extends TenantOwnedEntity {
  @Index({ unique: true })
  @Column({ type: 'varchar', length: 32 })
  prefix: string;

  @Column(HASH_COLUMN)
  hash: string;

  @Column(NULLABLE_TIME_COLUMN)
  revokedAt: Date | null;
}
