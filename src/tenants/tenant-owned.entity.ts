import { CreateDateColumn, Index, JoinColumn, ManyToOne, PrimaryColumn, Column } from 'typeorm';
import { ID_COLUMN } from '../database/column-types';
import { TenantEntity } from './tenant.entity';

/**
 * The columns every tenant-owned table starts with: its id, the owning tenant (indexed, and the row
 * goes when the tenant does) and when it was created.
 */
export abstract class TenantOwnedEntity {
  @PrimaryColumn(ID_COLUMN)
  id: string;

  @Index()
  @Column(ID_COLUMN)
  tenantId: string;

  @ManyToOne(() => TenantEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'tenant_id' })
  tenant?: TenantEntity;

  @CreateDateColumn()
  createdAt: Date;
}
