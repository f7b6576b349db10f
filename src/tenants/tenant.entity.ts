import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { ID_COLUMN, NAME_COLUMN } from '../database/column-types';

@Entity('tenants')
export class TenantEntity {
  @PrimaryColumn(ID_COLUMN)
  id: string;

  @Column(NAME_COLUMN)
  name: string;

  /** Signs the tenant's webhooks (HMAC-SHA256); readable by the tenant, rotatable. */
  @Column({ type: 'varchar', length: 64, nullable: true })
  webhookSecret: string | null;

  @CreateDateColumn()
  createdAt: Date;
}
