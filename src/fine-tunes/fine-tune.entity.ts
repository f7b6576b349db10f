import { Column, Entity, Index, JoinColumn, ManyToOne, UpdateDateColumn } from 'typeorm';
import { AdapterEntity } from '../adapters/adapter.entity';
import { ID_COLUMN, NAME_COLUMN, NULLABLE_TIME_COLUMN } from '../database/column-types';
import { DatasetEntity } from '../datasets/dataset.entity';
import { TenantOwnedEntity } from '../tenants/tenant-owned.entity';
import { STYLE_PHRASE_MAX_LENGTH } from './style-phrase';

export type FineTuneMethod = 'dro' | 'sft';
export type FineTuneStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';

/** What the worker records about a succeeded job's validation preview (the PNG itself is in storage). */
export interface FineTunePreviewInfo {
  status: 'available' | 'unavailable';
  /** Storage key of the PNG grid (available only). */
  storageKey: string | null;
  prompts: string[];
  seeds: number[];
  scale: number;
  steps: number;
  guidanceScale: number;
  /** Share of images whose prompted concept is in the scorer's top 5, without and with the adapter. */
  conceptTop5: { base: number; adapter: number } | null;
  /** Reserved for a brand-fidelity score. */
  fidelity: number | null;
  error: string | null;
}

/** A training job: a dataset becomes a LoRA adapter (Diffusion-DRO or plain SFT). */
@Entity('fine_tunes')
@Index(['status', 'createdAt'])
export class FineTuneEntity extends TenantOwnedEntity {
  /** Kept when the dataset is deleted later, so the job's history survives. */
  @Column({ ...ID_COLUMN, nullable: true })
  datasetId: string | null;

  @ManyToOne(() => DatasetEntity, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'dataset_id' })
  dataset?: DatasetEntity;

  @Column(NAME_COLUMN)
  baseModel: string;

  @Column({ type: 'varchar', length: 8 })
  method: FineTuneMethod;

  @Column({ type: 'varchar', length: 16, default: 'queued' })
  status: FineTuneStatus;

  @Column({ type: 'integer', default: 0 })
  step: number;

  @Column({ type: 'integer', default: 0 })
  totalSteps: number;

  @Column({ type: 'simple-json' })
  hyperparameters: Record<string, unknown>;

  /** Trigger phrase appended to the training captions (null: a job from before style phrases). */
  @Column({ type: 'varchar', length: STYLE_PHRASE_MAX_LENGTH, nullable: true })
  stylePhrase: string | null;

  /** The validation preview, written with the job's success. */
  @Column({ type: 'simple-json', nullable: true })
  preview: FineTunePreviewInfo | null;

  /** Latest training metrics (loss, win rate, ...), written by the worker. */
  @Column({ type: 'simple-json', nullable: true })
  metrics: Record<string, unknown> | null;

  @Column({ type: 'text', nullable: true })
  error: string | null;

  @Column({ type: 'varchar', length: 2048, nullable: true })
  webhookUrl: string | null;

  @Column({ type: 'boolean', default: false })
  cancelRequested: boolean;

  @Column({ ...ID_COLUMN, nullable: true })
  adapterId: string | null;

  /** Online round: the adapter training continues from (no foreign key: deleting it fails the job, not the row). */
  @Column({ ...ID_COLUMN, nullable: true })
  initAdapterId: string | null;

  /** The worker holding the job while it runs; its lease must be renewed or the job goes back to the queue. */
  @Column({ type: 'varchar', length: 128, nullable: true })
  workerId: string | null;

  @Column(NULLABLE_TIME_COLUMN)
  leaseUntil: Date | null;

  /** Times a worker has claimed the job (a resumed job counts again). */
  @Column({ type: 'integer', default: 0 })
  attempts: number;

  @ManyToOne(() => AdapterEntity, { onDelete: 'SET NULL' })
  @JoinColumn({ name: 'adapter_id' })
  adapter?: AdapterEntity;

  @UpdateDateColumn()
  updatedAt: Date;

  @Column(NULLABLE_TIME_COLUMN)
  startedAt: Date | null;

  @Column(NULLABLE_TIME_COLUMN)
  finishedAt: Date | null;
}
