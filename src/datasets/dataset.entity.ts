import { Column, Entity, UpdateDateColumn } from 'typeorm';
import { NAME_COLUMN } from '../database/column-types';
import { TenantOwnedEntity } from '../tenants/tenant-owned.entity';

/** A tenant's set of demonstration images (a mood board) that fine-tunes learn from. */
@Entity('datasets')
export class DatasetEntity extends TenantOwnedEntity {
  @Column(NAME_COLUMN)
  name: string;

  /** Files refused over the dataset's lifetime; reported in the training dry run. */
  @Column({ type: 'integer', default: 0 })
  rejectedCount: number;

  @UpdateDateColumn()
  updatedAt: Date;
}
