import { EventEmitter } from 'node:events';
import { Brackets, DataSource, LessThan, Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { FineTuneEntity } from '../fine-tunes/fine-tune.entity';
import { ClaimedFineTune, FineTuneQueue, RecoveredLeases } from './fine-tune-queue.port';

function toClaim(row: FineTuneEntity | null): ClaimedFineTune | null {
  return row ? { id: row.id, tenantId: row.tenantId, attempt: row.attempts } : null;
}

/**
 * The embedded queue: the fine_tunes table itself, shared by every process on the same database.
 * A claim is one UPDATE of the oldest queued row guarded by `status = 'queued'`, so two workers never
 * take the same job (SQLite serialises writers; PostgreSQL re-checks the guard after a row lock).
 * A running row carries its worker's id and lease; every write a worker makes is fenced by both.
 */
export class DatabaseFineTuneQueue extends FineTuneQueue {
  private readonly events = new EventEmitter();
  private readonly rows: Repository<FineTuneEntity>;
  private readonly postgres: boolean;

  constructor(dataSource: DataSource) {
    super();
    this.rows = dataSource.getRepository(FineTuneEntity);
    this.postgres = dataSource.options.type === 'postgres';
  }

  async enqueue(jobId: string): Promise<void> {
    // The row is the queue entry; listeners only learn that there is work.
    this.events.emit('enqueued', jobId);
  }

  async remove(): Promise<void> {
    // A canceled queued row is no longer `queued`: nothing else to withdraw.
  }

  async claim(workerId: string, leaseMs: number): Promise<ClaimedFineTune | null> {
    const oldest = this.rows
      .createQueryBuilder('queued')
      .subQuery()
      .select('queued.id')
      .from(FineTuneEntity, 'queued')
      .where('queued.status = :queued')
      .orderBy('queued.created_at', 'ASC')
      .addOrderBy('queued.id', 'ASC')
      .limit(1);
    // PostgreSQL: concurrent claimers skip a row another one is taking instead of queueing behind its lock
    // (and then finding it no longer queued), so N workers take N different jobs in one round.
    if (this.postgres) oldest.setLock('pessimistic_write').setOnLocked('skip_locked');
    if (!(await this.takeLease(`id = ${oldest.getQuery()}`, {}, workerId, leaseMs))) return null;
    // A worker runs one job at a time, so its only running row is the one just claimed.
    return toClaim(await this.rows.findOne({ where: { workerId, status: 'running' }, order: { updatedAt: 'DESC' } }));
  }

  /** Claims one particular job if it is waiting (the BullMQ driver learns the id from Redis). */
  async claimJob(jobId: string, workerId: string, leaseMs: number): Promise<ClaimedFineTune | null> {
    if (!(await this.takeLease('id = :id', { id: jobId }, workerId, leaseMs))) return null;
    return toClaim(await this.rows.findOneBy({ id: jobId, workerId, status: 'running' }));
  }

  /**
   * The claim itself: one UPDATE that moves the queued row(s) `where` selects to running under this
   * worker's lease, guarded by `status = 'queued'`; true when a row was taken.
   */
  private async takeLease(where: string, parameters: Record<string, unknown>, workerId: string, leaseMs: number): Promise<boolean> {
    const now = new Date();
    const result = await this.rows
      .createQueryBuilder()
      .update(FineTuneEntity)
      .set({
        status: 'running',
        workerId,
        leaseUntil: new Date(now.getTime() + leaseMs),
        attempts: () => 'attempts + 1',
        startedAt: () => 'COALESCE(started_at, :now)',
        updatedAt: now,
      })
      .where(where, parameters)
      .andWhere('status = :queued')
      .setParameters({ queued: 'queued', now })
      .execute();
    return (result.affected ?? 0) > 0;
  }

  /** Ids of queued jobs, oldest first (the BullMQ driver re-delivers those Redis no longer holds). */
  async queuedIds(limit: number): Promise<string[]> {
    const rows = await this.rows.find({ select: { id: true }, where: { status: 'queued' }, order: { createdAt: 'ASC', id: 'ASC' }, take: limit });
    return rows.map((r) => r.id);
  }

  async complete(): Promise<void> {
    // The row's status already says the job is done.
  }

  async renew(jobId: string, workerId: string, leaseMs: number): Promise<boolean> {
    const result = await this.rows.update(
      { id: jobId, workerId, status: 'running' },
      { leaseUntil: new Date(Date.now() + leaseMs) },
    );
    return (result.affected ?? 0) > 0;
  }

  async requeue(jobId: string, workerId: string): Promise<boolean> {
    const result = await this.rows.update(
      { id: jobId, workerId, status: 'running' },
      { status: 'queued', workerId: null, leaseUntil: null },
    );
    return (result.affected ?? 0) > 0;
  }

  async recoverExpired(maxAttempts: number): Promise<RecoveredLeases> {
    const expired = await this.rows.find({
      select: { id: true, attempts: true, cancelRequested: true, workerId: true },
      where: { status: 'running', leaseUntil: LessThan(new Date()) },
    });
    return this.recover(expired, maxAttempts);
  }

  async releaseWorker(workerId: string): Promise<string[]> {
    const held = await this.rows.find({
      select: { id: true, attempts: true, cancelRequested: true, workerId: true },
      where: { status: 'running', workerId },
    });
    const recovered = await this.recover(held, Number.POSITIVE_INFINITY);
    return [...recovered.requeued, ...recovered.canceled, ...recovered.failed];
  }

  onEnqueued(listener: (jobId: string) => void): () => void {
    this.events.on('enqueued', listener);
    return () => this.events.off('enqueued', listener);
  }

  private async recover(rows: Pick<FineTuneEntity, 'id' | 'attempts' | 'cancelRequested' | 'workerId'>[], maxAttempts: number): Promise<RecoveredLeases> {
    const recovered: RecoveredLeases = { requeued: [], canceled: [], failed: [] };
    const now = new Date();
    for (const row of rows) {
      // Guarded by the worker seen here: a row renewed or taken over meanwhile is left alone.
      const guard = new Brackets((qb) => qb.where('id = :id', { id: row.id }).andWhere('worker_id = :workerId', { workerId: row.workerId }).andWhere("status = 'running'"));
      let outcome: keyof RecoveredLeases;
      let values: QueryDeepPartialEntity<FineTuneEntity>;
      if (row.cancelRequested) {
        outcome = 'canceled';
        values = { status: 'canceled', finishedAt: now };
      } else if (row.attempts >= maxAttempts) {
        outcome = 'failed';
        values = { status: 'failed', finishedAt: now, error: `the worker stopped responding ${row.attempts} times while running this job` };
      } else {
        outcome = 'requeued';
        values = { status: 'queued' };
      }
      const result = await this.rows
        .createQueryBuilder()
        .update(FineTuneEntity)
        .set({ ...values, workerId: null, leaseUntil: null, updatedAt: now })
        .where(guard)
        .execute();
      if (result.affected) recovered[outcome].push(row.id);
    }
    return recovered;
  }
}
