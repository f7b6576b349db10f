import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { ID_COLUMN, NAME_COLUMN } from '../database/column-types';
import { TenantEntity } from '../tenants/tenant.entity';

/** A tenant's set of demonstration images (a mood board) that fine-tunes learn from. */
@Entity('datasets')
export class DatasetEntity {
  @PrimaryColumn(ID_COLUMN)
  id: string;

  @Index()
  @Column(ID_COLUMN)
  tenantId: string;

  @ManyToOne(() => TenantEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'tenant_id' })
  tenant?: TenantEntity;

  @Column(NAME_COLUMN)
  name: string;

  /** Files refused over the dataset's lifetime; reported in the training dry run. */
  @Column({ type: 'integer', default: 0 })
  rejectedCount: number;

  @CreateDateColumn()
  createdAt: Date;

  @UpdateDateColumn()
  updatedAt: Date;
}
