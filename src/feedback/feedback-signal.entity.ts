import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { ID_COLUMN, NULLABLE_TIME_COLUMN } from '../database/column-types';
import { GenerationEntity } from '../generations/generation.entity';

export type FeedbackSignalKind = 'selected' | 'downloaded' | 'liked' | 'discarded';

/** Implicit feedback on a generated image; kept images become demonstrations for the next round. */
@Entity('feedback_signals')
@Index(['tenantId', 'consumedAt'])
export class FeedbackSignalEntity {
  @PrimaryColumn(ID_COLUMN)
  id: string;

  @Column(ID_COLUMN)
  tenantId: string;

  @Index()
  @Column(ID_COLUMN)
  generationId: string;

  @ManyToOne(() => GenerationEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'generation_id' })
  generation?: GenerationEntity;

  @Column({ type: 'integer' })
  imageIndex: number;

  @Column({ type: 'varchar', length: 16 })
  signal: FeedbackSignalKind;

  @CreateDateColumn()
  createdAt: Date;

  /** Set when a training round has taken this signal into its dataset. */
  @Column(NULLABLE_TIME_COLUMN)
  consumedAt: Date | null;
}
