import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { HASH_COLUMN, ID_COLUMN, KEY_COLUMN } from '../database/column-types';
import { DatasetEntity } from './dataset.entity';

export type DatasetImageSource = 'upload' | 'feedback';

@Entity('dataset_images')
@Index(['datasetId', 'contentHash'], { unique: true })
@Index(['datasetId', 'position'])
export class DatasetImageEntity {
  @PrimaryColumn(ID_COLUMN)
  id: string;

  @Index()
  @Column(ID_COLUMN)
  tenantId: string;

  @Column(ID_COLUMN)
  datasetId: string;

  @ManyToOne(() => DatasetEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'dataset_id' })
  dataset?: DatasetEntity;

  /** Upload order within the dataset. */
  @Column({ type: 'integer' })
  position: number;

  @Column({ type: 'varchar', length: 255 })
  filename: string;

  @Column({ type: 'text', default: '' })
  caption: string;

  /** SHA-256 of the decoded pixels: the same picture re-uploaded is a duplicate whatever its metadata. */
  @Column(HASH_COLUMN)
  contentHash: string;

  @Column({ type: 'varchar', length: 32 })
  mimeType: string;

  @Column({ type: 'integer' })
  bytes: number;

  @Column({ type: 'integer' })
  width: number;

  @Column({ type: 'integer' })
  height: number;

  @Column(KEY_COLUMN)
  originalKey: string;

  /** The normalised RGB PNG at training resolution. */
  @Column(KEY_COLUMN)
  trainingKey: string;

  /** `feedback`: a generated image a user kept, added back as a demonstration. */
  @Column({ type: 'varchar', length: 16, default: 'upload' })
  source: DatasetImageSource;

  @CreateDateColumn()
  createdAt: Date;
}
