import { Logger } from '@nestjs/common';
import { Job, Queue, Worker } from 'bullmq';
import { EventEmitter } from 'node:events';
import type { DataSource } from 'typeorm';
import { DatabaseFineTuneQueue } from './database-fine-tune-queue.driver';
import { ClaimedFineTune, FineTuneQueue, RecoveredLeases } from './fine-tune-queue.port';
import { createRedisConnection } from './redis-connection';

export const FINE_TUNE_QUEUE_NAME = 'fine-tunes';

interface Delivery {
  job: Job<{ jobId: string }>;
  token: string;
}

/**
 * Scale-out driver: BullMQ on Redis delivers job ids to any number of worker processes, holds a lock
 * per running job (extended with every heartbeat) and puts a job whose worker vanished back in the
 * waiting list (stalled-job recovery). The fine_tunes row stays the record: a delivery only becomes a
 * run when the row is claimed from `queued`, every write is fenced by the worker id as in the embedded
 * driver, and lease recovery on the row decides retries, cancellation and giving up.
 */
export class BullMqFineTuneQueue extends FineTuneQueue {
  private readonly logger = new Logger('BullMqFineTuneQueue');
  private readonly events = new EventEmitter();
  private readonly rows: DatabaseFineTuneQueue;
  private readonly queue: Queue<{ jobId: string }>;
  private worker?: Worker<{ jobId: string }>;
  private readonly deliveries = new Map<string, Delivery>();
  private lastResync = 0;

  constructor(
    dataSource: DataSource,
    private readonly redisUrl: string,
    private readonly leaseMs: number,
  ) {
    super();
    this.rows = new DatabaseFineTuneQueue(dataSource);
    this.queue = new Queue(FINE_TUNE_QUEUE_NAME, { connection: createRedisConnection(redisUrl) });
  }

  async enqueue(jobId: string): Promise<void> {
    // The id doubles as BullMQ's job id, so adding a job Redis already holds is a no-op.
    await this.queue.add('fine-tune', { jobId }, { jobId, removeOnComplete: true, removeOnFail: true });
    this.events.emit('enqueued', jobId);
  }

  async remove(jobId: string): Promise<void> {
    // A waiting job can go; one being taken right now is dropped by its claim (the row is no longer queued).
    await this.queue.remove(jobId).catch(() => 0);
  }

  async claim(workerId: string, leaseMs: number): Promise<ClaimedFineTune | null> {
    const worker = await this.ensureWorker();
    await this.resync();
    for (;;) {
      const job = await worker.getNextJob(workerId, { block: false });
      if (!job) return null;
      const claimed = await this.rows.claimJob(job.data.jobId, workerId, leaseMs);
      if (claimed) {
        this.deliveries.set(claimed.id, { job, token: workerId });
        return claimed;
      }
      // Canceled, finished, or still held by a worker whose lease has not run out: not a run.
      await job.moveToCompleted('skipped', workerId, false).catch(() => undefined);
    }
  }

  async renew(jobId: string, workerId: string, leaseMs: number): Promise<boolean> {
    const held = await this.rows.renew(jobId, workerId, leaseMs);
    const delivery = this.deliveries.get(jobId);
    if (held && delivery) await delivery.job.extendLock(delivery.token, leaseMs).catch((error) => this.logger.warn(`extending the lock of ${jobId} failed: ${error}`));
    return held;
  }

  async requeue(jobId: string, workerId: string): Promise<boolean> {
    const requeued = await this.rows.requeue(jobId, workerId);
    const delivery = this.deliveries.get(jobId);
    this.deliveries.delete(jobId);
    // Back to waiting at once, so the next worker need not wait for the lock to expire.
    if (delivery) await delivery.job.moveToWait(delivery.token).catch(() => undefined);
    if (requeued && !delivery) await this.enqueue(jobId);
    return requeued;
  }

  async complete(jobId: string): Promise<void> {
    const delivery = this.deliveries.get(jobId);
    this.deliveries.delete(jobId);
    if (delivery) await delivery.job.moveToCompleted('done', delivery.token, false).catch(() => undefined);
  }

  async recoverExpired(maxAttempts: number): Promise<RecoveredLeases> {
    const recovered = await this.rows.recoverExpired(maxAttempts);
    // Usually BullMQ's stalled check re-delivers these too; adding them is a no-op while Redis holds them.
    for (const id of recovered.requeued) await this.enqueue(id);
    return recovered;
  }

  async releaseWorker(workerId: string): Promise<string[]> {
    const ids = await this.rows.releaseWorker(workerId);
    for (const id of ids) await this.enqueue(id).catch(() => undefined);
    return ids;
  }

  onEnqueued(listener: (jobId: string) => void): () => void {
    this.events.on('enqueued', listener);
    return () => this.events.off('enqueued', listener);
  }

  /** Jobs waiting for a worker, as BullMQ counts them (metrics). */
  async waitingCount(): Promise<number> {
    return this.queue.getWaitingCount();
  }

  async close(): Promise<void> {
    await this.worker?.close(true).catch(() => undefined);
    await this.queue.close().catch(() => undefined);
  }

  /** Workers fetch jobs by hand (one at a time, between database claims); the stalled checker still runs. */
  private async ensureWorker(): Promise<Worker<{ jobId: string }>> {
    if (this.worker) return this.worker;
    const worker = new Worker<{ jobId: string }>(FINE_TUNE_QUEUE_NAME, null, {
      connection: createRedisConnection(this.redisUrl),
      autorun: false,
      lockDuration: this.leaseMs,
      // Checked often enough that a dead worker's job moves on within about two leases.
      stalledInterval: Math.max(1_000, Math.floor(this.leaseMs / 2)),
      // The row's attempts decide when a job is given up; BullMQ must not fail it first.
      maxStalledCount: 1_000,
    });
    worker.on('error', (error) => this.logger.warn(`BullMQ worker: ${error.message}`));
    this.worker = worker;
    void worker.startStalledCheckTimer().catch((error) => this.logger.warn(`stalled-job checker: ${error}`));
    return worker;
  }

  /**
   * Redis is a delivery channel, not the record: a queued row without a BullMQ job (Redis flushed or
   * restarted without persistence, an enqueue lost with an API replica) is delivered again.
   */
  private async resync(): Promise<void> {
    if (Date.now() - this.lastResync < this.leaseMs) return;
    this.lastResync = Date.now();
    for (const id of await this.rows.queuedIds(100)) {
      if (!(await this.queue.getJob(id))) await this.enqueue(id);
    }
  }
}
