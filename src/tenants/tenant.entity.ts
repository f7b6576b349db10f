import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { ID_COLUMN, NAME_COLUMN } from '../database/column-types';

@Entity('tenants')
export class TenantEntity {
  @PrimaryColumn(ID_COLUMN)
  id: string;

  @Column(NAME_COLUMN)
  name: string;

  @CreateDateColumn()
  createdAt: Date;
}
