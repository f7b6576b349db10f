import { Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { ID_COLUMN, NULLABLE_TIME_COLUMN } from '../database/column-types';

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed';

/** The table of the resources events are about; named, not imported, so the outbox depends on no feature. */
const SUBJECT_TABLE = 'fine_tunes';

/**
 * One webhook event for one subject and its delivery state. Rows are the outbox: an event is
 * recorded in the database first and sent by whichever delivery loop claims it, so restarts lose
 * nothing. `eventKey` is unique per subject, so an event re-emitted (by a resumed job) is stored once.
 */
@Entity('webhook_deliveries')
@Index(['subjectId', 'eventKey'], { unique: true })
@Index(['status', 'nextAttemptAt'])
export class WebhookDeliveryEntity {
  @PrimaryColumn(ID_COLUMN)
  id: string;

  @Index()
  @Column(ID_COLUMN)
  tenantId: string;

  /** The resource the event is about (column `fine_tune_id`: fine-tunes are the subjects the schema knows). */
  @Column({ ...ID_COLUMN, name: 'fine_tune_id' })
  subjectId: string;

  /** The events go with their subject. */
  @ManyToOne(SUBJECT_TABLE, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'fine_tune_id' })
  subject?: unknown;

  @Column({ type: 'varchar', length: 32 })
  event: string;

  /** The event plus its milestone (`fine_tune.progress:50`). */
  @Column({ type: 'varchar', length: 64 })
  eventKey: string;

  @Column({ type: 'varchar', length: 2048 })
  url: string;

  /** The exact JSON body sent (and signed) on every attempt. */
  @Column({ type: 'text' })
  payload: string;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  status: WebhookDeliveryStatus;

  @Column({ type: 'integer', default: 0 })
  attempts: number;

  @Column({ type: Date })
  nextAttemptAt: Date;

  /** Held by a delivery loop until then (a loop that died mid-send releases it by expiry). */
  @Column(NULLABLE_TIME_COLUMN)
  lockedUntil: Date | null;

  @Column({ type: 'integer', nullable: true })
  lastStatusCode: number | null;

  @Column({ type: 'text', nullable: true })
  lastError: string | null;

  @CreateDateColumn()
  createdAt: Date;

  @Column(NULLABLE_TIME_COLUMN)
  deliveredAt: Date | null;
}
