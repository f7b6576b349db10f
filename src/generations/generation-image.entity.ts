import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { ID_COLUMN, KEY_COLUMN } from '../database/column-types';
import { GenerationEntity } from './generation.entity';

@Entity('generation_images')
@Index(['generationId', 'imageIndex'], { unique: true })
export class GenerationImageEntity {
  @PrimaryColumn(ID_COLUMN)
  id: string;

  @Index()
  @Column(ID_COLUMN)
  tenantId: string;

  @Column(ID_COLUMN)
  generationId: string;

  @ManyToOne(() => GenerationEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'generation_id' })
  generation?: GenerationEntity;

  /** Position in the generation's response (`index` in the API). */
  @Column({ type: 'integer' })
  imageIndex: number;

  @Column(KEY_COLUMN)
  storageKey: string;

  @Column({ type: 'varchar', length: 32 })
  mimeType: string;

  @Column({ type: 'integer' })
  width: number;

  @Column({ type: 'integer' })
  height: number;

  @Column({ type: 'integer' })
  bytes: number;

  @CreateDateColumn()
  createdAt: Date;
}
