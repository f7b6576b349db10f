import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { In, Repository } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { FineTuneEntity, FineTunePreviewInfo, FineTuneStatus } from './fine-tune.entity';

/** A job in these states still needs its dataset and holds a slot of the tenant's concurrency quota. */
const ACTIVE_STATUSES: FineTuneStatus[] = ['queued', 'running'];

export type NewFineTune = Pick<
  FineTuneEntity,
  'id' | 'tenantId' | 'datasetId' | 'baseModel' | 'method' | 'hyperparameters' | 'totalSteps' | 'webhookUrl' | 'initAdapterId' | 'stylePhrase'
>;

/**
 * Fine-tune rows. API methods take the tenant id (another tenant's job does not exist); worker methods
 * take the worker id and only touch a row that worker still holds, so a worker that lost its lease
 * can never overwrite the job's new owner.
 */
@Injectable()
export class FineTunesRepository {
  constructor(@InjectRepository(FineTuneEntity) private readonly fineTunes: Repository<FineTuneEntity>) {}

  createQueued(job: NewFineTune): Promise<FineTuneEntity> {
    const now = new Date();
    return this.fineTunes.save(
      this.fineTunes.create({ ...job, status: 'queued', step: 0, metrics: null, preview: null, error: null, cancelRequested: false, adapterId: null, workerId: null, leaseUntil: null, attempts: 0, createdAt: now, updatedAt: now, startedAt: null, finishedAt: null }),
    );
  }

  findForTenant(tenantId: string, id: string): Promise<FineTuneEntity | null> {
    return this.fineTunes.findOne({ where: { tenantId, id } });
  }

  listForTenant(tenantId: string, limit: number): Promise<FineTuneEntity[]> {
    return this.fineTunes.find({ where: { tenantId }, order: { createdAt: 'DESC', id: 'ASC' }, take: limit });
  }

  /** Cancels a job no worker has taken yet; false when it is no longer queued. */
  async cancelQueued(tenantId: string, id: string): Promise<boolean> {
    const now = new Date();
    const result = await this.fineTunes.update({ tenantId, id, status: 'queued' }, { status: 'canceled', cancelRequested: true, finishedAt: now, updatedAt: now });
    return (result.affected ?? 0) > 0;
  }

  /** Asks the worker running the job to stop at its next step; false when it is not running. */
  async requestCancel(tenantId: string, id: string): Promise<boolean> {
    const result = await this.fineTunes.update({ tenantId, id, status: 'running' }, { cancelRequested: true, updatedAt: new Date() });
    return (result.affected ?? 0) > 0;
  }

  /** Jobs of all tenants by status (operator metrics). */
  async countAllByStatus(): Promise<Record<string, number>> {
    const rows: { status: string; count: string | number }[] = await this.fineTunes
      .createQueryBuilder('job')
      .select('job.status', 'status')
      .addSelect('COUNT(*)', 'count')
      .groupBy('job.status')
      .getRawMany();
    return Object.fromEntries(rows.map((r) => [r.status, Number(r.count)]));
  }

  /** Fine-tunes of a tenant that are queued or running (the concurrency quota); with a dataset, those still reading its images. */
  countActive(tenantId: string, datasetId?: string): Promise<number> {
    return this.fineTunes.count({ where: { tenantId, ...(datasetId ? { datasetId } : {}), status: In(ACTIVE_STATUSES) } });
  }

  // ---- worker side, fenced by the worker id ---------------------------------------------------

  /** The row as it is now, whoever holds it (webhook payloads after a state change). */
  findById(id: string): Promise<FineTuneEntity | null> {
    return this.fineTunes.findOne({ where: { id } });
  }

  findHeld(id: string, workerId: string): Promise<FineTuneEntity | null> {
    return this.fineTunes.findOne({ where: { id, workerId, status: 'running' } });
  }

  /** Whether the worker still holds the job, and whether the tenant asked to cancel it. */
  async readControl(id: string, workerId: string): Promise<{ held: boolean; cancelRequested: boolean }> {
    const row = await this.fineTunes.findOne({ select: { id: true, cancelRequested: true }, where: { id, workerId, status: 'running' } });
    return { held: row !== null, cancelRequested: row?.cancelRequested ?? false };
  }

  async recordProgress(id: string, workerId: string, step: number, totalSteps: number, metrics: Record<string, unknown>): Promise<boolean> {
    return this.updateHeld(id, workerId, { step, totalSteps, metrics: metrics as QueryDeepPartialEntity<Record<string, unknown>> });
  }

  markSucceeded(id: string, workerId: string, adapterId: string, step: number, metrics: Record<string, unknown>, preview: FineTunePreviewInfo | null): Promise<boolean> {
    return this.updateHeld(id, workerId, { status: 'succeeded', adapterId, step, metrics: metrics as QueryDeepPartialEntity<Record<string, unknown>>, preview: preview as QueryDeepPartialEntity<FineTunePreviewInfo> | null, error: null, finishedAt: new Date(), workerId: null, leaseUntil: null });
  }

  markCanceled(id: string, workerId: string, step: number): Promise<boolean> {
    return this.updateHeld(id, workerId, { status: 'canceled', step, finishedAt: new Date(), workerId: null, leaseUntil: null });
  }

  markFailed(id: string, workerId: string, error: string): Promise<boolean> {
    return this.updateHeld(id, workerId, { status: 'failed', error, finishedAt: new Date(), workerId: null, leaseUntil: null });
  }

  private async updateHeld(id: string, workerId: string, values: QueryDeepPartialEntity<FineTuneEntity>): Promise<boolean> {
    const result = await this.fineTunes.update({ id, workerId, status: 'running' }, { ...values, updatedAt: new Date() });
    return (result.affected ?? 0) > 0;
  }
}
