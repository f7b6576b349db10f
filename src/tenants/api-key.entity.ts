import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { HASH_COLUMN, ID_COLUMN, NULLABLE_TIME_COLUMN } from '../database/column-types';
import { TenantEntity } from './tenant.entity';

/** A tenant's API key: only a SHA-256 hash is kept, found by its public prefix. */
@Entity('api_keys')
export class ApiKeyEntity {
  @PrimaryColumn(ID_COLUMN)
  id: string;

  @Index()
  @Column(ID_COLUMN)
  tenantId: string;

  @ManyToOne(() => TenantEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'tenant_id' })
  tenant?: TenantEntity;

  @Index({ unique: true })
  @Column({ type: 'varchar', length: 32 })
  prefix: string;

  @Column(HASH_COLUMN)
  hash: string;

  @CreateDateColumn()
  createdAt: Date;

  @Column(NULLABLE_TIME_COLUMN)
  revokedAt: Date | null;
}
