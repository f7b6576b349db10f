import { Column, Entity } from 'typeorm';
import { NAME_COLUMN, bigintAsNumber } from '../database/column-types';
import type { AdapterRef } from '../inference/inference.protocol';
import { TenantOwnedEntity } from '../tenants/tenant-owned.entity';

/** One text-to-image request and the parameters that reproduce it. */
@Entity('generations')
export class GenerationEntity extends TenantOwnedEntity {
  @Column({ type: 'text' })
  prompt: string;

  @Column({ type: 'text', nullable: true })
  negativePrompt: string | null;

  @Column(NAME_COLUMN)
  baseModel: string;

  @Column({ type: 'simple-json' })
  adapters: AdapterRef[];

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  seed: number;

  @Column({ type: 'integer' })
  steps: number;

  @Column({ type: 'real' })
  guidanceScale: number;

  @Column({ type: 'integer' })
  numImages: number;

  @Column({ type: 'varchar', length: 32 })
  scheduler: string;

  @Column({ type: 'integer' })
  width: number;

  @Column({ type: 'integer' })
  height: number;

  @Column({ type: 'integer', nullable: true })
  durationMs: number | null;

  /** Prompt words the base model read as unknown (null: stored before these were recorded). */
  @Column({ type: 'simple-json', nullable: true })
  unknownWords: string[] | null;
}
